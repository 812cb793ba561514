"""prunebench.curvature._backprop: the chain of steps, their linear maps against autograd, and the loss's
closed forms.

Tolerances: :func:`helpers.close` (float64, ``rtol=1e-10``, absolute floor ``1e-12 * max|expected|``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cases import Case
from helpers import close
from prunebench.curvature import (
    ParamLayout,
    hessian_diag,
    oracle,
)
from prunebench.models import Net

pytestmark = pytest.mark.usefixtures("one_thread")


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


def test_cross_entropy_with_probability_targets_and_label_smoothing():
    # Closed-form gradient and Hessian of the soft-target, smoothed loss against the oracle.
    model, _, X, _ = Case("mlp-3-4-3-tanh", "ce-sum").build()
    targets = torch.softmax(torch.randn(4, 3, dtype=torch.float64), dim=1)
    for loss_fn, y in [(nn.CrossEntropyLoss(label_smoothing=0.2), torch.tensor([0, 2, 1, 1])),
                       (nn.CrossEntropyLoss(reduction="sum"), targets * 1.5)]:
        result = ParamLayout.from_model(model).flatten(hessian_diag(model, loss_fn, X, y))
        close(result, torch.diagonal(oracle.dense_hessian(model, loss_fn, X, y)), "soft targets")


def _small():
    return Case("mlp-3-4-3-tanh", "mse-sum").build()


def test_unsupported_losses_are_rejected_saying_what_is_expected():
    model, _, X, y = _small()
    with pytest.raises(ValueError, match=r"loss_fn must be torch.nn.MSELoss, torch.nn.CrossEntropyLoss or "
                                         r"torch.nn.NLLLoss \(after nn.LogSoftmax\); got L1Loss"):
        hessian_diag(model, nn.L1Loss(), X, y)
    labels = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"NLLLoss needs log-probabilities: the model must end in "
                                         r"nn.LogSoftmax\(dim=1\)"):
        hessian_diag(model, nn.NLLLoss(), X, labels)
    with pytest.raises(ValueError, match=r"reduction must be 'sum' or 'mean'; got 'none'"):
        hessian_diag(model, nn.MSELoss(reduction="none"), X, y)
    with pytest.raises(ValueError, match=r"class weights is not supported natively"):
        hessian_diag(model, nn.CrossEntropyLoss(weight=torch.ones(3).double()), X, labels)
    with pytest.raises(ValueError, match=r"must not contain ignore_index=-100"):
        hessian_diag(model, nn.CrossEntropyLoss(), X, torch.tensor([0, 1, -100, 2]))
    for curvature in ("exact", "ggn", "lecun"):  # the GGN does not read the targets, but they are still wrong
        with pytest.raises(ValueError, match=r"targets must lie in \[0, 2\] for a model with 3 outputs; got "
                                             r"values from 1 to 3\."):
            hessian_diag(model, nn.CrossEntropyLoss(), X, torch.tensor([1, 3, 2, 1]), curvature)
    with pytest.raises(ValueError, match=r"got values from -1 to 2\."):
        hessian_diag(model, nn.CrossEntropyLoss(), X, torch.tensor([0, -1, 2, 1]))
    with pytest.raises(ValueError, match=r"must not contain ignore_index=1"):
        hessian_diag(model, nn.CrossEntropyLoss(ignore_index=1), X, torch.tensor([0, 1, 2, 1]))
    with pytest.raises(ValueError, match=r"MSE targets must have the outputs' shape \(4, 3\); got \(4,\)"):
        hessian_diag(model, nn.MSELoss(), X, y[:, 0])
