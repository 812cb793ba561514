"""Full-network Optimal Brain Surgeon at scale: one dense inverse, groups deleted with the exact joint update.

References:
    B. Hassibi and D. G. Stork (1993), "Second order derivatives for network pruning: Optimal Brain Surgeon",
    in S. J. Hanson, J. D. Cowan and C. L. Giles (eds.), Advances in Neural Information Processing Systems 5
    (NIPS 1992), pp. 164-171. Morgan Kaufmann. -- eq. (5), the update dw = -(w_q / [H^-1]_qq) H^-1 e_q and the
    saliency L_q = w_q^2 / (2 [H^-1]_qq); eq. (17), the inverse of the outer-product Hessian built in one pass
    (here by the Woodbury identity, many vectors at once); the downdate of H^-1 after each deletion.
    S. P. Singh and D. Alistarh (2020), "WoodFisher: Efficient second-order approximation for neural network
    compression", NeurIPS 33. -- the empirical Fisher F = (1/N) sum_n g_n g_n^T + lambda I as the Hessian,
    inverted by Woodbury from about a thousand gradients; blockwise OBS (the ``blocks="module"`` variant).
    E. Kurtic, D. Campos, T. Nguyen, E. Frantar, M. Kurtz, B. Fineran, M. Goin and D. Alistarh (2022), "The
    Optimal BERT Surgeon: Scalable and accurate second-order pruning for large language models", EMNLP. --
    deleting a set Q at once: dw = -H^-1[:, Q] (H^-1[Q, Q])^-1 w_Q, L_Q = w_Q^T (H^-1[Q, Q])^-1 w_Q / 2.
    E. Frantar and D. Alistarh (2022), "Optimal Brain Compression", NeurIPS 35. -- dropping the rows of
    deleted weights from the inverse, and applying sequential OBS downdates lazily, many at once, as matrix
    products.

What it computes. ``A = G + damping I`` with ``G`` the empirical Fisher (``curvature="fisher"``) or the
Gauss-Newton matrix with one term per sample and output (``"ggn"``, the paper's several-output
``H = (1/P) sum_k sum_c X_kc X_kc^T``), from ``samples`` training points, inverted once
(:func:`prunebench.curvature.inverse_hessian`, Woodbury: ``A^-1 = I/lambda - W^T W``, one matrix product of
``2 P^2 n`` flop for ``n`` vectors). Then, until the requested number of deletions:

1. the saliencies ``L_q = w_q^2 / (2 [A^-1]_qq)`` of the current (downdated) inverse and weights;
2. the group ``Q``: the ``group_size`` smallest ``L_q`` among the candidates (greedy: one-at-a-time OBS picks
   the smallest, re-ranks, picks again; a group takes the ``|Q|`` smallest of one ranking, then deletes them
   *jointly and exactly*, which is what a group of OBS deletions without re-ranking in between would do);
3. with ``A^-1[Q, Q] = L L^T`` (Cholesky, float64): ``z = L^-1 w_Q``, ``F = A^-1[:, Q] L^-T``;
   ``dw = -F z`` (so ``(w + dw)_Q = 0``; set to exactly 0 afterwards), ``L_Q = |z|^2 / 2``, and the rank-|Q|
   downdate ``A^-1 <- A^-1 - F F^T``, after which ``A^-1`` restricted to the remaining weights is the inverse
   of ``A`` restricted to them. ``|z_i|^2 / 2`` is the saliency of the i-th member deleted after the ones
   before it (the Cholesky factor is that elimination), so the per-deletion saliencies add up to ``L_Q``.
   ``group_size=1`` is the paper's OBS, deletion for deletion (tested against :class:`~.hassibi1993obs.OBS`).

The delayed downdates and the compaction of the inverse are described in :mod:`._surgery`.

Precision, step by step (tests/methods/test_fullobs.py measures it):

- per-sample vectors and the Woodbury product: ``dtype`` (float32 is enough for ``G``: relative error ~1e-7);
- the inverse itself: ``dtype``. It loses about ``log10(kappa)`` digits, ``kappa ~ lambda_max(G) / damping``,
  and the in-span part of ``A^-1`` is a difference ``I/lambda - W^T W`` of large numbers. float64 is the
  default; float32 halves the memory (4.2 GB instead of 8.4 GB for 32,360 weights) and is what large networks
  need. Measured (tests/methods/test_fullobs.py, the digits MLP 64-32-10 trained with cross-entropy, 500 samples,
  damping 1e-5 and 1e-4, i.e. 3e-4 and 3e-3 of the Fisher's largest eigenvalue, 0.038): float32 deletes the
  same weights as float64 up to 90% sparsity and the training losses agree to 4e-6 and 3e-7 (relative); the
  test asks for 99% of the deletions shared and 1e-4. Much smaller damping (the Woodbury form's roundoff
  grows as ``eps / damping``) or a float32 Cholesky failure below call for float64;
- the group solves (``A^-1[Q, Q]`` Cholesky, ``z``, ``F``), the weights and the diagonal: always float64
  (small: ``O(p |Q|)``); a Cholesky failure means the inverse lost positive definiteness to roundoff and
  raises with the remedy (float64, or more damping).

Memory: the inverse (``P^2`` entries of ``dtype``; per layer block with ``blocks="module"``) plus ``U``
(``P x flush``); the build refuses, before allocating, a matrix that does not fit
(:func:`~prunebench.curvature.inverse_hessian`'s check), with the size it needs and what to change.

Example (the quadratic case, where OBS is exact): deleting two weights of a least-squares linear model at its
minimum changes the loss by the predicted joint saliency (exactly, up to the damping's 1e-8 / eigenvalues of H
and the Woodbury form's roundoff, which grows as 1 / damping).

>>> import torch
>>> from prunebench.methods.fullobs import FullOBS
>>> from prunebench.testing import least_squares
>>> model, loss, X, y = least_squares(samples=30, features=4)
>>> obs = FullOBS(curvature="ggn", damping=1e-8, group_size=2)  # A = 2 X^T X + 1e-8 I
>>> selection = obs.select(model, loss, X, y, count=2)
>>> before = loss(model(X), y)
>>> with torch.no_grad():
...     _ = model[0].weight.add_(selection.delta["0.weight"])
>>> actual = float(loss(model(X), y) - before)
>>> int((model[0].weight == 0).sum()), abs(actual - selection.predicted_change) < 1e-6 * actual
(2, True)
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._validation import integer, real, renamed
from ..curvature import inverse_hessian
from ..curvature.kinds import OUTER_PRODUCT
from ._surgery import Quota, Surgeon, SurgeryStats, sync, woodbury_flop
from .base import (
    Deletion,
    PruningMethod,
    Selection,
    Step,
    check_choice,
    effective_weights,
    model_mask,
)

__all__ = ["BLOCKS", "DTYPES", "HESSIANS", "PROCEDURES", "Checkpoint", "FullOBS", "SurgeryStats"]

HESSIANS = OUTER_PRODUCT
"""FullOBS's curvatures (:data:`prunebench.curvature.kinds.OUTER_PRODUCT`), under this module's first name."""
BLOCKS = (None, "module", "parameter")
DTYPES = ("float64", "float32")
PROCEDURES = ("sequential", "one-step")

_MAX_WOODBURY = 4096  # vectors per Woodbury block of the build (one block when they fit: no M @ V product)


@dataclass
class Checkpoint:
    """The state of a deletion sequence after ``count`` deletions (see :meth:`FullOBS.prune_path`).

    ``deletions`` lists every deletion so far in order, named like ``named_parameters``; ``delta`` is the
    change of every effective weight since the start (keyed like ``named_parameters``; the deleted entries of
    ``weights + delta`` are exactly zero); ``stopped`` is ``"count"`` or ``"exhausted"`` (no candidate left);
    ``stats`` the :class:`SurgeryStats` so far.
    """

    count: int
    deletions: list[Deletion]
    delta: dict[str, torch.Tensor]
    stopped: str
    stats: SurgeryStats

    def selection(self) -> Selection:
        """The same as a :class:`~prunebench.methods.base.Selection` (for
        :func:`prunebench.prune.apply_selection`)."""
        return Selection(list(self.deletions), self.delta, self.stopped)


class FullOBS(PruningMethod):
    """Full-network OBS: one dense (or layer-block) inverse, groups deleted with the exact joint update."""

    curvature = "inverse"
    moves_weights = True
    citation = ("Hassibi & Stork (1993), Optimal Brain Surgeon, NIPS 5; group update as in Kurtic et al. "
                "(2022), The Optimal BERT Surgeon, EMNLP; empirical Fisher by Woodbury as in Singh & "
                "Alistarh (2020), WoodFisher, NeurIPS 33")

    def __init__(self, *, curvature: str = "fisher", damping: float = 1e-4, samples: int | None = 1000,
                 seed: int = 0, group_size: int = 1, blocks: str | None = None, dtype: str = "float64",
                 procedure: str = "sequential", flush: int = 256, compact: float = 0.1,
                 max_block: int | None = None, **former: str):
        """
        Args:
            curvature: ``"fisher"`` (empirical Fisher, WoodFisher's) or ``"ggn"`` (Gauss-Newton, one term per
                sample and output: the paper's several-output Hessian). Formerly ``hessian=``, still accepted
                with a ``DeprecationWarning``; :attr:`params` stores it under ``"hessian"``, the key of every
                record and leaderboard entry made so far, whichever name was used.
            damping: ``lambda`` in ``A = G + lambda I`` (absolute, in the units of E as ``loss_fn`` reduces
                it; with reduction "mean", ``G = (1/N) sum_n g_n g_n^T``).
            samples: training points the curvature is built from (a seeded subset of the data given when it
                has more; ``None``: all).
            seed: seed of that subset.
            group_size: weights deleted jointly per ranking (1: the paper's OBS).
            blocks: ``None`` (the full network), ``"module"`` (one inverse per layer, weight and bias together:
                blockwise OBS) or ``"parameter"`` (one per parameter tensor: WoodFisher's layout, whose
                ``woodfisherblock`` pruner inverts a layer's weight and its bias separately).
            dtype: ``"float64"`` or ``"float32"`` for the inverse (see the precision notes above).
            procedure: ``"sequential"`` (OBS: re-rank after every group, exact joint update, downdate) or
                ``"one-step"`` (WoodFisher's one-shot: one ranking by ``L_q``, and the *sum* of the
                single-weight updates of everything deleted, no downdate; ``group_size`` is unused).
            flush: deletions whose downdates are delayed and then applied as one matrix product (speed only).
            compact: fraction of deleted rows of a block at which it is compacted (speed only).
            max_block: cut every block into consecutive pieces of at most this many weights, each inverted on
                its own (WoodFisher's ``--fittable-params``); ``None``: whole blocks. WoodFisher's blockwise
                pruner is ``blocks="parameter", procedure="one-step"`` with its ``max_block``; their MNIST test
                sets none, and there each layer is one block.
        """
        curvature = renamed("FullOBS", former, {"hessian": "curvature"}).get("curvature", curvature)
        check_choice("curvature", curvature, HESSIANS)
        check_choice("blocks", blocks, BLOCKS)
        check_choice("dtype", dtype, DTYPES)
        check_choice("procedure", procedure, PROCEDURES)
        real("damping", damping, above=0.0, expected="a positive float (e.g. 1e-4)")
        integer("group_size", group_size, expected="an integer >= 1")
        integer("flush", flush, expected="an integer >= 1")
        integer("seed", seed, 0, expected="an integer >= 0")
        if samples is not None:
            integer("samples", samples, expected="an integer >= 1 or None (all the data)")
        if max_block is not None:
            integer("max_block", max_block, expected="an integer >= 1 or None (whole blocks)")
        real("compact", compact, above=0.0, at_most=1.0,
             expected="a float in (0, 1] (the deleted fraction that triggers a compaction)")
        self.matrix, self.damping, self.samples, self.seed = curvature, float(damping), samples, seed
        self.group_size, self.blocks, self.dtype = group_size, blocks, dtype
        self.procedure, self.flush, self.compact = procedure, flush, float(compact)
        self.max_block = max_block
        self.last_stats: SurgeryStats | None = None
        extra = {} if max_block is None else {"max_block": max_block}  # entries made before it keep their params
        self._record(hessian=curvature, damping=damping, samples=samples, seed=seed, group_size=group_size,
                     blocks=blocks, dtype=dtype, procedure=procedure, flush=flush, compact=compact, **extra)

    # ------------------------------------------------------------------------------------------------------
    # The inverse

    def _subset(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = inputs.shape[0]
        if self.samples is None or self.samples >= n:
            return inputs, targets
        generator = torch.Generator().manual_seed(self.seed)
        idx = torch.randperm(n, generator=generator)[: self.samples].sort().values.to(inputs.device)
        return inputs[idx], targets[idx]

    def _surgeon(self, model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                 mask: dict[str, torch.Tensor]) -> tuple[Surgeon, object]:
        """Build ``A^-1`` and remove the already-deleted positions. Returns (surgeon, layout)."""
        stats = SurgeryStats()
        X, T = self._subset(inputs, targets)
        dtype = getattr(torch, self.dtype)
        device = next(model.parameters()).device
        with torch.no_grad():
            outputs = model(X[:1]).shape[-1]
        per_sample = 1 if self.matrix == "fisher" else (
            outputs - 1 if isinstance(loss_fn, nn.CrossEntropyLoss) else outputs)
        vectors = X.shape[0] * per_sample
        block_size = min(vectors, _MAX_WOODBURY)
        sync(device)
        start = time.perf_counter()
        try:
            inv = inverse_hessian(model, loss_fn, X, T, "woodbury", curvature=self.matrix,
                                  alpha=self.damping, block_size=block_size, dtype=dtype, blocks=self.blocks,
                                  max_block=self.max_block)
        except MemoryError as exc:
            raise MemoryError(f"obs-full cannot hold its inverse: {exc} obs-full keeps this one matrix (it "
                              "compacts it in place as weights are deleted); pass dtype='float32' to halve "
                              "it, blocks='module' for one inverse per layer, or use a device with more "
                              "memory") from exc
        sync(device)
        stats.build_s = time.perf_counter() - start
        stats.vectors = vectors
        for sl, _ in inv.blocks:
            stats.build_flop += woodbury_flop(sl.stop - sl.start, vectors, block_size)
        layout = inv.layout
        w = layout.flatten(effective_weights(model)).to(torch.float64).clone()
        surgeon = Surgeon(inv.blocks, w, self.flush, self.group_size, self.compact, stats)
        del inv
        present = layout.flatten({k: m.to(torch.bool) for k, m in mask.items()}).to(torch.bool)
        gone = torch.nonzero(~present, as_tuple=True)[0]
        for i in range(0, gone.numel(), self.group_size):
            surgeon.delete(gone[i:i + self.group_size], update=False)
        return surgeon, layout

    # ------------------------------------------------------------------------------------------------------
    # The sequence

    def _start(self, model, loss_fn, inputs, targets, mask, candidates, quotas):
        """A deletion sequence's start: ``(surgeon, layout, allowed, quota, w0, offsets, params)`` -- the
        surgeon, the candidates still allowed (flat), the per-tensor quotas (or ``None``), the starting weights,
        each parameter's first flat position, and ``dict(model.named_parameters())``."""
        surgeon, layout = self._surgeon(model, loss_fn, inputs, targets, mask)
        self.last_stats = surgeon.stats
        allowed = layout.flatten({k: c.to(torch.bool) for k, c in candidates.items()}).to(torch.bool)
        allowed &= surgeon.alive
        quota = None if quotas is None else Quota(layout, quotas, allowed)
        offsets = [layout.slice(name).start for name in layout.names]
        return surgeon, layout, allowed, quota, surgeon.w.clone(), offsets, dict(model.named_parameters())

    def _groups(self, surgeon: Surgeon, allowed: torch.Tensor, stops: Sequence[int],
                quota: Quota | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        """Delete greedily until each count in ``stops``; yields ``(Q, saliency parts, count so far)`` per
        group, a group never crossing a stop (nor, with ``quota``, a tensor's quota)."""
        stats = surgeon.stats
        left = int(allowed.sum()) if quota is None else min(int(allowed.sum()), quota.total())
        done = 0
        for stop in stops:
            while done < stop and left:
                sync(surgeon.device)
                start = time.perf_counter()
                flushed = stats.downdate_s + stats.compact_s
                k = min(self.group_size, stop - done, left)
                s = surgeon.saliencies(allowed)
                if k == 1:
                    Q = torch.argmin(s).reshape(1)
                else:
                    Q = torch.topk(s, k, largest=False, sorted=True).indices
                if quota is not None:
                    Q = quota.take(Q, allowed)
                    k = Q.numel()
                parts = surgeon.delete(Q)
                allowed[Q] = False
                left -= k
                done += k
                stats.groups += 1
                stats.deletions += k
                sync(surgeon.device)
                stats.select_s += time.perf_counter() - start - (stats.downdate_s + stats.compact_s - flushed)
                yield Q, parts, done

    def prune_path(self, model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                   counts: Sequence[int], *, mask: dict[str, torch.Tensor] | None = None,
                   candidates: dict[str, torch.Tensor] | None = None,
                   quotas: dict[str, int] | None = None) -> Iterator[Checkpoint]:
        """One deletion sequence from ``model``, yielding a :class:`Checkpoint` after each of ``counts``
        (increasing numbers of deletions, counted from now): the one-shot states at several sparsities from a
        single inverse. Groups are cut short so that each count is met exactly. ``quotas`` (layer ranking):
        at most that many deletions per tensor, the best among the tensors whose quota is not yet met."""
        counts = [int(c) for c in counts]
        if not counts or any(c < 0 for c in counts) or counts != sorted(counts):
            raise ValueError("counts must be a non-empty increasing list of non-negative integers; got "
                             f"{counts}")
        mask = model_mask(model) if mask is None else mask
        candidates = mask if candidates is None else candidates
        surgeon, layout, allowed, quota, w0, offsets, params = self._start(model, loss_fn, inputs, targets, mask,
                                                                           candidates, quotas)
        if self.procedure == "one-step":
            yield from self._one_step_path(surgeon, layout, allowed, counts, params, quota)
            return
        order: list[torch.Tensor] = []
        values: list[torch.Tensor] = []
        done, remaining = 0, list(counts)
        groups = self._groups(surgeon, allowed, counts, quota)
        while remaining:
            while done < remaining[0]:
                step = next(groups, None)
                if step is None:
                    break
                Q, parts, done = step
                order.append(Q)
                values.append(parts)
            stopped = "count" if done >= remaining[0] else "exhausted"
            deletions = _name_deletions(layout, offsets, order, values)
            yield Checkpoint(done, deletions, _unflatten(layout, surgeon.w - w0, params), stopped,
                             surgeon.stats)
            remaining.pop(0)
            if stopped == "exhausted":
                return

    def _one_step_path(self, surgeon: Surgeon, layout, allowed: torch.Tensor, counts: list[int],
                       params: dict[str, torch.Tensor], quota: Quota | None = None) -> Iterator[Checkpoint]:
        """WoodFisher's one-shot at each count: the ``count`` smallest ``L_q`` of one ranking (with
        ``quota``: of each tensor's own ranking), deleted with the sum of their single-weight updates (each
        deletion's saliency is its own ``L_q``)."""
        stats = surgeon.stats
        sync(surgeon.device)
        start = time.perf_counter()
        s = surgeon.saliencies(allowed)
        ranking = torch.argsort(s, stable=True)[: int(allowed.sum())]
        if quota is not None:
            ranking = quota.take(ranking, allowed.clone())
        w0 = surgeon.w.clone()
        offsets = [layout.slice(name).start for name in layout.names]
        for count in counts:
            Q = ranking[:count]
            w = w0 + surgeon.one_step_update(Q)
            w[Q] = 0.0
            stats.groups, stats.deletions = stats.groups + 1, Q.numel()
            sync(surgeon.device)
            stats.select_s += time.perf_counter() - start
            deletions = _name_deletions(layout, offsets, [Q], [s[Q]])
            yield Checkpoint(Q.numel(), deletions, _unflatten(layout, w - w0, params),
                             "count" if Q.numel() == count else "exhausted", stats)
            if Q.numel() < count:
                return
            start = time.perf_counter()

    def select(self, model, loss_fn, inputs, targets, *, count, mask=None, candidates=None,
               quotas=None) -> Selection:
        """The first ``count`` deletions of the sequence (``None``: every candidate), their joint change."""
        mask = model_mask(model) if mask is None else mask
        candidates = mask if candidates is None else candidates
        if count is None:
            count = sum(int(c.sum()) for c in candidates.values())
        if count == 0:
            return Selection()
        path = self.prune_path(model, loss_fn, inputs, targets, [count], mask=mask, candidates=candidates,
                               quotas=quotas)
        return next(path).selection()

    def sequence(self, model, loss_fn, inputs, targets, *, mask=None, candidates=None,
                 quotas=None) -> Iterator[Step]:
        """One deletion at a time, in order, with the cumulative change of every weight. Within a group every
        step carries the change after the whole group (the members are deleted jointly); with
        ``procedure="one-step"`` each step carries the one-step change of every deletion so far (one
        matrix-vector product per step)."""
        mask = model_mask(model) if mask is None else mask
        candidates = mask if candidates is None else candidates
        if self.procedure == "one-step":
            total = sum(int((c.to(torch.bool) & m.to(torch.bool)).sum())
                        for c, m in zip(candidates.values(), mask.values(), strict=True))
            previous = 0
            for checkpoint in self.prune_path(model, loss_fn, inputs, targets, range(1, total + 1), mask=mask,
                                              candidates=candidates, quotas=quotas):
                for d in checkpoint.deletions[previous:]:
                    yield Step(d, checkpoint.delta)
                previous = checkpoint.count
            return "exhausted"
        surgeon, layout, allowed, quota, w0, offsets, params = self._start(model, loss_fn, inputs, targets, mask,
                                                                           candidates, quotas)
        for Q, parts, _ in self._groups(surgeon, allowed, [int(allowed.sum())], quota):
            delta = _unflatten(layout, surgeon.w - w0, params)
            for d in _name_deletions(layout, offsets, [Q], [parts]):
                yield Step(d, delta)
        return "exhausted"

    # ------------------------------------------------------------------------------------------------------
    # The hooks of one inverse

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        """``L_q = w_q^2 / (2 [A^-1]_qq)`` of each present entry with the deleted ones downdated out; 0 where
        deleted. Keyed like ``named_parameters``."""
        mask = model_mask(model) if mask is None else mask
        surgeon, layout = self._surgeon(model, loss_fn, inputs, targets, mask)
        s = surgeon.saliencies(surgeon.alive.clone())
        s = torch.where(surgeon.alive, s, torch.zeros_like(s))
        return _unflatten(layout, s, dict(model.named_parameters()))

    def update(self, model, loss_fn, inputs, targets, *, mask=None, delete):
        """Joint deletion of the entries where ``delete`` is True:
        ``dw = -A^-1[:, Q] (A^-1[Q, Q])^-1 w_Q``, computed ``group_size`` at a time (deleting a set in parts,
        each with its exact update and downdate, is the joint deletion); with ``procedure="one-step"`` the
        sum of the single-weight updates instead. The deleted entries of ``w + dw`` are 0."""
        mask = model_mask(model) if mask is None else mask
        surgeon, layout = self._surgeon(model, loss_fn, inputs, targets, mask)
        w0 = surgeon.w.clone()
        Q = torch.nonzero(layout.flatten({k: d.to(torch.bool) for k, d in delete.items()}).to(torch.bool),
                          as_tuple=True)[0].to(w0.device)
        dead = Q[~surgeon.alive[Q]]
        if dead.numel():
            raise ValueError(f"delete must name present entries only; {dead.numel()} of them are already "
                             "deleted (mask False)")
        if self.procedure == "one-step":
            dw = surgeon.one_step_update(Q)
            dw[Q] = -w0[Q]
            return _unflatten(layout, dw, dict(model.named_parameters()))
        for i in range(0, Q.numel(), self.group_size):
            surgeon.delete(Q[i:i + self.group_size])
        return _unflatten(layout, surgeon.w - w0, dict(model.named_parameters()))

    def single_deletion_updates(self, model, loss_fn, inputs, targets, deletions, *, mask=None):
        """eq. (5) for each ``(name, index)`` alone, from one inverse."""
        mask = model_mask(model) if mask is None else mask
        surgeon, layout = self._surgeon(model, loss_fn, inputs, targets, mask)
        params = dict(model.named_parameters())
        for name, index in deletions:
            q = layout.slice(name).start + index
            dw = -(surgeon.w[q] / surgeon.d[q]) * surgeon.column(q)
            dw[q] = -surgeon.w[q]
            yield _unflatten(layout, dw, params)


def _name_deletions(layout, offsets: list[int], order: list[torch.Tensor], values: list[torch.Tensor]
                    ) -> list[Deletion]:
    if not order:
        return []
    positions = torch.cat(order).tolist()
    saliencies = torch.cat(values).tolist()
    out = []
    for q, s in zip(positions, saliencies, strict=True):
        i = bisect.bisect_right(offsets, q) - 1
        out.append(Deletion(layout.names[i], q - offsets[i], float(s)))
    return out


def _unflatten(layout, flat: torch.Tensor, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {n: t.to(params[n].dtype).clone() for n, t in layout.unflatten(flat).items()}
