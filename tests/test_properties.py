"""Property-based tests (hypothesis) for the validators, the sparsity-to-count rule, the loaders and the
record schema: whatever the input, the answer is a correct value or a clear error of the documented type."""

import gzip
import math
from fractions import Fraction

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datafiles import register, write
from prunebench import data, records
from prunebench.experiments.base import parse_seeds
from prunebench.prune import _deletion_count
from prunebench.train import TrainConfig

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=20, unique=True))
def test_seed_lists_round_trip(seeds):
    text = ",".join(map(str, seeds)) + ("," if len(seeds) == 1 else "")  # "7" is a count; one seed is "7,"
    assert parse_seeds(text, 5) == seeds


@FAST
@given(st.text(max_size=12))
def test_seed_parser_answers_or_refuses_clearly(text):
    try:
        seeds = parse_seeds(text, 5)
    except ValueError as exc:
        assert str(exc).startswith("--seeds must")
    else:
        assert seeds and all(s >= 0 for s in seeds) and len(set(seeds)) == len(seeds)


@FAST
@given(st.floats(0, 1, exclude_max=True), st.integers(0, 10**7))
def test_deletion_count_is_the_largest_count_not_above_the_sparsity(sparsity, total):
    k = _deletion_count(sparsity, total)
    exact = Fraction(repr(sparsity)) * total
    assert 0 <= k <= total
    assert k <= exact < k + 1


@FAST
@given(st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True), st.integers(0, 10**6))
def test_deletion_count_is_monotone_in_sparsity(a, b, total):
    lo, hi = sorted((a, b))
    assert _deletion_count(lo, total) <= _deletion_count(hi, total)


@FAST
@given(st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=3), st.none(), st.booleans()))
def test_deletion_count_refuses_anything_outside_0_1(value):
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
    if valid:
        assert _deletion_count(value, 10) in range(11)
    else:
        with pytest.raises(ValueError, match=r"sparsity must be a float in \[0, 1\); got"):
            _deletion_count(value, 10)


@FAST
@given(st.sampled_from(["lbfgs", "adam", "sgd", "rmsprop", ""]), st.integers(-3, 5),
       st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True),
       st.one_of(st.none(), st.integers(-2, 4)))
def test_train_config_accepts_or_explains(optimizer, epochs, lr, weight_decay, batch_size):
    try:
        cfg = TrainConfig(optimizer=optimizer, epochs=epochs, lr=lr, weight_decay=weight_decay,
                          batch_size=batch_size)
    except ValueError as exc:
        assert " must be " in str(exc) and "got" in str(exc)
    else:
        assert cfg.lr > 0 and cfg.weight_decay >= 0 and cfg.epochs >= 0 and math.isfinite(cfg.lr) or cfg.lr == math.inf


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=3), max_leaves=10)


@FAST
@given(st.dictionaries(st.sampled_from(["schema", "kind", "provenance", "config", "results", "x"]), JSON))
def test_record_validation_never_crashes(obj):
    try:
        records.validate_record(obj)
    except records.RecordError as exc:
        assert "does not follow prunebench.record/1" in str(exc)


@FAST
@given(st.dictionaries(st.text(min_size=1, max_size=5), JSON, max_size=4), st.lists(st.integers(0, 99), max_size=4))
def test_valid_records_round_trip(tmp_path_factory, results, seeds):
    prov = records.provenance(seeds=seeds, wall_time=0.0, command="prunebench test")
    if any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(results)):
        with pytest.raises(records.RecordError, match="NaN and infinity are not JSON"):
            records.make_record("prop", {"k": 1}, results, prov)
        return
    record = records.make_record("prop", {"k": 1}, results, prov)
    path = records.atomic_write_json(tmp_path_factory.mktemp("rec") / "r.json", record)
    assert records.read_record(path) == record


def _leaves(obj):
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, list):
        return [leaf for item in obj for leaf in _leaves(item)]
    return [obj]


@pytest.mark.parametrize("dataset,folder,names,wrap", [
    ("monks-1", "monks", ["monks-1.train", "monks-1.test"], lambda b: b),
    ("usps", "usps", ["zip.train.gz", "zip.test.gz"], lambda b: b),
    ("usps", "usps", ["zip.train.gz", "zip.test.gz"], gzip.compress),
    ("mnist", "mnist", ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"], gzip.compress),
])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=300))
def test_loaders_answer_random_bytes_with_a_dataset_error(monkeypatch, tmp_path_factory, dataset, folder, names,
                                                          wrap, payload):
    """Random bytes whose digest is registered (so the checksum passes) must still fail as a DatasetError."""
    root = tmp_path_factory.mktemp("root")
    files = {n: wrap(payload) for n in names}
    register(monkeypatch, dataset, files)
    write(root, folder, files)
    try:
        splits = data.load(dataset, root, download=False)
    except data.DatasetError:
        return
    assert isinstance(splits.train[0], torch.Tensor)  # a payload that happens to parse is a valid dataset


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 2946))
def test_truncated_real_monks_file_is_refused(tmp_path_factory, cut, data_root_or_skip):
    original = (data_root_or_skip / "monks" / "monks-1.train").read_bytes()
    root = tmp_path_factory.mktemp("trunc")
    write(root, "monks", {n: (data_root_or_skip / "monks" / n).read_bytes() for n in ("monks-1.test",)})
    write(root, "monks", {"monks-1.train": original[:cut]})
    with pytest.raises(data.DatasetError, match="sha256"):
        data.load("monks-1", root, download=False)


@pytest.fixture
def data_root_or_skip():
    from conftest import shared_data_root

    root = shared_data_root()
    if root is None or not (root / "monks").is_dir():
        pytest.skip("MONK's files not found: set PRUNEBENCH_DATA")
    return root
