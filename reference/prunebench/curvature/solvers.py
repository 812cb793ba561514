"""The solvers of :func:`.inverse_hessian`: ``A^-1`` for ``A = G + shift I``, per diagonal block.

- data pass (``"recursion"``, ``"woodbury"``): the vectors ``X`` of ``G``'s outer-product form, a chunk at a
  time (:func:`vector_chunks`), added to ``I / shift`` by Sherman-Morrison one at a time or by Woodbury ``k``
  at a time (:func:`data_pass`);
- dense (``"cholesky"``): each block of ``G`` (or of the exact Hessian) formed (:func:`dense_sources`) and
  inverted in place, damped on failure when asked (:func:`invert_dense`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from . import oracle
from ._backprop import LossTerms, plan, record
from .dense import hessian, per_sample_vectors
from .layout import ParamLayout

__all__ = ["cholesky_or_raise", "data_pass", "dense_sources", "invert_dense", "norm1", "vector_chunks"]

_DAMPING_GROWTH = 10.0
_MAX_DAMPING_TRIES = 40
_ROWS = 1024  # row chunk for O(P^2) reductions without a P x P temporary


def vector_chunks(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                   curvature: str, block_size: int) -> Iterator[torch.Tensor]:
    """Yield ``V`` ``[P, k]`` chunks with ``G = sum_chunks V V^T`` (``V = X / sqrt(N)``), about ``block_size``
    columns each: ``V = J_n^T cols`` from the native backward sweep of :mod:`.dense`, or from per-sample
    ``torch.func.jacrev`` for layers the sweep does not support."""
    try:
        steps = plan(model)
    except TypeError:
        steps = None
    layout = ParamLayout.from_model(model)
    _, theta, forward, _, _ = oracle.flat_problem(model, inputs[:1], None, inputs.dtype)
    jacobians = torch.func.vmap(torch.func.jacrev(lambda t, x: forward(t, x[None])[0]), in_dims=(None, 0))
    N = inputs.shape[0]
    with torch.no_grad():
        columns_per_sample = 1 if curvature == "fisher" else forward(theta, inputs[:1]).shape[1]
        chunk = max(1, block_size // columns_per_sample)
        for start in range(0, N, chunk):
            x, y = inputs[start:start + chunk], targets[start:start + chunk]
            trace = record(steps, x, second=False) if steps is not None else None
            loss = LossTerms.of(loss_fn, trace.output if trace else forward(theta, x), y,
                                trace.log_softmax if trace else False, samples=N)  # scaled by all N samples
            cols = loss.columns if curvature == "ggn" else loss.grad.unsqueeze(1) / math.sqrt(loss.scale)
            if trace is not None:
                vectors = layout.flatten(per_sample_vectors(steps, trace, cols))
            else:
                vectors = torch.einsum("nrc,ncp->nrp", cols, jacobians(theta, x))
            yield vectors.flatten(0, 1).T


def data_pass(model, loss_fn, inputs, targets, curvature, slices, shift, block_size, rank_one):
    """Recursion / Woodbury over all vectors, per block. Returns the inverses, a bound on each ``||A_b||_1``
    and the diagonal of ``G``."""
    mats = []
    for sl in slices:
        M = inputs.new_zeros(sl.stop - sl.start, sl.stop - sl.start)
        M.diagonal().fill_(1.0 / shift)
        mats.append(M)
    fresh = [True] * len(slices)
    row_bound = [inputs.new_zeros(sl.stop - sl.start) for sl in slices]
    gdiag = []
    for V in vector_chunks(model, loss_fn, inputs, targets, curvature, block_size):
        gdiag.append((V * V).sum(1))
        for b, sl in enumerate(slices):
            Vb = V[sl]
            absV = Vb.abs()
            row_bound[b] += absV @ absV.sum(0)  # sum_m |V_jm| ||V_m||_1 >= sum_i |G_ij|
            if rank_one:
                _rank_one_updates_(mats[b], Vb)
            else:
                _rank_k_update_(mats[b], Vb, Vb / shift if fresh[b] else None)
            fresh[b] = False
    norm_A = [shift + float(r.max()) for r in row_bound]
    return mats, norm_A, torch.stack(gdiag).sum(0) if gdiag else torch.zeros(0)


def _rank_one_updates_(M: torch.Tensor, V: torch.Tensor) -> None:
    """Eq. 17 for each column ``v = X / sqrt(N)`` of ``V``: ``M <- M - M v v^T M / (1 + v^T M v)`` (the
    paper's ``(H X X^T H) / (N + X^T H X)`` divided through by ``N``)."""
    for v in V.T:
        Mv = M @ v
        M.addr_(Mv, Mv, alpha=-1.0 / (1.0 + float(v @ Mv)))


def _rank_k_update_(M: torch.Tensor, V: torch.Tensor, MV: torch.Tensor | None) -> None:
    """``M <- M - M V (I + V^T M V)^-1 V^T M`` in place (``MV`` given when ``M`` is still ``I / alpha``)."""
    if MV is None:
        MV = M @ V
    S = V.T @ MV
    S.diagonal().add_(1.0)
    L = cholesky_or_raise(S, "the Woodbury capacitance I + U^T H^-1 U")
    Wt = torch.linalg.solve_triangular(L, MV.T, upper=False)  # L^-1 V^T M, [k, p]
    M.addmm_(Wt.T, Wt, alpha=-1.0)


def cholesky_or_raise(S: torch.Tensor, what: str) -> torch.Tensor:
    L, info = torch.linalg.cholesky_ex(S)
    if int(info):
        raise ValueError(f"{what} must be positive definite, but its Cholesky factorisation failed at "
                         f"leading minor {int(info)} of {S.shape[0]}; the inverse has lost positive "
                         "definiteness to roundoff: rebuild it in float64 or with a larger alpha/damping")
    return L


def dense_sources(model, loss_fn, inputs, targets, curvature, slices, block_size) -> list[torch.Tensor]:
    """The undamped diagonal blocks of ``G`` (or of the exact Hessian)."""
    if curvature == "exact":
        if len(slices) == 1:
            return [hessian(model, loss_fn, inputs, targets, "exact").matrix.contiguous()]
        _, theta, forward, X, y = oracle.flat_problem(model, inputs, targets, inputs.dtype)
        out = []
        for sl in slices:
            def loss_of_block(part, sl=sl):
                return loss_fn(forward(torch.cat([theta[:sl.start], part, theta[sl.stop:]]), X), y)
            out.append(torch.func.hessian(loss_of_block)(theta[sl]).detach().contiguous())
        return out
    mats = [inputs.new_zeros(sl.stop - sl.start, sl.stop - sl.start) for sl in slices]
    for V in vector_chunks(model, loss_fn, inputs, targets, curvature, block_size):
        for M, sl in zip(mats, slices, strict=True):
            M.addmm_(V[sl], V[sl].T)
    return mats


def invert_dense(sources: list[torch.Tensor], alpha: float, damping: float, on_indefinite: str,
                  curvature: str) -> tuple[list[torch.Tensor], float, float, str | None]:
    """Invert ``S_b + (alpha + damping) I`` in place for every block, damping more on failure when asked.

    Returns the inverses, the total shift used, the 1-norm condition estimate and the first failure (or None).
    """
    backups = [S.clone() for S in sources] if on_indefinite == "damp" else None
    scale = max(float(S.diagonal().abs().max()) for S in sources) or 1.0
    failure = None
    for _ in range(_MAX_DAMPING_TRIES):
        shift = alpha + damping
        norm_A, failed = 0.0, None
        for b, S in enumerate(sources):
            S.diagonal().add_(shift)
            norm_A = max(norm_A, norm1(S))
            info = _spd_inverse_(S)
            if info:
                failed = (b, info, S.shape[0])
                break
        if failed is None:
            condition = norm_A * max(norm1(S) for S in sources)
            return sources, shift, condition, failure
        b, info, p = failed
        where = f" of block {b}" if len(sources) > 1 else ""
        reason = (f"A = H + {shift:.3g} I (curvature={curvature!r}) is not positive definite: its Cholesky "
                  f"factorisation{where} failed at leading minor {info} of {p}")
        if on_indefinite == "raise":
            raise ValueError(f"{reason}. Pass on_indefinite='damp' to add damping until it factorises, a "
                             "larger damping, or curvature='ggn'/'fisher' (positive semi-definite)")
        failure = failure or reason
        for S, backup in zip(sources, backups, strict=True):
            S.copy_(backup)
        damping = max(_DAMPING_GROWTH * damping, 1e-8 * scale)
    raise ValueError(f"{failure}; still indefinite after {_MAX_DAMPING_TRIES} damping increases (last "
                     f"damping {damping:.3g}). Check the matrix for NaN or infinite entries")


def _spd_inverse_(A: torch.Tensor) -> int:
    """Invert the symmetric positive definite ``A`` in place (LAPACK ``potrf`` + ``potri``, no ``P x P``
    temporary). Returns 0, or the order of the leading minor that is not positive definite (``A`` is then
    destroyed)."""
    F = A.mT  # column-major view of the same memory; A is symmetric, so F holds the same matrix
    info = torch.empty((), dtype=torch.int32, device=A.device)
    torch.linalg.cholesky_ex(F, out=(F, info))
    if int(info):
        return int(info)
    torch.cholesky_inverse(F, out=F)
    return 0


def norm1(M: torch.Tensor) -> float:
    """``||M||_1`` of a symmetric matrix (max absolute row sum), by row chunks."""
    return max(float(M[r:r + _ROWS].abs().sum(1).max()) for r in range(0, M.shape[0], _ROWS))
