"""prunebench.curvature.layout: the flat parameter layout."""

from __future__ import annotations

import pytest
import torch

from prunebench.curvature import (
    ParamLayout,
)
from prunebench.models import build

pytestmark = pytest.mark.usefixtures("one_thread")


def test_param_layout_round_trip_and_blocks():
    model = build("lenet-digits")
    layout = ParamLayout.from_model(model)
    assert layout.num_params == model.free_parameters() == 666
    tensors = {k: torch.randn(3, *p.shape) for k, p in model.named_parameters()}
    flat = layout.flatten(tensors)
    assert flat.shape == (3, 666)
    back = layout.unflatten(flat)
    assert all(torch.equal(back[k], tensors[k]) for k in tensors)
    assert layout.blocks == {"0": slice(0, 40), "3": slice(40, 336), "7": slice(336, 666)}
    assert layout.slice("3.bias") == slice(328, 336)
    with pytest.raises(KeyError, match="must be one of"):
        layout.slice("nope")
    with pytest.raises(ValueError, match="last dimension P=666"):
        layout.unflatten(torch.zeros(5))
    with pytest.raises(KeyError, match="missing"):
        layout.flatten({})
