"""Hessian diagonals and dense curvature against the dense float64 oracle, the paper's formulas and theory.

Tolerances. Every exact native quantity is compared in float64 with ``rtol=1e-10`` and an absolute floor of
``1e-12 * max|expected|`` (entries that cancel to ~0 carry rounding error relative to the largest ones): the
sweeps reorder sums of O(P) terms, so agreement is ~1e-15 relative in practice and 1e-10 leaves a wide margin
while catching any missing term (a dropped cross-layer or shared-weight term changes entries at O(1)).
"""

from __future__ import annotations

import functools
import math
import pickle

import pytest
import torch
from torch import nn

from cases import Case, grid, mlp, params
from helpers import assert_close
from prunebench.curvature import (
    Curvature,
    CurvatureHealth,
    DenseCurvature,
    ParamLayout,
    hessian,
    hessian_diag,
    oracle,
)
from prunebench.models import Net, build, effective_params

RTOL = 1e-10


pytestmark = pytest.mark.usefixtures("one_thread")


def close(actual, expected, name, rtol=RTOL, floor=1e-12):
    """assert_close with the absolute floor scaled to the largest expected entry."""
    expected = torch.as_tensor(expected)
    scale = float(expected.abs().max().clamp_min(1e-300))
    assert_close(actual, expected, rtol=rtol, atol=floor * scale, name=name)


ORACLES = {"exact": oracle.dense_hessian, "ggn": oracle.dense_ggn, "fisher": oracle.dense_fisher}


@functools.cache
def dense(case: Case, method: str) -> torch.Tensor:
    """The dense float64 oracle ``[P, P]`` of a case (cached: lenet-digits takes a few seconds)."""
    return ORACLES[method](*case.build())


SMALL = ["mlp-3-4-3-tanh", "mlp-3-4-3-sigmoid", "mlp-3-4-3-relu", "mlp-3-4-3-scaled-tanh",
         "mlp-3-4-3-tanh-nobias", "mlp-3-4-4-3-3-tanh", "mlp-3-4-3-3-relu-nobias", "mlp-3-4-3-tanh-pruned",
         "cnn-small", "cnn-small-pruned", "cnn-conv-linear", "cnn-conv-only"]
CASES = (grid(SMALL) + [Case("lenet-digits", "mse-sum", n=2), Case("lenet-digits", "ce-mean", n=2),
                         Case("lenet1990", "ce-mean", n=1), Case("lenet1990", "mse-sum", n=1)]
         + [Case("cnn-small", "ce-mean", "cuda")])


# ----------------------------------------------------------------------------------------------------------
# The oracle itself


@pytest.mark.parametrize("case", params([Case("mlp-3-4-4-3-3-tanh", "mse-sum"), Case("cnn-small", "ce-mean"),
                                         Case("mlp-3-4-3-tanh-pruned", "mse-mean")]))
def test_oracle_hessian_matches_central_differences(case):
    # Central differences of the autograd gradient with h = 1e-4: truncation h^2/6 * |d3 grad| ~ 2e-9 times
    # third derivatives of O(1-10) here, rounding eps * |grad| / h ~ 1e-12; rtol 1e-6 with a floor of
    # 1e-7 * max|H| covers both with a factor >= 10 to spare.
    model, loss_fn, X, y = case.build()
    H = oracle.dense_hessian(model, loss_fn, X, y)
    fd = oracle.finite_difference_hessian(model, loss_fn, X, y, step=1e-4)
    close(fd, H, "finite differences vs torch.func.hessian", rtol=1e-6, floor=1e-7)
    close(H, H.T, "Hessian symmetry")


def test_oracle_ggn_and_fisher_match_their_definitions():
    model, loss_fn, X, y = Case("mlp-3-4-3-tanh", "ce-mean").build()
    J = oracle.output_jacobians(model, X)  # [N, C, P]
    p = torch.softmax(model(X), dim=1).detach()
    H_L = (torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)) / X.shape[0]  # CE-mean Hessian per sample
    close(oracle.dense_ggn(model, loss_fn, X, y), torch.einsum("ncp,ncd,ndq->pq", J, H_L, J), "GGN")
    g = oracle.per_sample_grads(model, loss_fn, X, y)
    for n in range(X.shape[0]):
        model.zero_grad()
        loss_fn(model(X[n:n + 1]), y[n:n + 1]).backward()
        close(g[n], torch.cat([q.grad.reshape(-1) for q in model.parameters()]), f"per-sample gradient {n}")
    close(oracle.dense_fisher(model, loss_fn, X, y), g.T @ g / X.shape[0], "Fisher (mean: 1/N sum g g^T)")


# ----------------------------------------------------------------------------------------------------------
# Exact native quantities against the oracle


@pytest.mark.parametrize("method", ["exact", "ggn", "fisher"])
@pytest.mark.parametrize("case", params(CASES))
def test_native_diagonal_matches_oracle(case, method):
    model, loss_fn, X, y = case.build()
    result = hessian_diag(model, loss_fn, X, y, method)
    layout = ParamLayout.from_model(model)
    assert list(result) == [name for name, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        assert result[name].shape == p.shape, name
    expected = torch.diagonal(dense(Case(case.model, case.loss, n=case.n), method))
    close(layout.flatten(result).cpu(), expected, f"{method} diagonal")


@pytest.mark.parametrize("method", ["exact", "ggn", "fisher"])
@pytest.mark.parametrize("case", params([Case("mlp-3-4-4-3-3-tanh", "ce-sum"), Case("cnn-small", "mse-mean"),
                                         Case("mlp-3-4-3-tanh-pruned", "ce-mean")]))
def test_native_dense_matches_oracle(case, method):
    model, loss_fn, X, y = case.build()
    result = hessian(model, loss_fn, X, y, method)
    assert isinstance(result, DenseCurvature)
    assert result.layout == ParamLayout.from_model(model)
    close(result.matrix, dense(case, method), f"dense {method}")
    close(result.layout.flatten(result.diagonal()), torch.diagonal(result.matrix), "DenseCurvature.diagonal")
    torchfunc = hessian(model, loss_fn, X, y, method, backend="torchfunc")
    close(torchfunc.matrix, dense(case, method), f"torchfunc dense {method}")


@pytest.mark.parametrize("layer,in_shape", [
    (nn.AvgPool2d(2), (3, 4, 6)),                                  # tiles: the fast path
    (nn.AvgPool2d((2, 3), divisor_override=5), (2, 4, 6)),
    (nn.AvgPool2d(3, stride=2, padding=1), (2, 5, 5)),             # overlapping, padded: torch's own ops
    (nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False, padding=1), (1, 5, 5)),
    (nn.Conv2d(3, 2, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), bias=False), (3, 6, 5)),
    (nn.Conv2d(3, 2, (3, 2), padding=(1, 0), dilation=(2, 1), bias=False), (3, 6, 5)),  # stride 1: correlation
    (nn.Conv2d(1, 2, 3, padding=3, bias=False), (1, 4, 4)),                             # p > k - 1: torch's op
    (nn.Conv2d(6, 4, (3, 2), stride=(2, 3), padding=(1, 0), dilation=(1, 2), groups=2, bias=False), (6, 9, 8)),
    (nn.Conv2d(8, 8, 5, stride=2, padding=2, groups=8, bias=False), (8, 8, 8)),           # strided: spread
    (nn.Conv2d(4, 3, 4, stride=3, bias=False), (4, 11, 10)),                            # trailing rows unused
    (nn.Conv2d(4, 6, 1, groups=2, bias=False), (4, 3, 5)),                               # pointwise: matmul
    (nn.Conv2d(3, 3, 1, groups=3, bias=False), (3, 3, 5)),                               # depthwise 1x1: scale
    (nn.Flatten(), (2, 3, 3)),
    (nn.MaxPool2d(3, stride=2, padding=1), (2, 5, 5)),
    (nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect", bias=False), (2, 4, 5)),       # the pad step
], ids=["pool-tiling", "pool-override", "pool-padded", "pool-ceil", "conv-strided-dilated", "conv-stride1-dilated",
        "conv-overpadded", "conv-strided-grouped-spread", "conv-depthwise-strided-spread", "conv-stride3-spread",
        "conv-pointwise-grouped", "conv-depthwise-1x1", "flatten", "maxpool", "pad-reflect"])
def test_linear_steps_and_their_adjoints_match_autograd(layer, in_shape):
    from prunebench.curvature._backprop import adjoint, plan, push, unfold_input

    layer = layer.double()
    step = plan(nn.Sequential(layer))[0]  # a padding mode: the pad step (the conv after it is tested above)
    kind = step.kind
    x = torch.randn(4, *in_shape, dtype=torch.float64, requires_grad=True)
    y = layer(x) if kind != "pad" else nn.functional.pad(x, step.spec.pad, step.spec.mode)
    if kind == "maxpool":  # linear given the argmax of the forward pass (record keeps it)
        step.indices = nn.functional.max_pool2d(x.detach(), 3, 2, 1, return_indices=True)[1]
    close(push(step, x.detach()), y.detach(), "push")
    v = torch.randn_like(y)
    expected, = torch.autograd.grad(y, x, v)
    close(adjoint(step, v, torch.Size(in_shape)), expected, "adjoint")
    if kind == "conv":
        U = unfold_input(step, x.detach())
        unfolded = nn.functional.unfold(x.detach(), layer.kernel_size, layer.dilation, layer.padding,
                                        layer.stride)
        close(U, unfolded, "strided im2col")


@pytest.mark.parametrize("conv", [
    nn.Conv2d(3, 2, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
    nn.Conv2d(1, 4, 5, padding=6),
    nn.Conv2d(2, 3, 2, stride=3, bias=False),
], ids=["strided-dilated", "overpadded", "nobias"])
def test_per_sample_conv_projections_are_the_unfolded_products(conv):
    """conv_project (a grouped correlation) against its definition ``sum_p U[n, j, p] cols[n, k, c, p]`` with
    the im2col ``U``, and conv_project_squares against the signed sum of its squares."""
    from prunebench.curvature._backprop import conv_project, conv_project_squares, plan, unfold_input

    conv = conv.double()
    step = plan(nn.Sequential(conv))[-1]
    x = torch.randn(3, conv.in_channels, 7, 6, dtype=torch.float64)
    out_shape = conv(x).shape[1:]
    cols = torch.randn(3, 4, *out_shape, dtype=torch.float64)
    U = unfold_input(step, x)
    if conv.bias is not None:
        U = torch.cat([U, torch.ones_like(U[:, :1])], dim=1)
    expected = torch.einsum("njp,nkcp->nkcj", U, cols.flatten(3))
    projected = conv_project(step, x, cols)
    close(projected, expected, "projections")
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64).expand(3, 4)
    for s in (None, signs):
        weights = torch.ones(3, 4, dtype=torch.float64) if s is None else s
        close(conv_project_squares(step, x, cols, s), torch.einsum("nk,nkcj->cj", weights, expected.square()),
              f"squares, signs={'none' if s is None else 'mixed'}")


def test_torchfunc_diagonal_is_the_oracle_diagonal():
    case = Case("cnn-small", "ce-sum")
    model, loss_fn, X, y = case.build()
    for method in ("exact", "ggn", "fisher"):
        result = hessian_diag(model, loss_fn, X, y, method, backend="torchfunc")
        assert result.health.backend == "torchfunc"
        close(ParamLayout.from_model(model).flatten(result), torch.diagonal(dense(case, method)), method)


def test_pruned_model_is_differentiated_in_the_effective_weight():
    model, loss_fn, X, y = Case("mlp-3-4-3-tanh-pruned", "mse-sum").build()
    result = hessian_diag(model, loss_fn, X, y)
    assert "0.weight_orig" in result and "0.weight" not in result
    # A pruned (zero) weight still has curvature: the loss is not flat in it. Check against a model whose
    # effective weights are plain parameters.
    plain = mlp([3, 4, 3], "tanh", "tanh").double()
    effective = {k.removesuffix("_orig"): v.detach() for k, v in effective_params(model).items()}
    with torch.no_grad():
        for name, p in plain.named_parameters():
            p.copy_(effective[name])
    reference = hessian_diag(plain, loss_fn, X, y)
    close(result["0.weight_orig"], reference["0.weight"], "pruned layer vs plain layer")


def test_float32_agrees_with_float64():
    # Same sweep in single precision: rounding ~1e-7 relative per operation, a few dozen operations deep.
    case = Case("cnn-small", "ce-sum")
    model, loss_fn, X, y = case.build(torch.float32)
    result = hessian_diag(model, loss_fn, X, y)
    assert all(v.dtype == torch.float32 for v in result.values())
    close(ParamLayout.from_model(model).flatten(result).double(), torch.diagonal(dense(case, "exact")),
          "float32 exact diagonal", rtol=1e-4, floor=1e-5)


# ----------------------------------------------------------------------------------------------------------
# OBD's diagonal back-propagation against the paper's formulas, evaluated by hand


def _f(name, a):
    """Activation value, f', f'' written out by hand (independent of prunebench.models)."""
    if name == "sigmoid":
        s = 1 / (1 + math.exp(-a))
        return s, s * (1 - s), s * (1 - s) * (1 - 2 * s)
    if name == "tanh":
        t = math.tanh(a)
        return t, 1 - t * t, -2 * t * (1 - t * t)
    return a, 1.0, 0.0


def _lecun_by_hand(layers, acts, X, y, loss, reduction, lm):
    """PAPERS.md section 1 with scalar loops. ``layers``: [(W, b)] as nested lists; ``acts``: names per layer.

    Output units: E = sum_i (d_i - x_i)^2 gives d2E/da_i^2 = 2 f'^2 - 2 (d_i - x_i) f''; for other losses the
    loss's diagonal d2E/dx_i^2 replaces the 2 and dE/dx_i the -2 (d_i - x_i). Hidden units:
    d2E/da_i^2 = f'(a_i)^2 sum_l w_li^2 d2E/da_l^2 + f''(a_i) dE/dx_i. Weights: sum over patterns of
    x_j^2 d2E/da_i^2; biases: of d2E/da_i^2. ``lm`` drops every f'' term.
    """
    N = len(X)
    h = [([[0.0] * len(W[0]) for _ in W], [0.0] * len(W)) for W, _ in layers]
    for n in range(N):
        xs, fs = [list(X[n])], []
        for (W, b), act in zip(layers, acts, strict=True):
            a = [sum(W[i][j] * xs[-1][j] for j in range(len(W[0]))) + b[i] for i in range(len(W))]
            f = [_f(act, ai) for ai in a]
            fs.append(f)
            xs.append([fi[0] for fi in f])
        out = xs[-1]
        C = len(out)
        if loss == "mse":
            s = 1.0 if reduction == "sum" else 1.0 / (N * C)
            dE = [-2 * s * (y[n][i] - out[i]) for i in range(C)]
            d2E = [2 * s] * C
        else:
            s = 1.0 if reduction == "sum" else 1.0 / N
            ez = [math.exp(v) for v in out]
            p = [v / sum(ez) for v in ez]
            dE = [s * (p[i] - (1.0 if i == y[n] else 0.0)) for i in range(C)]
            d2E = [s * p[i] * (1 - p[i]) for i in range(C)]
        # Output layer (for E = sum (d - x)^2 with s = 1 this is 2 f'^2 - 2 (d - x) f'').
        f = fs[-1]
        d2a = [f[i][1] ** 2 * d2E[i] + (0.0 if lm else f[i][2] * dE[i]) for i in range(C)]
        dEa = [f[i][1] * dE[i] for i in range(C)]
        for k in range(len(layers) - 1, -1, -1):
            W, _ = layers[k]
            hw, hb = h[k]
            for i in range(len(W)):
                hb[i] += d2a[i]
                for j in range(len(W[0])):
                    hw[i][j] += xs[k][j] ** 2 * d2a[i]
            if k == 0:
                break
            f = fs[k - 1]
            dEx = [sum(W[l][i] * dEa[l] for l in range(len(W))) for i in range(len(W[0]))]
            d2x = [sum(W[l][i] ** 2 * d2a[l] for l in range(len(W))) for i in range(len(W[0]))]
            d2a = [f[i][1] ** 2 * d2x[i] + (0.0 if lm else f[i][2] * dEx[i]) for i in range(len(W[0]))]
            dEa = [f[i][1] * dEx[i] for i in range(len(W[0]))]
    return h


@pytest.mark.parametrize("lm", [False, True], ids=["lecun", "lecun-lm"])
@pytest.mark.parametrize("sizes,hidden,output,loss", [
    ([2, 2, 1], "sigmoid", "sigmoid", "mse-sum"),     # XOR-style 2-2-1, LeCun's MSE
    ([3, 2, 2], "tanh", "tanh", "mse-sum"),
    ([3, 2, 2], "tanh", "tanh", "mse-mean"),
    ([3, 4, 2, 3], "tanh", "identity", "ce-mean"),  # two hidden layers, cross-entropy
], ids=["2-2-1-sigmoid-mse-sum", "3-2-2-tanh-mse-sum", "3-2-2-tanh-mse-mean", "3-4-2-3-tanh-ce-mean"])
def test_lecun_matches_the_paper_by_hand(sizes, hidden, output, loss, lm):
    torch.manual_seed(1)
    model = mlp(sizes, hidden, output).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    N = 3
    X = torch.randn(N, sizes[0], dtype=torch.float64)
    kind, reduction = loss.split("-")
    if kind == "mse":
        loss_fn, y = nn.MSELoss(reduction=reduction), torch.randn(N, sizes[-1], dtype=torch.float64)
    else:
        loss_fn, y = nn.CrossEntropyLoss(reduction=reduction), torch.randint(0, sizes[-1], (N,))
    linears = [m for m in model if isinstance(m, nn.Linear)]
    acts = [hidden] * (len(linears) - 1) + [output]
    layers = [(m.weight.tolist(), m.bias.tolist()) for m in linears]
    by_hand = _lecun_by_hand(layers, acts, X.tolist(), y.tolist(), kind, reduction, lm)
    result = hessian_diag(model, loss_fn, X, y, "lecun-lm" if lm else "lecun")
    for k, (hw, hb) in enumerate(by_hand):
        idx = list(model).index(linears[k])
        close(result[f"{idx}.weight"], torch.tensor(hw, dtype=torch.float64), f"layer {idx} weight")
        close(result[f"{idx}.bias"], torch.tensor(hb, dtype=torch.float64), f"layer {idx} bias")
    if lm:
        assert result.health.negative_fraction == 0.0


def _as_matrix(layer: nn.Module, in_shape) -> torch.Tensor:
    """A linear layer (no bias) as the dense matrix ``[out, in]`` on flattened inputs."""
    n_in = math.prod(in_shape)
    basis = torch.eye(n_in, dtype=torch.float64).view(n_in, *in_shape)
    return layer(basis).flatten(1).T


def _conv_with(weight):
    return lambda x: nn.functional.conv2d(x, weight, None, 1, 1)


@pytest.mark.parametrize("lm", [False, True], ids=["lecun", "lecun-lm"])
def test_lecun_shared_weights_sum_over_their_connections(lm):
    # OBD section 3: h_kk = sum over the connections (i, j) sharing u_k of x_j^2 d2E/da_i^2. The same net with
    # the convolution and the pooling unrolled into dense Linear layers (the pooling's coefficients 1/9 or 0)
    # gives per-connection values; summed per shared weight they must reproduce the convolution's result.
    torch.manual_seed(2)
    conv = nn.Conv2d(1, 2, 3, padding=1).double()
    pool = nn.AvgPool2d(3, stride=2, padding=1)  # 2x4x4 -> 2x2x2, padded windows (count_include_pad)
    head = [nn.Flatten(), nn.Linear(8, 2).double(), nn.Sigmoid()]
    net = Net("conv", (1, 4, 4), conv, nn.Tanh(), pool, *head)
    unrolled_conv = nn.Linear(16, 32).double()
    unrolled_pool = nn.Linear(32, 8, bias=False).double()
    owner = torch.full((32, 16), -1, dtype=torch.long)  # which shared weight each dense entry copies
    with torch.no_grad():
        unrolled_conv.weight.copy_(_as_matrix(_conv_with(conv.weight), (1, 4, 4)))
        unrolled_conv.bias.copy_(conv.bias.repeat_interleave(16))
        unrolled_pool.weight.copy_(_as_matrix(pool, (2, 4, 4)))
        for k in range(conv.weight.numel()):
            onehot = torch.zeros(conv.weight.numel(), dtype=torch.float64)
            onehot[k] = 1.0
            hit = _as_matrix(_conv_with(onehot.view_as(conv.weight)), (1, 4, 4))
            owner[hit != 0] = k
    flat = Net("unrolled", (16,), unrolled_conv, nn.Tanh(), unrolled_pool, *head)
    X = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    y = torch.randn(3, 2, dtype=torch.float64)
    method = "lecun-lm" if lm else "lecun"
    h_conv = hessian_diag(net, nn.MSELoss(reduction="sum"), X, y, method)
    h_flat = hessian_diag(flat, nn.MSELoss(reduction="sum"), X.flatten(1), y, method)
    used = owner >= 0
    summed = torch.zeros(conv.weight.numel(), dtype=torch.float64).index_add_(
        0, owner[used], h_flat["0.weight"][used])
    close(h_conv["0.weight"].reshape(-1), summed, "shared weights = sum over connections")
    close(h_conv["0.bias"], h_flat["0.bias"].view(2, 16).sum(1), "shared biases")
    close(h_conv["4.weight"], h_flat["4.weight"], "dense layer above")


# ----------------------------------------------------------------------------------------------------------
# Identities that theory predicts


@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_lecun_is_exact_for_one_hidden_layer_with_mse(act, outputs):
    # With one hidden layer, d2E/dx_i^2 = sum_{l,l'} w_li w_l'i [H_a]_ll'; MSE makes the output-layer H_a
    # diagonal (c f'^2 + f'' dE/dx), so LeCun's sum_l w_li^2 d2E/da_l^2 drops nothing: lecun == exact and
    # lecun-lm == ggn. PAPERS.md states the single-output case; a diagonal loss Hessian extends it to several.
    torch.manual_seed(3)
    model = mlp([3, 4, outputs], act, act).double()
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, outputs, dtype=torch.float64)
    for reduction in ("sum", "mean"):
        loss_fn = nn.MSELoss(reduction=reduction)
        layout = ParamLayout.from_model(model)
        exact, lecun = (layout.flatten(hessian_diag(model, loss_fn, X, y, m)) for m in ("exact", "lecun"))
        ggn, lm = (layout.flatten(hessian_diag(model, loss_fn, X, y, m)) for m in ("ggn", "lecun-lm"))
        close(lecun, exact, f"lecun vs exact ({reduction})")
        close(lm, ggn, f"lecun-lm vs ggn ({reduction})")


def test_lecun_is_not_exact_with_two_hidden_layers_or_cross_entropy():
    # Guards the identity above against being vacuous: the dropped cross terms are visible here.
    torch.manual_seed(3)
    for model, loss_fn, y in [
        (mlp([3, 4, 4, 1], "tanh", "tanh").double(), nn.MSELoss(reduction="sum"), torch.randn(5, 1).double()),
        (mlp([3, 4, 3], "tanh").double(), nn.CrossEntropyLoss(), torch.randint(0, 3, (5,))),
    ]:
        X = torch.randn(5, 3, dtype=torch.float64)
        layout = ParamLayout.from_model(model)
        exact = layout.flatten(hessian_diag(model, loss_fn, X, y, "exact"))
        lecun = layout.flatten(hessian_diag(model, loss_fn, X, y, "lecun"))
        assert (exact - lecun).abs().max() > 1e-3 * exact.abs().max()


@pytest.mark.parametrize("case", params(grid(["mlp-3-4-3-relu", "mlp-3-4-3-3-relu-nobias"],
                                             ["mse-sum", "ce-mean"])))
def test_exact_equals_ggn_diagonal_for_piecewise_linear_nets(case):
    # z is linear in each single weight for a fixed ReLU pattern, so d2z/dw^2 = 0 and the Hessian's diagonal
    # is the GGN's (off-diagonal entries differ: z is bilinear across layers).
    model, loss_fn, X, y = case.build()
    layout = ParamLayout.from_model(model)
    exact = layout.flatten(hessian_diag(model, loss_fn, X, y, "exact"))
    close(exact, layout.flatten(hessian_diag(model, loss_fn, X, y, "ggn")), "exact vs ggn diagonal")
    off = dense(case, "exact") - dense(case, "ggn")
    assert off.abs().max() > 1e-6, "the full matrices should differ off the diagonal"


# ----------------------------------------------------------------------------------------------------------
# Hutchinson


@pytest.mark.montecarlo
def test_hutchinson_converges_at_the_monte_carlo_rate():
    # For Rademacher v, v_i (Hv)_i = H_ii + sum_{j != i} H_ij v_i v_j: unbiased with standard deviation
    # sigma_i = sqrt(sum_{j != i} H_ij^2 / K) after K probes. The error in units of sigma is O(1): we require
    # its root-mean-square over entries to be below 2 (expected 1) and every entry within 5 sigma, for
    # K = 25 and K = 400 (the absolute error then shrinks ~4x, the 1/sqrt(K) rate). Seeded, so deterministic.
    case = Case("mlp-3-4-3-tanh", "ce-sum")
    model, loss_fn, X, y = case.build()
    H = dense(case, "exact")
    layout = ParamLayout.from_model(model)
    spread = ((H**2).sum(1) - torch.diagonal(H) ** 2).sqrt()
    errors = {}
    for K in (25, 400):
        estimate = layout.flatten(hessian_diag(model, loss_fn, X, y, "hutchinson", probes=K, seed=7))
        z = (estimate - torch.diagonal(H)) / (spread / math.sqrt(K))
        assert z.pow(2).mean().sqrt() < 2.0, f"K={K}: rms error {z.pow(2).mean().sqrt():.2f} sigma"
        assert z.abs().max() < 5.0, f"K={K}: max error {z.abs().max():.2f} sigma"
        errors[K] = (estimate - torch.diagonal(H)).norm()
    assert errors[400] < errors[25]


def test_hutchinson_is_reproducible_and_exact_for_diagonal_hessians():
    case = Case("mlp-3-4-3-tanh", "mse-sum")
    model, loss_fn, X, y = case.build()
    a = hessian_diag(model, loss_fn, X, y, "hutchinson", probes=3, seed=5)
    b = hessian_diag(model, loss_fn, X, y, "hutchinson", probes=3, seed=5)
    c = hessian_diag(model, loss_fn, X, y, "hutchinson", probes=3, seed=6)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    # A linear model under MSE: H = 2 X^T X per output row; one output and one input feature make it diagonal.
    lin = Net("linear", (1,), nn.Linear(1, 1, bias=False)).double()
    x1, y1 = torch.randn(4, 1, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    h = hessian_diag(lin, nn.MSELoss(reduction="sum"), x1, y1, "hutchinson", probes=1)
    close(h["0.weight"], 2 * (x1**2).sum().view(1, 1), "Hutchinson on a 1x1 Hessian")


# ----------------------------------------------------------------------------------------------------------
# Health, layout, results


def test_health_reports_the_negative_fraction():
    case = Case("mlp-3-4-3-scaled-tanh", "mse-sum")
    model, loss_fn, X, y = case.build()
    result = hessian_diag(model, loss_fn, X, y, "exact")
    assert isinstance(result, Curvature) and isinstance(result, dict)
    values = torch.cat([v.reshape(-1) for v in result.values()])
    assert result.health == CurvatureHealth(method="exact", backend="native",
                                            negative_fraction=int((values < 0).sum()) / values.numel())
    assert result.health.damping == 0.0 and result.health.failure is None
    assert hessian_diag(model, loss_fn, X, y, "ggn").health.negative_fraction == 0.0
    assert "health=" in repr(result)
    restored = pickle.loads(pickle.dumps(result))  # results travel through joblib
    assert restored.health == result.health and all(torch.equal(restored[k], result[k]) for k in result)


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


def test_lazy_inverse_hessian_export():
    import prunebench.curvature as curvature

    try:
        import prunebench.curvature.inverse  # noqa: F401
    except ImportError:
        pytest.skip("prunebench.curvature.inverse has not landed yet")
    assert callable(curvature.inverse_hessian)
    with pytest.raises(AttributeError, match="no attribute"):
        curvature.not_a_function  # noqa: B018


# ----------------------------------------------------------------------------------------------------------
# Errors


def _small():
    return Case("mlp-3-4-3-tanh", "mse-sum").build()


def test_unknown_method_and_backend_are_rejected():
    model, loss_fn, X, y = _small()
    with pytest.raises(ValueError, match=r"method must be one of .*'exact'.*; got 'diag'"):
        hessian_diag(model, loss_fn, X, y, "diag")
    with pytest.raises(ValueError, match=r"backend must be one of .*; got 'jax'"):
        hessian_diag(model, loss_fn, X, y, backend="jax")
    with pytest.raises(ValueError, match=r"probes must be a positive int; got 0"):
        hessian_diag(model, loss_fn, X, y, "hutchinson", probes=0)
    with pytest.raises(ValueError, match=r"not available with backend='torchfunc'.*use backend='native'"):
        hessian_diag(model, loss_fn, X, y, "lecun", backend="torchfunc")
    with pytest.raises(ValueError, match=r"method must be one of \['exact', 'ggn', 'fisher'\]; got 'lecun'"):
        hessian(model, loss_fn, X, y, "lecun")
    with pytest.raises(ValueError, match=r"backend must be 'native' or 'torchfunc' for dense matrices"):
        hessian(model, loss_fn, X, y, backend="backpack")


def test_unsupported_layers_name_the_layer_and_the_backends_that_support_them():
    net = Net("bn", (3,), nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2)).double()
    X, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    from prunebench.curvature._backprop import Unsupported, plan

    with pytest.raises(Unsupported, match=r"layer '1' \(BatchNorm1d\) is not supported by the native .*"
                                          r"backend='torchfunc' \(any differentiable layer"):
        plan(net)
    with pytest.raises(Unsupported, match=r"model must be an nn.Sequential"):
        plan(nn.Linear(3, 2))
    # The torchfunc backend takes any differentiable layer.
    net.eval()
    result = hessian_diag(net, nn.MSELoss(), X, y, backend="torchfunc")
    assert set(result) == {name for name, _ in net.named_parameters()}


def test_peer_backends_are_dispatched_to_the_backends_module(monkeypatch):
    import prunebench.curvature.backends as backends

    calls = []

    def fake(model, loss_fn, inputs, targets, method):
        calls.append(method)
        return {name: torch.full_like(p, -1.0) for name, p in model.named_parameters()}

    monkeypatch.setattr(backends, "curvlinops_hessian_diag", fake)
    model, loss_fn, X, y = _small()
    result = hessian_diag(model, loss_fn, X, y, "ggn", backend="curvlinops")
    assert calls == ["ggn"]
    assert result.health.backend == "curvlinops" and result.health.negative_fraction == 1.0


def test_cross_entropy_with_probability_targets_and_label_smoothing():
    # Closed-form gradient and Hessian of the soft-target, smoothed loss against the oracle.
    model, _, X, _ = Case("mlp-3-4-3-tanh", "ce-sum").build()
    targets = torch.softmax(torch.randn(4, 3, dtype=torch.float64), dim=1)
    for loss_fn, y in [(nn.CrossEntropyLoss(label_smoothing=0.2), torch.tensor([0, 2, 1, 1])),
                       (nn.CrossEntropyLoss(reduction="sum"), targets * 1.5)]:
        result = ParamLayout.from_model(model).flatten(hessian_diag(model, loss_fn, X, y))
        close(result, torch.diagonal(oracle.dense_hessian(model, loss_fn, X, y)), "soft targets")


@pytest.mark.parametrize("entry", ["diag", "dense", "inverse"])
def test_non_finite_weights_and_inputs_are_refused_naming_the_parameter(entry):
    from prunebench import models
    from prunebench.curvature import hessian, hessian_diag, inverse_hessian

    net = models.build("monk-17-3-1", seed=0, dtype=torch.float64)
    x = torch.randn(6, 17, dtype=torch.float64)
    y = torch.rand(6, 1, dtype=torch.float64)
    call = {"diag": hessian_diag, "dense": hessian, "inverse": inverse_hessian}[entry]
    bad_x = x.clone()
    bad_x[0, 0] = float("inf")
    with pytest.raises(ValueError, match="inputs must be finite; got 1 NaN/inf entries"):
        call(net, torch.nn.MSELoss(), bad_x, y)
    with torch.no_grad():
        net[0].weight[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"parameter 0.weight must be finite; got nan at index \[1, 2\]"):
        call(net, torch.nn.MSELoss(), x, y)


def test_finite_check_is_not_fooled_by_a_sum_that_overflows():
    # The check sums each tensor first (one pass); float32 weights near the largest float overflow that sum
    # although every entry is finite, and must still be accepted, while one infinity among them is refused.
    from prunebench.curvature.health import check_finite

    params = {"w": torch.full((4, 3), 3e38, dtype=torch.float32)}
    assert not torch.isfinite(params["w"].sum())
    check_finite(params, torch.zeros(2, 3), torch.zeros(2))
    params["w"][2, 1] = float("inf")
    with pytest.raises(ValueError, match=r"parameter w must be finite; got inf at index \[2, 1\]"):
        check_finite(params, torch.zeros(2, 3), torch.zeros(2))


def test_a_result_that_overflows_is_refused_naming_the_parameter():
    # Finite float32 inputs of 1e20 square to infinity in the weight diagonal of the first layer (x_j^2 in
    # d2E/dw_ij^2); the second layer's inputs are tanh outputs and stay finite.
    from prunebench import models

    net = models.build("monk-17-3-1", seed=0, dtype=torch.float32)
    x = torch.full((4, 17), 1e20)
    y = torch.rand(4, 1)
    with pytest.raises(ValueError, match=r"the lecun-lm Hessian diagonal of parameter 0.weight is not finite "
                                         r"\(\d+ NaN/inf entries\); the loss may have overflowed"):
        hessian_diag(net, torch.nn.MSELoss(), x, y, method="lecun-lm")
    healthy = hessian_diag(net, torch.nn.MSELoss(), x / 1e20, y, method="exact")
    assert healthy.health.negative_fraction == pytest.approx(
        sum(int((v < 0).sum()) for v in healthy.values()) / sum(v.numel() for v in healthy.values()))
