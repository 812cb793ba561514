"""The experiment harness: unit files, resume, configuration guard, the record; failures leave nothing behind."""

import argparse
import json

import pytest

from prunebench import experiments, records
from prunebench.experiments import base
from toy_experiment import Squares, toy_args


@pytest.fixture
def toy():
    Squares.calls = []
    return Squares()


def test_the_sweep_names_stay_importable_here():
    from prunebench import sweep

    assert base.parse_seeds is sweep.parse_seeds and base.units_provenance is sweep.units_provenance


def test_run_units_is_a_deprecated_alias_of_the_sweep(toy, tmp_path):
    config = {"seeds": [0, 1]}
    with pytest.warns(DeprecationWarning, match=r"base\.run_units is deprecated; use prunebench\.sweep\.run_units"):
        done = base.run_units(toy, config, toy.units(config), tmp_path, toy_args(tmp_path))
    assert {k: v["result"] for k, v in done.items()} == {"seed=0": {"value": 0}, "seed=1": {"value": 1}}


def test_units_are_written_and_skipped_on_rerun(toy, tmp_path):
    path = base.execute(toy, toy_args(tmp_path))
    record = records.read_record(path)
    assert record["results"]["per_seed"] == {"seed=0": 0, "seed=1": 1, "seed=2": 4}
    assert sorted(p.name for p in (tmp_path / "units").iterdir()) == ["seed=0.json", "seed=1.json", "seed=2.json"]
    assert Squares.calls == ["seed=0", "seed=1", "seed=2"]
    (tmp_path / "units" / "seed=1.json").unlink()  # as if the run had been killed before this unit finished
    again = records.read_record(base.execute(toy, toy_args(tmp_path)))
    assert Squares.calls[3:] == ["seed=1"]
    assert again["results"] == record["results"]


def test_a_different_configuration_is_refused(toy, tmp_path):
    base.execute(toy, toy_args(tmp_path))
    with pytest.raises(ValueError, match=r"different configuration \(differs in \['seeds'\]\).*another --out"):
        base.execute(toy, toy_args(tmp_path, seeds="5"))


def test_bad_jobs_is_refused(toy, tmp_path):
    with pytest.raises(ValueError, match="--jobs must be a positive integer; got 0"):
        base.execute(toy, toy_args(tmp_path, jobs=0))


def test_unknown_experiment_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"experiment must be one of \[.*'obs-xor'.*\] \(or 'all'\); got 'obs-foo'"):
        experiments.get("obs-foo")


def test_config_is_saved_as_json(toy, tmp_path):
    base.execute(toy, toy_args(tmp_path, seeds="0,2"))
    assert json.loads((tmp_path / "config.json").read_text())["seeds"] == [0, 2]


def test_a_run_whose_data_is_missing_fails_before_any_unit(tmp_path, monkeypatch):
    # obd-usps reads USPS from the data root: with an empty root it must stop at once with the data message,
    # leaving no config or units behind (nothing half-started to resume).
    from prunebench.data import DatasetError
    from prunebench.experiments import get

    # Only the empty root is searched (not $PRUNEBENCH_DATA, the checkout or the user cache), and offline.
    monkeypatch.setattr("prunebench.data.fetch.data_roots", lambda root=None: [tmp_path / "empty"])
    monkeypatch.setattr("prunebench.data.fetch._download", lambda spec, roots: (_ for _ in ()).throw(
        DatasetError(f"dataset {spec.name!r} not found (offline test)")))
    experiment = get("obd-usps")
    args = argparse.Namespace(seeds="1", quick=True, device="cpu", root=str(tmp_path / "empty"), jobs=1,
                              scheduler=None, no_progress=True, out=str(tmp_path / "out"))
    for action in experiment_parser_defaults(experiment):
        setattr(args, *action)
    with pytest.raises(DatasetError, match="usps"):
        base.execute(experiment, args)
    assert not (tmp_path / "out").exists()


def experiment_parser_defaults(experiment):
    """(dest, default) of the experiment's own options, as its parser would give them."""
    parser = argparse.ArgumentParser()
    experiment.add_arguments(parser)
    return [(a.dest, a.default) for a in parser._actions if a.dest != "help"]


class Fails(Squares):
    def run_unit(self, config, unit):
        raise RuntimeError("unit failed")


def test_a_run_that_fails_before_any_unit_leaves_nothing(tmp_path):
    out = tmp_path / "deep" / "out"
    with pytest.raises(RuntimeError, match="unit failed"):
        base.execute(Fails(), toy_args(out))
    assert not (tmp_path / "deep").exists()
