"""WoodFisher's block layout in obs-full (``blocks="parameter"``, ``max_block``) against a dense float64 oracle.

The oracle builds the empirical Fisher ``F = (1/N) sum_n g_n g_n^T + lambda I`` from per-sample gradients
(``torch.func``), keeps only its diagonal blocks (each parameter tensor cut into consecutive pieces of at most
``max_block`` entries, WoodFisher's ``--fittable-params`` layout), inverts each block with ``torch.linalg.inv`` and
computes OBS's saliency ``w^2 / (2 [F^-1]_qq)`` and WoodFisher's one-step update ``-F^-1 (w_Q / diag_Q)``. The
method builds the same blocks by Woodbury in float64: agreement to 1e-8 relative (the Woodbury form loses about
``eps * ||F|| / lambda`` ~ 1e-12 here).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import assert_close
from prunebench.methods import get


def _problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    g = torch.Generator().manual_seed(1)
    return model, torch.randn(30, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (30,), generator=g)


def _oracle(model, x, y, damping, max_block):
    params = {k: v.detach() for k, v in model.named_parameters()}

    def one(p, xi, yi):
        return nn.functional.cross_entropy(torch.func.functional_call(model, p, (xi[None],)), yi[None])

    grads = torch.func.vmap(torch.func.grad(one), in_dims=(None, 0, 0))(params, x, y)
    G = torch.cat([grads[k].reshape(x.shape[0], -1) for k in params], dim=1)
    F = G.T @ G / x.shape[0] + damping * torch.eye(G.shape[1], dtype=torch.float64)
    Finv = torch.zeros_like(F)
    start = 0
    for p in params.values():
        for a in range(start, start + p.numel(), max_block):
            b = min(a + max_block, start + p.numel())
            Finv[a:b, a:b] = torch.linalg.inv(F[a:b, a:b])
        start += p.numel()
    w = torch.cat([p.reshape(-1) for p in params.values()])
    return Finv, w


@pytest.mark.parametrize("max_block", [3, 7, 1000], ids=["max_block=3", "max_block=7", "whole"])
def test_parameter_blocks_with_max_block_match_the_dense_oracle(max_block):
    model, x, y = _problem()
    damping = 1e-3
    method = get("obs-full", hessian="fisher", damping=damping, samples=None, blocks="parameter",
                 procedure="one-step", max_block=max_block)
    Finv, w = _oracle(model, x, y, damping, max_block)
    d = Finv.diagonal()
    saliency = method.saliency(model, nn.CrossEntropyLoss(), x, y)
    got = torch.cat([saliency[k].reshape(-1) for k, _ in model.named_parameters()])
    assert_close(got, w**2 / (2 * d), rtol=1e-8, atol=0.0, name="saliency")
    g = torch.Generator().manual_seed(2)
    delete = {k: torch.rand(p.shape, generator=g) < 0.5 for k, p in model.named_parameters()}
    gone = torch.cat([delete[k].reshape(-1) for k, _ in model.named_parameters()])
    dw = -(Finv @ torch.where(gone, w / d, torch.zeros_like(w)))
    dw[gone] = -w[gone]
    update = method.update(model, nn.CrossEntropyLoss(), x, y, delete=delete)
    got_dw = torch.cat([update[k].reshape(-1) for k, _ in model.named_parameters()])
    assert_close(got_dw, dw, rtol=1e-8, atol=1e-12, name="one-step update")
    assert "max_block" in method.params and method.params["blocks"] == "parameter"


def test_max_block_validation():
    with pytest.raises(ValueError, match=r"max_block must be an integer >= 1 or None \(whole blocks\); got 0"):
        get("obs-full", max_block=0)
    assert "max_block" not in get("obs-full").params  # entries made before the option keep their parameters
