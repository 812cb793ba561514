"""K-FAC OBS (prunebench.methods.martens2015kfac) against a dense float64 reference.

The reference builds the damped Kronecker-factored Fisher of every layer as an explicit dense matrix,
``blockdiag_l((G_l + sqrt(lambda) I) (x) (A_l + sqrt(lambda) I))``, inverts it with ``torch.linalg.inv``, and
computes OBS's saliency and WoodFisher's one-step update from that inverse; the method works with the factors'
inverses only. Both are float64, so they agree to roundoff (rtol 1e-9: the factors' condition numbers are
below 1e4 here). The factors themselves are checked against per-sample gradients from ``torch.func``: for one
sample, ``G (x) A`` is exactly the outer product of that sample's weight gradient."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from helpers import assert_close
from prunebench import prune
from prunebench.methods import KFACOBS, get
from prunebench.methods.martens2015kfac import kronecker_factors


def _net(bias: bool, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 4, bias=bias), nn.Tanh(), nn.Linear(4, 3, bias=bias)).double()


def _data(n: int = 12, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def _per_sample_grads(model, loss_fn, x, y):
    """Per-sample gradients of each sample's own loss, flattened per parameter, [n, size]."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def one(p, xi, yi):
        out = torch.func.functional_call(model, p, (xi[None],))
        return nn.functional.cross_entropy(out, yi[None])

    grads = torch.func.vmap(torch.func.grad(one), in_dims=(None, 0, 0))(params, x, y)
    return {k: g.reshape(x.shape[0], -1) for k, g in grads.items()}


def _dense_reference(model, loss_fn, x, y, damping):
    """Dense damped K-FAC inverse over all parameters, in [W | b] order per layer, and that order's keys."""
    factors = kronecker_factors(model, loss_fn, x, y)
    blocks, order = [], []
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    for name, module in linears:
        A, G = factors[f"{name}.weight"]
        root = math.sqrt(damping)
        F = torch.kron(G + root * torch.eye(G.shape[0], dtype=G.dtype), A + root * torch.eye(A.shape[0], dtype=A.dtype))
        blocks.append(F)
        order.append((name, module.bias is not None, module.weight.shape))
    return torch.linalg.inv(torch.block_diag(*blocks)), order


def _flat_wb(model):
    out = []
    for _, module in model.named_modules():
        if isinstance(module, nn.Linear):
            Wb = module.weight.detach()
            if module.bias is not None:
                Wb = torch.cat([Wb, module.bias.detach()[:, None]], dim=1)
            out.append(Wb.reshape(-1))
    return torch.cat(out)


def _unflat(model, flat, order):
    out, at = {}, 0
    for name, has_bias, (o, i) in order:
        cols = i + int(has_bias)
        M = flat[at:at + o * cols].reshape(o, cols)
        at += o * cols
        out[f"{name}.weight"] = M[:, :i]
        if has_bias:
            out[f"{name}.bias"] = M[:, i]
    return out


@pytest.mark.parametrize("bias", [False, True], ids=["bias=no", "bias=yes"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_saliency_and_update_match_dense_kronecker_inverse(bias, reduction):
    model = _net(bias)
    loss_fn = nn.CrossEntropyLoss(reduction=reduction)
    x, y = _data()
    damping = 1e-3
    method = KFACOBS(damping=damping)
    Finv, order = _dense_reference(model, loss_fn, x, y, damping)
    w = _flat_wb(model)
    d = Finv.diagonal()
    expected_s = _unflat(model, w**2 / (2 * d), order)
    got_s = method.saliency(model, loss_fn, x, y)
    for key, value in expected_s.items():
        assert_close(got_s[key], value, rtol=1e-9, atol=0.0, name=f"saliency {key}")
    g = torch.Generator().manual_seed(3)
    delete = {k: torch.rand(p.shape, generator=g) < 0.4 for k, p in model.named_parameters()}
    gone = torch.cat([torch.cat([delete[f"{n}.weight"], delete[f"{n}.bias"][:, None]], 1).reshape(-1) if hb
                      else delete[f"{n}.weight"].reshape(-1) for n, hb, _ in order])
    v = torch.where(gone, w / d, torch.zeros_like(w))
    dw = -(Finv @ v)
    dw = torch.where(gone, -w, dw)
    expected_u = _unflat(model, dw, order)
    got_u = method.update(model, loss_fn, x, y, delete=delete)
    for key, value in expected_u.items():
        assert_close(got_u[key], value, rtol=1e-9, atol=1e-14, name=f"update {key}")
        assert bool((got_u[key] + dict(model.named_parameters())[key].detach())[delete[key]].eq(0).all())


@pytest.mark.parametrize("bias", [False, True], ids=["bias=no", "bias=yes"])
def test_one_sample_factors_are_the_gradient_outer_product(bias):
    """For one sample, G (x) A = vec(dW) vec(dW)^T exactly (dW = g a^T), checked against torch.func."""
    model = _net(bias, seed=2)
    loss_fn = nn.CrossEntropyLoss()
    x, y = _data(n=1, seed=4)
    factors = kronecker_factors(model, loss_fn, x, y)
    grads = _per_sample_grads(model, loss_fn, x, y)
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        A, G = factors[f"{name}.weight"]
        gW = grads[f"{name}.weight"].reshape(module.out_features, module.in_features)
        if bias:
            gW = torch.cat([gW, grads[f"{name}.bias"].reshape(-1, 1)], dim=1)
        vec = gW.reshape(-1)
        assert_close(torch.kron(G, A), torch.outer(vec, vec), rtol=1e-10, atol=1e-15, name=f"G (x) A of {name}")


def test_input_factor_of_first_layer_is_mean_input_outer_product():
    model = _net(False)
    x, y = _data()
    A, _ = kronecker_factors(model, nn.CrossEntropyLoss(), x, y)["0.weight"]
    assert_close(A, x.T @ x / x.shape[0], rtol=1e-12, atol=1e-15, name="A of layer 0")


def test_pi_damping_and_validation():
    model = _net(False)
    x, y = _data()
    with_pi = KFACOBS(damping=1e-2, pi=True).saliency(model, nn.CrossEntropyLoss(), x, y)
    without = KFACOBS(damping=1e-2).saliency(model, nn.CrossEntropyLoss(), x, y)
    assert not torch.allclose(with_pi["0.weight"], without["0.weight"])
    with pytest.raises(ValueError, match=r"damping must be a positive float"):
        KFACOBS(damping=0.0)
    with pytest.raises(ValueError, match=r"pi must be True or False"):
        KFACOBS(pi="yes")
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2)).double()
    with pytest.raises(ValueError, match=r"kfac handles nn.Linear layers only"):
        KFACOBS().saliency(conv, nn.CrossEntropyLoss(), torch.randn(3, 1, 4, 4, dtype=torch.float64),
                           torch.tensor([0, 1, 0]))


def test_registered_and_prunes_with_both_rankings():
    model = _net(True)
    x, y = _data()
    for ranking in ("global", "layer"):
        net = _net(True)
        result = prune.one_shot(net, get("kfac", damping=1e-3), nn.CrossEntropyLoss(), x, y, 0.5, ranking=ranking)
        assert result.sparsity == pytest.approx(0.5, abs=0.05)
    assert model is not None
