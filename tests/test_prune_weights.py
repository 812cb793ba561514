"""``prunebench prune``: CLI checks and one-line errors with exit status 2, sample orders and parameters,
and the published-model task."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from prunebench.cli import main
from prunebench.models import build
from prunebench.prune_weights import parse_params, sample_order

ARCH = "mlp-784-40-20-10"


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    model = build(ARCH, seed=seed)
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _aliased(arrays):
    return {"fc1.weight": arrays["0.weight"], "fc2.weight": arrays["2.weight"], "fc3.weight": arrays["4.weight"]}


def _bad_files(tmp_path) -> dict[str, tuple]:
    arrays = _arrays()
    files = {}
    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(pickle.dumps(arrays))
    files["pickle-suffix"] = (pkl, r"weights file must end in one of .*Pickles \(\.pkl, \.ckpt\) are not read")
    full = tmp_path / "full.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, full)
    files["full-pickle"] = (full, r"cannot be loaded with torch.load\(weights_only=True\).*never executed")
    disguised = tmp_path / "disguised.npz"
    disguised.write_bytes(pickle.dumps(arrays))
    files["pickle-as-npz"] = (disguised, r"disguised.npz")
    shapes = tmp_path / "shapes.npz"
    np.savez(shapes, **{**arrays, "2.weight": np.zeros((20, 41), np.float32)})
    files["wrong-shape"] = (shapes, r"'2.weight' must have shape \(20, 40\); got \(20, 41\)")
    keys = tmp_path / "keys.npz"
    np.savez(keys, **{**arrays, "6.weight": np.zeros((3, 3), np.float32)})
    files["unknown-key"] = (keys, r"unknown keys \['6.weight'\], missing keys \[\]")
    nan = {k: v.copy() for k, v in arrays.items()}
    nan["0.weight"][3, 5] = np.nan
    nan_path = tmp_path / "nan.npz"
    np.savez(nan_path, **nan)
    files["nan"] = (nan_path, r"'0.weight' must be finite; got 1 NaN or infinite entries")
    return files


def test_cli_bad_inputs_exit_2_and_write_nothing(tmp_path, capsys, data_root):
    good = tmp_path / "good.npz"
    np.savez(good, **_arrays())
    cases = [(path, pattern, "0.95") for path, pattern in _bad_files(tmp_path).values()]
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
    np.savez(good, **_aliased(_arrays()))
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
