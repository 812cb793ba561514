"""Ranking scope: ``global`` (one ranking over all prunable tensors) and ``layer`` (each tensor to the target)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from prunebench import prune
from prunebench.methods import get, model_mask

METHODS = [("magnitude", {}), ("random", {}), ("obd", {"curvature": "fisher"}),
           ("obs", {"hessian": "fisher", "damping": 1e-3}),
           ("obs-full", {"damping": 1e-3, "samples": None}),
           ("obs-full", {"damping": 1e-3, "samples": None, "group_size": 4}),
           ("obs-full", {"damping": 1e-3, "samples": None, "procedure": "one-step"}),
           ("obs-full", {"damping": 1e-3, "samples": None, "blocks": "module", "procedure": "one-step"}),
           ("kfac", {"damping": 1e-3})]


def _setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    g = torch.Generator().manual_seed(1)
    return model, torch.randn(40, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (40,), generator=g)


@pytest.mark.parametrize(("name", "params"), METHODS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(METHODS)])
def test_layer_ranking_prunes_every_tensor_to_the_target(name, params):
    model, x, y = _setup()
    prune.one_shot(model, get(name, **params), nn.CrossEntropyLoss(), x, y, 0.6, ranking="layer")
    for key, m in model_mask(model).items():
        assert int((~m).sum()) == int(0.6 * m.numel()), key


def test_layer_ranking_keeps_each_tensors_own_order():
    """Rank-once methods: layer ranking deletes the lowest saliencies of each tensor."""
    model, x, y = _setup()
    method = get("obd", curvature="fisher")
    s = method.saliency(model, nn.CrossEntropyLoss(), x, y)
    prune.one_shot(model, method, nn.CrossEntropyLoss(), x, y, 0.5, ranking="layer")
    for key, m in model_mask(model).items():
        k = int(0.5 * m.numel())
        lowest = torch.argsort(s[key.removesuffix("_orig")].reshape(-1), stable=True)[:k]
        assert set(torch.nonzero(~m.reshape(-1)).reshape(-1).tolist()) == set(lowest.tolist())


def test_global_and_layer_differ_and_global_is_one_ranking():
    model, x, y = _setup()
    layer = model_mask(model)
    prune.one_shot(model, get("magnitude"), nn.CrossEntropyLoss(), x, y, 0.6, ranking="global")
    glob = model_mask(model)
    weights = torch.cat([p.detach().abs().reshape(-1) for p in _setup()[0].parameters()])
    k = int(0.6 * weights.numel())
    assert sum(int((~m).sum()) for m in glob.values()) == k
    assert layer is not None


def test_ranking_validation_and_iterative_layer():
    model, x, y = _setup()
    with pytest.raises(ValueError, match=r"ranking must be one of \['global', 'layer'\]; got 'row'"):
        prune.one_shot(model, get("magnitude"), nn.CrossEntropyLoss(), x, y, 0.5, ranking="row")
    prune.iterative(model, get("obd", curvature="fisher"), nn.CrossEntropyLoss(), x, y, 0.6, rounds=3,
                    ranking="layer")
    for key, m in model_mask(model).items():
        assert int((~m).sum()) == int(0.6 * m.numel()), key
