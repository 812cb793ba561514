"""``prunebench prune``: CLI checks and one-line errors with exit status 2, sample orders and parameters,
and the published-model task."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cases import aliased_weights, bad_weight_files, weight_arrays
from prunebench.cli import main
from prunebench.prune_weights import parse_params, sample_order


def test_cli_bad_inputs_exit_2_and_write_nothing(tmp_path, capsys, data_root):
    good = tmp_path / "good.npz"
    np.savez(good, **weight_arrays())
    cases = [(path, pattern, "0.95") for path, pattern in bad_weight_files(tmp_path).values()]
    cases += [(good, r"sparsity must be a float in \[0, 1\); got 1.0", "1.0"),
              (good, r"sparsity must be a float in \[0, 1\); got -0.5", "-0.5")]
    for path, pattern, sparsity in cases:
        out = tmp_path / "out"
        status = main(["prune", "--task", "mnist-woodfisher", "--weights", str(path), "--method", "magnitude",
                       "--sparsity", sparsity, "--out", str(out), "--root", str(data_root)])
        err = capsys.readouterr().err
        assert status == 2, path
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert __import__("re").search(pattern, err), (pattern, err)
        assert not out.exists()


def test_cli_json_and_out(tmp_path, capsys, data_root):
    good = tmp_path / "good.npz"
    np.savez(good, **aliased_weights(weight_arrays()))
    out = tmp_path / "out"
    status = main(["prune", "--task", "mnist-woodfisher", "--weights", str(good), "--method", "obd",
                   "--param", "curvature=fisher", "--sparsity", "0.9", "--ranking", "layer", "--samples", "50",
                   "--sample-order", "1", "--out", str(out), "--json", "--root", str(data_root)])
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("test_accuracy", "top5_accuracy", "sparsity", "method", "params", "seconds",
                "peak_memory_bytes", "weights_sha256", "ranking"):
        assert key in result
    assert result["ranking"] == "layer" and result["sparsity"] == pytest.approx(0.9, abs=1e-3)
    assert all(s == pytest.approx(0.9, abs=1e-3) for s in result["layer_sparsity"].values())
    record = json.loads((out / "record.json").read_text())
    assert record["kind"] == "prune" and record["config"]["weights_sha256"] == result["weights_sha256"]
    with np.load(out / "weights.npz") as saved:
        assert set(saved.files) == {"fc1.weight", "fc2.weight", "fc3.weight"}
        assert float((saved["fc1.weight"] == 0).mean()) == pytest.approx(0.9, abs=1e-3)
    status = main(["prune", "--task", "mnist-woodfisher", "--weights", str(good), "--method", "magnitude",
                   "--sparsity", "0.8", "--steps", "3", "--json", "--root", str(data_root)])
    steps = json.loads(capsys.readouterr().out)
    assert status == 0 and steps["steps"] == 3 and steps["sparsity"] == pytest.approx(0.8, abs=1e-4)


def test_sample_order_and_params(tmp_path):
    np.random.seed(1)
    expected = np.random.choice(100, 100, replace=False)
    assert np.array_equal(sample_order("1", 100), expected)
    np.save(tmp_path / "o.npy", expected[::-1].copy())
    assert np.array_equal(sample_order(str(tmp_path / "o.npy"), 100), expected[::-1])
    np.save(tmp_path / "dup.npy", np.array([1, 1, 2]))
    with pytest.raises(ValueError, match=r"distinct integer indices in \[0, 100\)"):
        sample_order(str(tmp_path / "dup.npy"), 100)
    with pytest.raises(ValueError, match=r"integer seed or a file"):
        sample_order("nowhere.npy", 100)
    assert parse_params(["damping=1e-5", "blocks=module", "samples=None", "pi=true"]) == {
        "damping": 1e-5, "blocks": "module", "samples": None, "pi": True}
    with pytest.raises(ValueError, match=r"--param must look like key=value"):
        parse_params(["damping"])


def test_published_model_task_is_the_checkpoint(data_root):
    from conftest import needs_dataset
    from prunebench import tasks

    needs_dataset(data_root, "woodfisher-mnist")
    task = tasks.get("woodfisher-published")
    model, data, info = task.trained(0, data_root)
    assert info["test_accuracy"] == pytest.approx(0.9397, abs=1e-12)
    assert info["weights_sha256"] == "3c3f060288a780db464337f14f67c918df58c7a9ff13b14d962881f526b80502"
    with pytest.raises(ValueError, match=r"one published model: seed must be 0; got 1"):
        task.trained(1, data_root)
