"""prunebench.weights: weight-file formats, layer aliases and one-line loader errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from prunebench.models import build
from prunebench.weights import linear_aliases, load_weights, save_weights

ARCH = "mlp-784-40-20-10"


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    model = build(ARCH, seed=seed)
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _aliased(arrays):
    return {"fc1.weight": arrays["0.weight"], "fc2.weight": arrays["2.weight"], "fc3.weight": arrays["4.weight"]}


@pytest.mark.parametrize("fmt", ["npz", "npz-aliases", "safetensors", "pt"])
def test_formats_load_the_same_weights(tmp_path, fmt):
    arrays = _arrays()
    path = tmp_path / f"w.{fmt.split('-')[0]}"
    if fmt == "npz":
        np.savez(path, **arrays)
    elif fmt == "npz-aliases":
        np.savez(path, **_aliased(arrays))
    elif fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file(arrays, str(path))
    else:
        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, path)
    model = build(ARCH)
    mapping = load_weights(model, path)
    for name, p in model.named_parameters():
        assert np.array_equal(p.detach().numpy(), arrays[name])
    assert set(mapping) == {"0.weight", "2.weight", "4.weight"}
    out = save_weights(model, tmp_path / "out.npz", mapping)
    with np.load(out) as saved:
        assert set(saved.files) == set(mapping.values())


def test_linear_aliases_name_layers_in_order():
    assert linear_aliases(build(ARCH)) == {"fc1.weight": "0.weight", "fc2.weight": "2.weight",
                                           "fc3.weight": "4.weight"}
    assert linear_aliases(build("lenet-digits")) == {}


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


def test_loader_errors_are_one_line(tmp_path):
    for label, (path, pattern) in _bad_files(tmp_path).items():
        with pytest.raises(ValueError, match=pattern) as info:
            load_weights(build(ARCH), path)
        assert "\n" not in str(info.value), label
    with pytest.raises(FileNotFoundError, match=r"weights file not found"):
        load_weights(build(ARCH), tmp_path / "missing.npz")
