"""Dense float64 brute-force curvature: the oracle every fast path is checked against.

Everything here is built from ``torch.func`` on the flat parameter vector (in :class:`ParamLayout` order)
through :func:`prunebench.models.functional_forward`, so derivatives are taken with respect to the *effective*
tensors (``weight_orig * weight_mask`` for a pruned layer). Cost is ``O(P^2)`` memory and about ``P`` passes:
small models only (a few thousand parameters at most).

For ``E = loss_fn(model(X), y)``:

- :func:`dense_hessian` ``d2E/dtheta2`` (``torch.func.hessian``);
- :func:`dense_ggn` the generalised Gauss-Newton ``J^T H_L J`` with ``J = dz/dtheta``
  (``torch.func.jacrev``) and ``H_L = d2E/dz2`` (``torch.func.hessian`` of the loss in the outputs);
- :func:`dense_fisher` the empirical Fisher ``s * sum_n g_n g_n^T`` with ``g_n`` the gradient of the
  per-sample loss ``loss_fn(model(x_n), y_n)``, ``s = 1`` for ``reduction="sum"`` and ``s = 1/N`` for
  ``"mean"`` (the scale of E, since ``E = s * sum_n loss_fn(model(x_n), y_n)`` for MSE and cross-entropy);
- :func:`finite_difference_hessian`, central differences of the gradient, to check the oracle itself.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..models import effective_params, functional_forward
from .layout import ParamLayout

__all__ = [
    "dense_fisher",
    "dense_ggn",
    "dense_hessian",
    "finite_difference_hessian",
    "flat_problem",
    "output_jacobians",
    "per_sample_grads",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def flat_problem(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None,
                 dtype: torch.dtype = torch.float64):
    """The flat view of a model: ``(layout, theta, forward, X, y)``, all in ``dtype``.

    Returns:
        layout: the model's :class:`ParamLayout`;
        theta: ``Tensor[P]``, the effective parameters flattened (detached copies);
        forward: ``forward(theta, X) -> outputs``, the model as a function of the flat vector;
        X: the inputs cast to ``dtype``; y: the targets, cast to ``dtype`` when floating (class indices as
        they are).
    """
    layout = ParamLayout.from_model(model)
    theta = layout.flatten({k: v.detach().to(dtype) for k, v in effective_params(model).items()})
    X = inputs.detach().to(dtype)
    y = targets
    if targets is not None:
        y = targets.detach().to(dtype) if targets.is_floating_point() else targets.detach()

    def forward(vector: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_forward(model, layout.unflatten(vector), x)

    return layout, theta, forward, X, y


def dense_hessian(model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor, *,
                  dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The full Hessian ``d2E/dtheta2`` of ``E = loss_fn(model(inputs), targets)``: ``Tensor[P, P]``."""
    _, theta, forward, X, y = flat_problem(model, inputs, targets, dtype)
    return torch.func.hessian(lambda t: loss_fn(forward(t, X), y))(theta)


def output_jacobians(model: nn.Module, inputs: torch.Tensor, *,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Per-sample Jacobians of the outputs in the parameters, ``dz_n/dtheta``: ``Tensor[N, C, P]``.

    ``C`` is the number of outputs per sample (trailing output dims are flattened).
    """
    _, theta, forward, X, _ = flat_problem(model, inputs, None, dtype)
    jac = torch.func.jacrev(lambda t: forward(t, X))(theta)
    return jac.reshape(X.shape[0], -1, theta.numel())


def dense_ggn(model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor, *,
              dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The generalised Gauss-Newton matrix ``J^T H_L J``: ``Tensor[P, P]``.

    ``J = dz/dtheta`` stacks every sample's output Jacobian (``[N*C, P]``) and ``H_L = d2E/dz2`` is the full
    ``[N*C, N*C]`` Hessian of the loss in all outputs (block diagonal over samples for MSE and cross-entropy,
    but not assumed to be).
    """
    _, theta, forward, X, y = flat_problem(model, inputs, targets, dtype)
    jac = output_jacobians(model, inputs, dtype=dtype).reshape(-1, theta.numel())
    z = forward(theta, X).detach()
    h_loss = torch.func.hessian(lambda out: loss_fn(out, y))(z).reshape(z.numel(), z.numel())
    return jac.T @ h_loss @ jac


def per_sample_grads(model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor, *,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Gradients of the per-sample losses ``loss_fn(model(x_n[None]), y_n[None])``: ``Tensor[N, P]``."""
    _, theta, forward, X, y = flat_problem(model, inputs, targets, dtype)

    def sample_loss(t: torch.Tensor, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return loss_fn(forward(t, x[None]), target[None])

    return torch.func.vmap(torch.func.grad(sample_loss), in_dims=(None, 0, 0))(theta, X, y)


def dense_fisher(model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor, *,
                 dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Empirical Fisher ``s * sum_n g_n g_n^T``: ``Tensor[P, P]``.

    ``g_n`` is the gradient of the per-sample loss (:func:`per_sample_grads`), ``s = 1/N`` when
    ``loss_fn.reduction == "mean"`` and 1 otherwise, so the Fisher has the scale of ``E``.
    """
    grads = per_sample_grads(model, loss_fn, inputs, targets, dtype=dtype)
    scale = 1.0 / grads.shape[0] if getattr(loss_fn, "reduction", "sum") == "mean" else 1.0
    return scale * grads.T @ grads


def finite_difference_hessian(model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor,
                              *, step: float = 1e-4, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Central differences of the gradient, column by column: ``Tensor[P, P]`` (not symmetrised).

    Column ``j`` is ``(grad E(theta + h e_j) - grad E(theta - h e_j)) / (2h)``: truncation error
    ``h^2/6 * d3(grad E)/dtheta_j^3`` and rounding error about ``eps * |grad E| / h``. Only first derivatives
    are taken by autograd, so this checks the second-order machinery of :func:`dense_hessian` independently.
    """
    _, theta, forward, X, y = flat_problem(model, inputs, targets, dtype)
    grad = torch.func.grad(lambda t: loss_fn(forward(t, X), y))
    columns = []
    for j in range(theta.numel()):
        shift = torch.zeros_like(theta)
        shift[j] = step
        columns.append((grad(theta + shift) - grad(theta - shift)) / (2 * step))
    return torch.stack(columns, dim=1)
