"""The deletion state of full-network OBS (:class:`~prunebench.methods.fullobs.FullOBS`): the blocks of the
inverse, the weights, their diagonal, and the work done.

Delayed downdates (exact, a matter of speed only). The factors ``F`` of up to ``flush`` deletions are kept as
``U`` (``[p, flush]``) beside the stored matrix ``M`` (``A^-1 = M - U U^T``): the diagonal is updated as
``d -= rowsum(F**2)`` and a column as ``M[:, Q] - U U[Q]^T``, both ``O(p |U|)``; when ``U`` is full it is
applied to ``M`` in one matrix product. Only the lower triangle of ``M`` is kept current (``M`` is symmetric):
row panels ``M[i0:i1, :i1] -= U[i0:i1] U[:i1]^T`` cost ``p^2 |U|`` flop instead of ``2 p^2 |U|``.

Compaction. Deleted rows of ``A^-1`` are zero but still cost flops in every later downdate; when a fraction
``compact`` of a block's rows are deleted, the rows and columns of the remaining weights are moved to the
front of the same storage, in place (row chunks, ascending: no row is overwritten before it is read), so the
``p x p`` matrix shrinks with ``p`` and no second matrix is ever allocated. The total cost of deleting down
to a fraction ``s`` of ``P`` weights is about ``(1 - s^3) P^3 / 3`` flop (``1.1e13`` for the 32,360-weight
MNIST MLP at 95%) instead of ``2 (1 - s) P^3`` without compaction and symmetry; every deletion costs the same
flops whatever the group size; ``group_size`` only changes how many re-rankings (and small solves) there are.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

__all__ = ["Block", "Quota", "Surgeon", "SurgeryStats", "sync", "woodbury_flop"]

_PANEL = 1024  # rows per panel of the lower-triangular downdate
_CHUNK_BYTES = 64 * 2**20  # temporary per row chunk of a compaction


@dataclass
class SurgeryStats:
    """Where the time of one run went, and the work done (flop counted from the matrix sizes).

    ``build_*``: the inverse (per-sample vectors and Woodbury); ``downdate_*``: applying the delayed factors
    to the stored matrix (the ``P^3``-class work); ``compact_*``: moving the remaining rows to the front;
    ``select_s``: everything else per group (saliencies, the group's columns, the small solves, the weights).
    Seconds are wall time (GPU work synchronised), ``*_flop`` floating-point operations.
    """

    build_s: float = 0.0
    build_flop: float = 0.0
    downdate_s: float = 0.0
    downdate_flop: float = 0.0
    compact_s: float = 0.0
    compactions: int = 0
    select_s: float = 0.0
    groups: int = 0
    deletions: int = 0
    vectors: int = 0

    @property
    def total_s(self) -> float:
        return self.build_s + self.downdate_s + self.compact_s + self.select_s

    def gflops(self, phase: str) -> float:
        """Achieved GFLOP/s of ``"build"`` or ``"downdate"`` (0 when it took no time)."""
        seconds = getattr(self, f"{phase}_s")
        return getattr(self, f"{phase}_flop") / seconds / 1e9 if seconds > 0 else 0.0

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out.update(total_s=self.total_s, build_gflops=self.gflops("build"),
                   downdate_gflops=self.gflops("downdate"))
        return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Block:
    """One dense diagonal block of ``A^-1``: the lower triangle of ``M`` (``[p, p]``, a view of the front of a
    flat buffer that never moves) over the global positions ``pos`` (ascending), and the delayed factors ``U``
    (``A^-1 = M - U[:, :K] U[:, :K]^T``)."""

    def __init__(self, matrix: torch.Tensor, start: int, capacity: int):
        p = matrix.shape[0]
        self.buf = matrix.reshape(-1)  # the inverse's own storage (contiguous): no copy
        self.p = p
        self.pos = torch.arange(start, start + p, device=matrix.device)
        self.U = matrix.new_zeros(p, capacity)
        self.K = 0
        self._rows = torch.arange(p, device=matrix.device)

    @property
    def matrix(self) -> torch.Tensor:
        return self.buf[: self.p * self.p].view(self.p, self.p)

    def diag(self) -> torch.Tensor:
        return self.matrix.diagonal()

    def columns(self, local: torch.Tensor) -> torch.Tensor:
        """``A^-1[:, local]`` (``[p, k]``) from the lower triangle of ``M`` and the delayed factors."""
        M = self.matrix
        below = self._rows[:, None] >= local[None, :]  # M[j, l] is current where j >= l
        C = torch.where(below, M.index_select(1, local), M.index_select(0, local).T)
        if self.K:
            U = self.U[:, : self.K]
            C = C - U @ U.index_select(0, local).T
        return C

    def append(self, F: torch.Tensor) -> None:
        k = F.shape[1]
        self.U[:, self.K:self.K + k] = F
        self.K += k

    def apply_pending(self) -> float:
        """``M <- M - U U^T`` on the lower triangle, in row panels. Returns the flop done."""
        K, p = self.K, self.p
        if not K:
            return 0.0
        M, U = self.matrix, self.U[:, :K]
        flop = 0.0
        for i0 in range(0, p, _PANEL):
            i1 = min(p, i0 + _PANEL)
            M[i0:i1, :i1].addmm_(U[i0:i1], U[:i1].T, alpha=-1.0)
            flop += 2.0 * (i1 - i0) * i1 * K
        self.K = 0
        return flop

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``A^-1 v`` of the current inverse from the lower triangle of ``M`` (in row panels: ``M``'s upper
        triangle may be stale) and the delayed factors."""
        M, p = self.matrix, self.p
        v = v.to(M.dtype)
        y = torch.zeros_like(v)
        for i0 in range(0, p, _PANEL):
            i1 = min(p, i0 + _PANEL)
            below, diagonal = M[i0:i1, :i0], M[i0:i1, i0:i1].tril()
            y[i0:i1] += below @ v[:i0] + diagonal @ v[i0:i1] + diagonal.tril(-1).T @ v[i0:i1]
            y[:i0] += below.T @ v[i0:i1]
        if self.K:
            U = self.U[:, : self.K]
            y -= U @ (U.T @ v)
        return y

    def compact(self, keep: torch.Tensor) -> None:
        """Keep the rows and columns ``keep`` (ascending local indices), moved to the front of the storage."""
        q, M = keep.numel(), self.matrix
        rows = max(1, _CHUNK_BYTES // max(1, self.p * M.element_size()))
        for r0 in range(0, q, rows):
            r1 = min(q, r0 + rows)
            # Rows r0..r1 of the result land at offsets [r0 q, r1 q), before any row not yet read
            # (old row keep[r] >= r starts at keep[r] p >= r q), and the chunk itself is copied out first.
            piece = M.index_select(0, keep[r0:r1]).index_select(1, keep)
            self.buf[r0 * q:r1 * q].copy_(piece.reshape(-1))
        self.p = q
        self.pos = self.pos[keep]
        self.U = self.U.index_select(0, keep)
        self._rows = self._rows[:q]


class Surgeon:
    """The deletion state: blocks of ``A^-1``, the flat weights ``w`` and diagonal ``d`` (float64, global
    positions), which positions are alive, and the timing."""

    def __init__(self, blocks: list[tuple[slice, torch.Tensor]], w: torch.Tensor, flush: int, group_size: int,
                 compact: float, stats: SurgeryStats):
        device = blocks[0][1].device
        self.device = device
        self.blocks = [Block(M, sl.start, max(flush, group_size)) for sl, M in blocks]
        P = blocks[-1][0].stop
        self.owner = torch.empty(P, dtype=torch.long, device=device)
        self.local = torch.empty(P, dtype=torch.long, device=device)
        for b, (sl, _) in enumerate(blocks):
            self.owner[sl] = b
            self.local[sl] = torch.arange(sl.stop - sl.start, device=device)
        self.w = w
        self.d = torch.cat([blk.diag() for blk in self.blocks]).to(torch.float64)
        self.alive = torch.ones(P, dtype=torch.bool, device=device)
        self.compact_fraction = compact
        self.stats = stats

    def saliencies(self, allowed: torch.Tensor) -> torch.Tensor:
        """``w_q^2 / (2 [A^-1]_qq)`` where ``allowed``, +inf elsewhere."""
        safe = torch.where(allowed, self.d, torch.ones_like(self.d))
        return torch.where(allowed, self.w**2 / (2 * safe), torch.full_like(self.w, math.inf))

    def column(self, q: int) -> torch.Tensor:
        """Column ``q`` of the current ``A^-1`` over the global positions (float64, 0 outside its block)."""
        blk = self.blocks[int(self.owner[q])]
        out = torch.zeros_like(self.w)
        out[blk.pos] = blk.columns(self.local[q:q + 1])[:, 0].to(torch.float64)
        return out

    def one_step_update(self, Q: torch.Tensor) -> torch.Tensor:
        """WoodFisher's one-step change for deleting ``Q``: the sum of the single-weight updates,
        ``-sum_q (w_q / [A^-1]_qq) A^-1 e_q``, from the current inverse (no downdate). float64, global."""
        v = torch.zeros_like(self.w)
        v[Q] = self.w[Q] / self.d[Q]
        dw = torch.zeros_like(self.w)
        for blk in self.blocks:
            dw[blk.pos] = -blk.matvec(v[blk.pos]).to(torch.float64)
        return dw

    def delete(self, Q: torch.Tensor, update: bool = True) -> torch.Tensor:
        """Delete the live positions ``Q`` (ordered) jointly: the update of ``w`` (unless ``update`` is False,
        for weights already at zero) and the downdate. Returns each member's saliency ``z_i^2 / 2``
        (float64)."""
        parts = torch.zeros(Q.numel(), dtype=torch.float64, device=self.device)
        owners = self.owner[Q]
        for b in (torch.unique(owners).tolist() if len(self.blocks) > 1 else [0]):
            sel = torch.nonzero(owners == b, as_tuple=True)[0] if len(self.blocks) > 1 else slice(None)
            Qb, blk = Q[sel], self.blocks[b]
            if blk.K + Qb.numel() > blk.U.shape[1]:
                self.flush(blk)
            local = self.local[Qb]
            C = blk.columns(local).to(torch.float64)
            L, info = torch.linalg.cholesky_ex(C[local])
            if int(info):
                raise ValueError(f"A^-1[Q, Q] must be positive definite, but its Cholesky factorisation "
                                 f"failed at leading minor {int(info)} of {Qb.numel()}: the inverse has lost "
                                 "positive definiteness to roundoff. Use dtype='float64' or a larger damping")
            # L^-1 by a k x k triangular solve, then products (a solve with a [k, p] right-hand side is far
            # slower in torch for small k); float64, well conditioned for the group sizes used.
            Linv = torch.linalg.solve_triangular(L, torch.eye(L.shape[0], dtype=L.dtype, device=L.device),
                                                 upper=False)
            Ft = Linv @ C.T  # L^-1 A^-1[Q, :], [k, p]
            if update:
                z = Linv @ self.w[Qb]
                self.w.index_add_(0, blk.pos, Ft.T @ z, alpha=-1.0)
                parts[sel] = 0.5 * z**2
            self.d.index_add_(0, blk.pos, (Ft**2).sum(0), alpha=-1.0)
            blk.append(Ft.T.to(blk.U.dtype))
        self.alive[Q] = False
        # Deleted weights stay exactly 0 (a later group's update would move the ones still in the stored
        # matrix by roundoff).
        self.w.masked_fill_(~self.alive, 0.0)
        return parts

    def flush(self, blk: Block) -> None:
        """Compact ``blk`` when enough of it is deleted, then apply its delayed factors."""
        sync(self.device)
        start = time.perf_counter()
        live = self.alive[blk.pos]
        dead = blk.p - int(live.sum())
        if dead and dead >= self.compact_fraction * blk.p:
            blk.compact(torch.nonzero(live, as_tuple=True)[0])
            self.local[blk.pos] = torch.arange(blk.p, device=self.device)
            sync(self.device)
            now = time.perf_counter()
            self.stats.compact_s += now - start
            self.stats.compactions += 1
            start = now
        self.stats.downdate_flop += blk.apply_pending()
        self.d[blk.pos] = blk.diag().to(torch.float64)
        sync(self.device)
        self.stats.downdate_s += time.perf_counter() - start


class Quota:
    """Per-tensor deletion quotas over the flat positions of ``layout`` (layer ranking)."""

    def __init__(self, layout, quotas: dict[str, int], allowed: torch.Tensor):
        self.owner = torch.empty(allowed.numel(), dtype=torch.long, device=allowed.device)
        self.slices = []
        self.left = []
        for i, name in enumerate(layout.names):
            sl = layout.slice(name)
            self.owner[sl] = i
            self.slices.append(sl)
            self.left.append(max(int(quotas.get(name, 0)), 0))
            if self.left[-1] == 0:
                allowed[sl] = False

    def total(self) -> int:
        return sum(self.left)

    def take(self, Q: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """The members of ``Q`` (in order) that fit their tensors' quotas; the quotas are charged and the
        positions of tensors whose quota is met are removed from ``allowed``."""
        keep = []
        for j, i in enumerate(self.owner[Q].tolist()):
            if self.left[i] > 0:
                self.left[i] -= 1
                keep.append(j)
                if self.left[i] == 0:
                    allowed[self.slices[i]] = False
        return Q[torch.tensor(keep, dtype=torch.long, device=Q.device)]


def woodbury_flop(p: int, n: int, block: int) -> float:
    """Flop of :func:`inverse_hessian`'s Woodbury build of a ``p x p`` block from ``n`` vectors, ``block``
    at a time: per block ``V^T M V`` (``2 p k^2``), the ``k x k`` Cholesky (``k^3 / 3``), the triangular solve
    (``p k^2``) and the rank-k product (``2 p^2 k``), plus ``M V`` (``2 p^2 k``) for every block after the
    first (the first sees ``M = I / lambda``)."""
    flop, first = 0.0, True
    for start in range(0, n, block):
        k = min(block, n - start)
        flop += 3.0 * p * k * k + k**3 / 3 + 2.0 * p * p * k + (0.0 if first else 2.0 * p * p * k)
        first = False
    return flop
