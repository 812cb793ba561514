"""prunebench.curvature._lecun: OBD's diagonal recursion against the paper's formulas evaluated by hand
and against its own definition on a dense reference, on every layer kind.

Tolerances: :func:`helpers.close` (float64, ``rtol=1e-10``, absolute floor ``1e-12 * max|expected|``)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cases import LAYER_CASES, Case, mlp, params
from helpers import close
from prunebench.curvature import (
    ParamLayout,
    hessian_diag,
)
from prunebench.models import Net, ScaledTanh

pytestmark = pytest.mark.usefixtures("one_thread")


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


LECUN_UNSUPPORTED = {"avgpool2d-ceil-exclude-pad"}


def _maps(model: nn.Module):
    """The model as ``(kind, fn, module)``: ``"act"`` (elementwise), ``"param"`` (Linear/conv: ``fn(x, W, b)``),
    ``"map"`` (a parameter-free linear map: ``fn(x)``). A convolution's padding mode becomes its own map."""
    out = []
    for module in model.modules():
        if list(module.children()):
            continue
        if isinstance(module, (nn.Tanh, nn.Sigmoid, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.GELU,
                               nn.Softplus, ScaledTanh)):
            out.append(("act", module, module))
        elif isinstance(module, nn.Linear):
            out.append(("param", F.linear, module))
        elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
            conv = F.conv1d if isinstance(module, nn.Conv1d) else F.conv2d
            padding = module.padding
            if module.padding_mode != "zeros":
                out.append(("map", lambda x, m=module: F.pad(x, m._reversed_padding_repeated_twice,
                                                             mode=m.padding_mode), module))
                padding = 0
            out.append(("param", lambda x, w, b, m=module, c=conv, p=padding: c(x, w, b, m.stride, p, m.dilation,
                                                                               m.groups), module))
        elif isinstance(module, nn.LogSoftmax):
            continue  # read with NLL: the recursion starts at the logits under cross-entropy
        else:
            out.append(("map", module, module))
    return out


def lecun_reference(model, loss_fn, X, y, lm: bool) -> dict[str, torch.Tensor]:
    """PAPERS.md section 1, per pattern, with every map as its dense Jacobian ``A`` (``[out, in]``):
    output ``d2E/da^2 = f'^2 [d2E/dz^2]_ii + f'' dE/dz`` (the loss's own diagonal), hidden
    ``d2E/da_i^2 = f'(a_i)^2 sum_l A_li^2 d2E/da_l^2 + f''(a_i) dE/dx_i`` (``A`` every linear map between:
    a layer's weights, a pooling's coefficients, a padding's copies), and a weight's
    ``h_k = sum over its connections (i, j) of x_j^2 d2E/da_i^2``, i.e. ``sum_i d2E/da_i^2 d/dw_k
    [layer(x^2)]_i`` (the layer is linear in ``w``). ``lm`` drops every ``f''`` term."""
    maps = _maps(model)
    if isinstance(loss_fn, nn.NLLLoss):
        loss_fn = nn.CrossEntropyLoss(reduction=loss_fn.reduction)
    with torch.no_grad():
        x = X
        for kind, fn, module in maps:
            x = fn(x, module.weight, module.bias) if kind == "param" else fn(x)
        Z = x
    dE = torch.func.grad(lambda z: loss_fn(z, y))(Z)
    d2E = torch.func.hessian(lambda z: loss_fn(z, y))(Z)
    N = X.shape[0]
    d2E = torch.stack([d2E[n, :, n, :].diagonal() for n in range(N)])
    out = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    prefix = {id(m): name for name, m in model.named_modules()}

    def key(module, role):  # a pruned layer's (masked) weight is the parameter weight_orig
        return f"{prefix[id(module)]}.{role}{'_orig' if hasattr(module, role + '_orig') else ''}"
    for n in range(N):
        xs = [X[n:n + 1]]
        for kind, fn, module in maps:
            xs.append(fn(xs[-1], module.weight, module.bias) if kind == "param" else fn(xs[-1]))
        h, g = d2E[n:n + 1], dE[n:n + 1]
        for k in range(len(maps) - 1, -1, -1):
            kind, fn, module = maps[k]
            x = xs[k].detach()
            if kind == "act":
                f1 = torch.func.grad(lambda t, m=module: m(t).sum())(x)
                f2 = torch.func.grad(lambda t, m=module: torch.func.grad(lambda u: m(u).sum())(t).sum())(x)
                h = f1**2 * h + (0 if lm else f2 * g)
                g = f1 * g
                continue
            if kind == "param":
                w, squares = module.weight.detach(), x.square()
                if module.bias is None:
                    _, pull = torch.func.vjp(lambda w_, f=fn, s=squares: f(s, w_, None), w)
                else:
                    _, pull = torch.func.vjp(lambda w_, b_, f=fn, s=squares: f(s, w_, b_), w,
                                             module.bias.detach())
                grads = pull(h.reshape(xs[k + 1].shape))
                out[key(module, "weight")] += grads[0]
                if module.bias is not None:
                    out[key(module, "bias")] += grads[1]

                def layer(t, w=w, f=fn):
                    return f(t, w, None)
            else:
                layer = fn
            A = torch.autograd.functional.jacobian(layer, x).reshape(xs[k + 1].numel(), x.numel())
            h = ((A**2).T @ h.reshape(-1)).view_as(x)
            g = (A.T @ g.reshape(-1)).view_as(x)
    return out


@pytest.mark.parametrize("lm", [False, True], ids=["lecun", "lecun-lm"])
@pytest.mark.parametrize("case", params([c for c in LAYER_CASES if c.loss in ("ce-mean", "nll-sum")]
                                        + [Case("lenet1990", "mse-sum", n=1)]))
def test_lecun_matches_its_definition_on_every_layer(case, lm):
    model, loss_fn, X, y = case.build()
    method = "lecun-lm" if lm else "lecun"
    if case.model in LECUN_UNSUPPORTED:
        with pytest.raises(ValueError, match=r"OBD's recursion over the layers.*same divisor.*use curvature "
                                             r"'exact', 'ggn' or 'fisher'"):
            hessian_diag(model, loss_fn, X, y, method)
        return
    expected = lecun_reference(model, loss_fn, X, y, lm)
    result = hessian_diag(model, loss_fn, X, y, method)
    for name in expected:
        close(result[name], expected[name], f"{method} {name}")
