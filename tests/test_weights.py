"""prunebench.weights: weight-file formats, layer aliases and one-line loader errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cases import WEIGHTS_ARCH, aliased_weights, bad_weight_files, weight_arrays
from prunebench.models import build
from prunebench.weights import linear_aliases, load_weights, save_weights


@pytest.mark.parametrize("fmt", ["npz", "npz-aliases", "safetensors", "pt"])
def test_formats_load_the_same_weights(tmp_path, fmt):
    arrays = weight_arrays()
    path = tmp_path / f"w.{fmt.split('-')[0]}"
    if fmt == "npz":
        np.savez(path, **arrays)
    elif fmt == "npz-aliases":
        np.savez(path, **aliased_weights(arrays))
    elif fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file(arrays, str(path))
    else:
        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, path)
    model = build(WEIGHTS_ARCH)
    mapping = load_weights(model, path)
    for name, p in model.named_parameters():
        assert np.array_equal(p.detach().numpy(), arrays[name])
    assert set(mapping) == {"0.weight", "2.weight", "4.weight"}
    out = save_weights(model, tmp_path / "out.npz", mapping)
    with np.load(out) as saved:
        assert set(saved.files) == set(mapping.values())


def test_linear_aliases_name_layers_in_order():
    assert linear_aliases(build(WEIGHTS_ARCH)) == {"fc1.weight": "0.weight", "fc2.weight": "2.weight",
                                           "fc3.weight": "4.weight"}
    assert linear_aliases(build("lenet-digits")) == {}


def test_loader_errors_are_one_line(tmp_path):
    for label, (path, pattern) in bad_weight_files(tmp_path).items():
        with pytest.raises(ValueError, match=pattern) as info:
            load_weights(build(WEIGHTS_ARCH), path)
        assert "\n" not in str(info.value), label
    with pytest.raises(FileNotFoundError, match=r"weights file not found"):
        load_weights(build(WEIGHTS_ARCH), tmp_path / "missing.npz")
