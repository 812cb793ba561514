"""An inverse curvature over the flat parameter vector, dense or layer-block-diagonal, and its downdates.

Reference:
    B. Hassibi and D. G. Stork (1993), "Second order derivatives for network pruning: Optimal Brain
    Surgeon", NIPS 5, pp. 164-171. -- eq. (5), the deletion of one weight, and the downdate of ``H^-1``.
    E. Kurtic et al. (2022), "The Optimal BERT Surgeon", EMNLP. -- deleting a group of weights at once (the
    rank-|Q| downdate).
"""

from __future__ import annotations

import bisect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from . import _memory
from .health import CurvatureHealth
from .layout import ParamLayout
from .solvers import cholesky_or_raise

__all__ = ["InverseCurvature"]


@dataclass(eq=False)
class InverseCurvature:
    """An inverse curvature ``A^-1`` over the flat parameter vector, dense or layer-block-diagonal.

    Attributes:
        blocks: ``[(slice, Tensor[p, p]), ...]``: the diagonal blocks of ``A^-1`` in :class:`ParamLayout`
            order, covering ``0..P`` without gaps (one block ``slice(0, P)`` for a dense inverse).
        layout: the :class:`ParamLayout` mapping parameter names to positions.
        health: :class:`CurvatureHealth` of the build: ``damping`` is the total shift ``alpha + damping`` of
            ``A``, ``condition_estimate`` an upper bound on the 2-norm condition number of ``A`` (its 1-norm
            condition ``||A||_1 ||A^-1||_1``, with ``||A||_1`` bounded from the vectors for the data-pass
            solvers), ``failure`` why a factorisation failed before damping rescued it,
            ``negative_fraction`` that of the diagonal of the undamped source matrix.
        solver: the solver that built it (formerly ``method``, still readable with a ``DeprecationWarning``).
        removed: ``Tensor[P]`` of bool, the positions deleted so far by :meth:`downdate` and
            :meth:`downdate_group` (their rows and columns are zero).
    """

    blocks: list[tuple[slice, torch.Tensor]]
    layout: ParamLayout
    health: CurvatureHealth
    solver: str
    removed: torch.Tensor = field(default=None)

    def __post_init__(self):
        if self.removed is None:
            self.removed = torch.zeros(self.num_params, dtype=torch.bool, device=self.blocks[0][1].device)
        self._starts = [sl.start for sl, _ in self.blocks]

    @property
    def method(self) -> str:
        """Deprecated name of :attr:`solver`."""
        warnings.warn("InverseCurvature.method is deprecated; use .solver (same value)", DeprecationWarning,
                      stacklevel=2)
        return self.solver

    @property
    def num_params(self) -> int:
        """``P``, the length of the flat parameter vector."""
        return self.blocks[-1][0].stop

    @property
    def matrix(self) -> torch.Tensor:
        """The dense ``Tensor[P, P]`` (the stored matrix, not a copy); block-diagonal inverses raise."""
        if len(self.blocks) != 1:
            raise ValueError(f"this inverse is block-diagonal ({len(self.blocks)} blocks); use .blocks, "
                             ".column(q), .diag() or .to_dense() (which allocates the P x P matrix)")
        return self.blocks[0][1]

    def to_dense(self) -> torch.Tensor:
        """A new ``Tensor[P, P]`` with the blocks on the diagonal and zeros elsewhere."""
        M = self.blocks[0][1]
        P = self.num_params
        _memory.ensure(P * P * M.element_size(), M.device, f"a dense {P} x {P} {_memory.dtype_name(M.dtype)} copy")
        out = torch.zeros(P, P, dtype=M.dtype, device=M.device)
        for sl, block in self.blocks:
            out[sl, sl] = block
        return out

    def diag(self) -> torch.Tensor:
        """``Tensor[P]``, the diagonal ``[A^-1]_qq`` (zero at removed positions)."""
        return torch.cat([block.diagonal() for _, block in self.blocks])

    def column(self, q: int) -> torch.Tensor:
        """``Tensor[P]``, column ``q`` of ``A^-1`` (zero outside ``q``'s block)."""
        b, local = self._locate(q)
        sl, block = self.blocks[b]
        out = torch.zeros(self.num_params, dtype=block.dtype, device=block.device)
        out[sl] = block[:, local]
        return out

    def downdate(self, q: int) -> None:
        """Delete position ``q``: ``A^-1 <- A^-1 - A^-1 e_q e_q^T A^-1 / [A^-1]_qq`` in place, ``O(P^2)``.

        Afterwards the matrix restricted to the remaining positions is the inverse of ``A`` with row and
        column ``q`` removed, and row and column ``q`` are zero (OBS after deleting weight ``q``).
        """
        b, local = self._locate(q)
        self._check_live([q])
        block = self.blocks[b][1]
        pivot = float(block[local, local])
        if not pivot > 0:
            raise ValueError(f"[A^-1]_qq must be positive to delete q={q}; got {pivot:.3g}. The inverse "
                             "has lost positive definiteness to roundoff: rebuild it in float64 or with more "
                             "damping")
        col = block[:, local].clone()
        block.addr_(col, col, alpha=-1.0 / pivot)
        block[local, :] = 0
        block[:, local] = 0
        self.removed[q] = True

    def downdate_group(self, Q: Sequence[int] | torch.Tensor) -> None:
        """Delete the positions ``Q`` at once, in place:
        ``A^-1 <- A^-1 - A^-1[:, Q] (A^-1[Q, Q])^-1 A^-1[Q, :]``.

        Equal to deleting them one by one with :meth:`downdate` (up to roundoff); ``O(P^2 |Q|)`` in matrix
        products. Rows and columns ``Q`` become zero.
        """
        for b, local in self._group(Q).items():
            block = self.blocks[b][1]
            C = block[:, local]  # [p, k] copy (advanced indexing)
            L = cholesky_or_raise(C[local], "A^-1[Q, Q]")
            Wt = torch.linalg.solve_triangular(L, C.T, upper=False)  # L^-1 C^T, [k, p]
            block.addmm_(Wt.T, Wt, alpha=-1.0)
            block[local, :] = 0
            block[:, local] = 0
        self.removed[torch.as_tensor(Q, dtype=torch.long, device=self.removed.device).reshape(-1)] = True

    def obs_update(self, Q: Sequence[int] | torch.Tensor,
                   weights: torch.Tensor) -> tuple[torch.Tensor, float]:
        """OBS deletion of the group ``Q`` (one index for the paper's one-at-a-time OBS), without downdating.

        Args:
            Q: positions to delete (distinct, not yet removed).
            weights: ``Tensor[P]``, the flat (effective) weights in layout order.

        Returns:
            ``(dw, saliency)``: ``dw = -A^-1[:, Q] (A^-1[Q, Q])^-1 w_Q`` (``Tensor[P]``;
            ``(w + dw)[Q] = 0``) and the predicted loss change ``w_Q^T (A^-1[Q, Q])^-1 w_Q / 2``; for one
            index ``q`` these are the paper's ``dw = -(w_q / [A^-1]_qq) A^-1 e_q`` and
            ``L_q = w_q^2 / (2 [A^-1]_qq)``.
        """
        idx = [int(q) for q in torch.as_tensor(Q).reshape(-1)]
        self._group(idx)
        if weights.numel() != self.num_params:
            raise ValueError(f"weights must be the flat parameter vector of length P={self.num_params}; got "
                             f"shape {tuple(weights.shape)}. Use layout.flatten(effective_params(model))")
        cols = torch.stack([self.column(q) for q in idx], dim=1)  # [P, k]
        L = cholesky_or_raise(cols[idx], "A^-1[Q, Q]")
        w_Q = weights.detach().to(cols.dtype).reshape(-1)[idx]
        z = torch.cholesky_solve(w_Q[:, None], L)[:, 0]  # (A^-1[Q, Q])^-1 w_Q
        return -(cols @ z), 0.5 * float(w_Q @ z)

    def _locate(self, q) -> tuple[int, int]:
        if isinstance(q, bool) or not isinstance(q, (int, torch.Tensor)) or (
                isinstance(q, torch.Tensor) and (q.numel() != 1 or q.is_floating_point())):
            raise TypeError(f"q must be an int position in the flat parameter vector; got {q!r}")
        q = int(q)
        if not 0 <= q < self.num_params:
            raise ValueError(f"q must be in [0, {self.num_params}); got {q}")
        b = bisect.bisect_right(self._starts, q) - 1
        return b, q - self._starts[b]

    def _check_live(self, positions: list[int]) -> None:
        dead = [q for q in positions if bool(self.removed[q])]
        if dead:
            raise ValueError(f"positions {dead} were already deleted by an earlier downdate; each position "
                             "can be deleted once")

    def _group(self, Q) -> dict[int, torch.Tensor]:
        """Validate ``Q`` and split it by block: block index -> local indices (LongTensor)."""
        positions = [int(q) for q in torch.as_tensor(Q).reshape(-1)] if not isinstance(Q, int) else [Q]
        if not positions:
            raise ValueError("Q must name at least one position; got an empty group")
        if len(set(positions)) != len(positions):
            raise ValueError(f"Q must not repeat a position; got {positions}")
        by_block: dict[int, list[int]] = {}
        for q in positions:
            b, local = self._locate(q)
            by_block.setdefault(b, []).append(local)
        self._check_live(positions)
        device = self.removed.device
        return {b: torch.tensor(v, dtype=torch.long, device=device) for b, v in by_block.items()}
