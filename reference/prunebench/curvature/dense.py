"""Dense curvature matrices ``[P, P]`` over the flat parameter vector (small models only).

- ``"exact"``: the full Hessian. Native and ``torchfunc`` both use ``torch.func.hessian`` (there is no cheaper
  exact dense route), in the model's dtype.
- ``"ggn"``: ``sum_n (J_n^T S_n)(J_n^T S_n)^T`` with ``S_n`` the factor of the loss Hessian in the outputs
  (``d2E/dz_n^2 = S_n S_n^T``); natively the per-sample products ``J_n^T S_n`` come from one backward sweep of
  the ``C`` (MSE) or ``C - 1`` (cross-entropy) columns of ``S_n`` (no autograd); ``torchfunc`` uses
  ``torch.func.jacrev``.
- ``"fisher"``: ``s * sum_n g_n g_n^T`` (``g_n`` per-sample loss gradients, ``s`` = 1 or 1/N for reduction
  "sum"/"mean", see :mod:`.diagonal`); natively the ``g_n`` come from the same sweep with one column.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from .._validation import renamed
from ..models import effective_params
from . import peers
from ._backprop import (
    LossTerms,
    Step,
    Trace,
    Unsupported,
    adjoint,
    conv_project,
    plan,
    record,
    split_conv,
    split_linear,
    with_ones,
)
from .generic import FallbackWarning
from .health import CurvatureHealth, DenseCurvature, check_finite, negative_fraction
from .kinds import DENSE
from .layout import ParamLayout

__all__ = ["hessian", "per_sample_vectors"]

DENSE_METHODS = DENSE
"""The dense curvatures (:data:`.kinds.DENSE`), under the name this module first gave them."""


def hessian(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
            curvature: str = "exact", *, backend: str = "native", **former: str) -> DenseCurvature:
    """A dense curvature matrix of ``E = loss_fn(model(inputs), targets)``.

    Args:
        model, loss_fn, inputs, targets: as for :func:`prunebench.curvature.hessian_diag`.
        curvature: ``"exact"``, ``"ggn"`` or ``"fisher"`` (formerly ``method=``, still accepted with a
            ``DeprecationWarning``).
        backend: ``"native"`` or ``"torchfunc"`` (the dense oracle of :mod:`.oracle`, in the model's dtype).

    Returns:
        :class:`DenseCurvature` with ``matrix`` ``[P, P]`` in :class:`ParamLayout` order
        (``named_parameters()``; pruned layers in their effective tensor), its ``layout`` and ``health``
        (``negative_fraction`` of the diagonal).
    """
    curvature = renamed("hessian", former, {"method": "curvature"}).get("curvature", curvature)
    if curvature not in DENSE:
        raise ValueError(f"curvature must be one of {list(DENSE)}; got {curvature!r}")
    if backend not in ("native", "torchfunc"):
        raise ValueError(f"backend must be 'native' or 'torchfunc' for dense matrices; got {backend!r}")
    params = effective_params(model)
    check_finite(params, inputs, targets)
    dtype = next(model.parameters()).dtype
    inputs = inputs.to(dtype)
    layout = ParamLayout.from_model(model)
    steps = None
    if curvature == "exact" or backend == "torchfunc":
        matrix = peers.dense("torchfunc", curvature, model, loss_fn, inputs, targets)
    else:
        try:
            steps = plan(model, params)
        except Unsupported as err:
            warnings.warn(f"{err.layer} is outside the native curvature sweeps: the dense {curvature} comes "
                          "from the torch.func oracle (P reverse passes).", FallbackWarning, stacklevel=2)
            matrix = peers.dense("torchfunc", curvature, model, loss_fn, inputs, targets)
            steps = None
    if steps is not None:
        with torch.no_grad():
            trace = record(steps, inputs, second=False)
            loss = LossTerms.of(loss_fn, trace.output, targets, trace.log_softmax)
            cols = loss.columns if curvature == "ggn" else loss.grad.unsqueeze(1) / math.sqrt(loss.scale)
            vectors = layout.flatten(per_sample_vectors(steps, trace, cols)).flatten(0, 1)  # [N * r, P]
            matrix = vectors.T @ vectors
    health = CurvatureHealth(curvature=curvature, backend=backend,
                             negative_fraction=negative_fraction(torch.diagonal(matrix)))
    return DenseCurvature(matrix, layout, health)


def per_sample_vectors(steps: list[Step], trace: Trace, cols: torch.Tensor) -> dict[str, torch.Tensor]:
    """``J_n^T cols[n, k]`` for every sample and column, per parameter.

    Args:
        cols: ``[N, r, C]`` vectors in output space (e.g. the identity for the output Jacobians, the loss
            gradient for per-sample gradients).

    Returns:
        dict keyed like ``dict(model.named_parameters())``, values ``[N, r, *param.shape]``.
    """
    N = trace.output.shape[0]
    start = next(i for i, s in enumerate(steps) if s.has_params)
    out: dict[str, torch.Tensor] = {}
    for i in range(len(steps) - 1, start - 1, -1):
        step = steps[i]
        in_shape = trace.shape(i)
        if step.kind == "act":
            cols = cols * trace.derivs[i][0].unsqueeze(1)
            continue
        if step.kind == "linear" and step.has_params:
            x = with_ones(trace.inputs[i], step)
            out.update(split_linear(step, cols.unsqueeze(3) * x[:, None, None, :]))
        elif step.kind == "conv":
            out.update(split_conv(step, conv_project(step, trace.inputs[i], cols.reshape(N, cols.shape[1],
                                                                                       *trace.shape(i + 1)))))
        if i == start:
            break
        r = cols.shape[1]
        cols = adjoint(step, cols.flatten(0, 1), in_shape).view(N, r, *in_shape)
    return out
