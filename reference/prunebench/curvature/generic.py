"""Exact diagonals of any differentiable model: the path for what the native sweeps do not cover.

A model with a layer outside :data:`._backprop.SUPPORTED`, or a forward that is not an ``nn.Sequential``,
still gets its exact ``"exact"``, ``"ggn"`` and ``"fisher"`` diagonals here, by ``torch.func`` on the flat
parameter vector (:func:`.oracle.flat_problem`), at a cost that :func:`cost` states:

- ``"exact"``: ``diag(H)`` from ``P`` Hessian-vector products (reverse over reverse), ``CHUNK`` at a time;
- ``"ggn"``: ``sum_n sum_k (J_n^T s_nk)^2`` with the per-sample output Jacobians ``J_n`` (``C`` reverse
  passes per sample) and the columns ``s_nk`` of the loss Hessian in the outputs (:class:`._backprop.LossTerms`);
- ``"fisher"``: ``s sum_n g_n^2`` from the per-sample gradients (one reverse pass per sample).

The GGN and Fisher treat samples as independent (the model in eval mode: no batch statistics).
"""

from __future__ import annotations

import torch
from torch import nn

from . import oracle
from ._backprop import LossTerms, check_loss

__all__ = ["CHUNK", "FallbackWarning", "cost", "diagonal"]

CHUNK = 32
"""Hessian-vector products (or samples) evaluated together by ``torch.func.vmap``."""


class FallbackWarning(UserWarning):
    """A curvature call left the native sweeps for the generic exact path (slower; the message says how
    much)."""


def cost(curvature: str, parameters: int, batch: int, outputs: int) -> str:
    """What the generic path costs for ``curvature``, in words (for the one-line warning)."""
    if curvature == "exact":
        return f"{parameters:,} Hessian-vector products (P of them, each about 2-4 gradients)"
    if curvature == "ggn":
        return f"{batch * outputs:,} per-sample vector-Jacobian products (N x C = {batch} x {outputs})"
    return f"{batch:,} per-sample gradients (N of them)"


def diagonal(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
             curvature: str) -> torch.Tensor:
    """The ``curvature`` diagonal (``"exact"``, ``"ggn"`` or ``"fisher"``) as a flat ``Tensor[P]`` in
    :class:`.ParamLayout` order, in the model's dtype."""
    dtype = next(model.parameters()).dtype
    check_loss(loss_fn, log_softmax=isinstance(loss_fn, nn.NLLLoss) and curvature != "ggn")
    _, theta, forward, X, y = oracle.flat_problem(model, inputs, targets, dtype)
    if curvature == "exact":
        return _exact(theta, lambda t: loss_fn(forward(t, X), y))
    if curvature == "ggn":
        return _ggn(theta, forward, loss_fn, X, y)
    grads = _per_sample(lambda x, target: torch.func.vmap(torch.func.grad(
        lambda t, xn, yn: loss_fn(forward(t, xn[None]), yn[None])), in_dims=(None, 0, 0))(theta, x, target), X, y)
    scale = 1.0 / X.shape[0] if loss_fn.reduction == "mean" else 1.0
    return scale * grads


def _exact(theta: torch.Tensor, objective) -> torch.Tensor:
    """``diag(d2 objective / dtheta2)`` by Hessian-vector products with the unit vectors, ``CHUNK`` at once
    (reverse over reverse: the pullback of the gradient, which every differentiable layer has)."""
    _, pullback = torch.func.vjp(torch.func.grad(objective), theta)

    def hvp(v):
        return pullback(v)[0]

    P = theta.numel()
    out = torch.empty_like(theta)
    for start in range(0, P, CHUNK):
        stop = min(start + CHUNK, P)
        rows = torch.arange(stop - start, device=theta.device)
        basis = torch.zeros(stop - start, P, dtype=theta.dtype, device=theta.device)
        basis[rows, rows + start] = 1
        out[start:stop] = torch.func.vmap(hvp)(basis)[rows, rows + start]
    return out


def _ggn(theta, forward, loss_fn, X, y) -> torch.Tensor:
    """``sum_n sum_k (J_n^T s_nk)^2``: per-sample Jacobians ``[n, C, P]`` a chunk of samples at a time."""
    with torch.no_grad():
        columns = LossTerms.of(loss_fn, forward(theta, X), y).columns  # [N, r, C]
    jacobians = torch.func.vmap(torch.func.jacrev(lambda t, x: forward(t, x[None])[0]), in_dims=(None, 0))
    return _per_sample(lambda x, cols: torch.einsum("nrc,ncp->nrp", cols, jacobians(theta, x)).flatten(0, 1),
                       X, columns)


def _per_sample(vectors, X: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``sum`` over the rows of ``vectors(X[chunk], other[chunk])`` squared, chunk by chunk: ``[P]``."""
    total = None
    for start in range(0, X.shape[0], CHUNK):
        rows = vectors(X[start:start + CHUNK], other[start:start + CHUNK]).detach()
        part = rows.square().sum(0)
        total = part if total is None else total + part
    return total
