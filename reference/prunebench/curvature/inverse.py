"""Inverse curvature for Optimal Brain Surgeon: one dense inverse (or one per layer block), and its downdates.

References:
    B. Hassibi and D. G. Stork (1993), "Second order derivatives for network pruning: Optimal Brain
    Surgeon", in S. J. Hanson, J. D. Cowan and C. L. Giles (eds.), Advances in Neural Information Processing
    Systems 5 (NIPS 1992), pp. 164-171. Morgan Kaufmann. -- the one-pass recursion (eq. 17) and the deletion
    downdate.
    S. P. Singh and D. Alistarh (2020), "WoodFisher: Efficient second-order approximation for neural network
    compression", NeurIPS 33. -- the same recursion k vectors at a time (Woodbury), blockwise inverses.
    E. Kurtic et al. (2022), "The Optimal BERT Surgeon: Scalable and accurate second-order pruning for large
    language models", EMNLP. -- deleting a group of weights at once (the rank-|Q| downdate below).

What is inverted. For ``E = loss_fn(model(X), y)`` over ``N`` samples, ``hessian="ggn"`` and ``"fisher"``
have the outer-product form ``G = (1/N) sum_k sum_c X_kc X_kc^T`` (the paper's ``H = (1/P) sum_k X_k X_k^T``
with ``P = N`` samples, the sum also running over outputs):

- ``"ggn"``: ``X_kc = sqrt(N) J_k^T s_kc``, ``J_k = dz_k/dtheta`` the output Jacobian of sample ``k`` and
  ``s_kc`` the columns of the loss Hessian's factor ``d2E/dz_k^2 = sum_c s_kc s_kc^T``. For the paper's
  error ``E = 1/(2N) sum_k |t_k - o_k|^2`` that factor is ``I/sqrt(N)``, so ``X_kc = dF_c(w, in_k)/dw``
  exactly as in the paper; torch's ``MSELoss`` carries its own constant (``2`` for "sum", ``2/(N C)`` for
  "mean").
- ``"fisher"`` (empirical Fisher): one vector per sample, ``X_k = sqrt(N s) g_k`` with ``g_k`` the gradient
  of the per-sample loss and ``s`` = 1 ("sum") or ``1/N`` ("mean"), so ``G = s sum_k g_k g_k^T`` has the
  scale of ``E``.

Every method returns ``A^-1`` for ``A = G + (alpha + damping) I`` (``"exact"``: ``G`` the full Hessian):

- ``"recursion"`` -- eq. 17, one pass over the data, one rank-1 update per vector ``X``:
  ``H^-1 <- H^-1 - H^-1 X X^T H^-1 / (N + X^T H^-1 X)`` from ``H_0^-1 = I / alpha``. Each step is the
  Sherman-Morrison identity for adding ``X X^T / N``, so after all ``N C`` vectors the result is *exactly*
  (not only at a fixed point) ``(alpha I + (1/N) sum_k sum_c X_kc X_kc^T)^-1``. Matrix-vector bound:
  ``O(P^2)`` memory traffic per vector.
- ``"woodbury"`` -- the same updates ``k = block_size`` at a time,
  ``H^-1 <- H^-1 - H^-1 U (N I_k + U^T H^-1 U)^-1 U^T H^-1``: equal to the recursion up to float64
  roundoff, matrix-matrix bound (``4 P^2 k`` flop per block).
- ``"cholesky"`` -- form ``A`` densely (``"exact"`` from the ``torch.func`` oracle) and invert it in place
  (``potrf`` + ``potri``, about ``P^3`` flop). An indefinite ``A`` (the exact Hessian away from a minimum)
  either raises or is damped (``on_indefinite``).
- ``"block-diagonal"`` -- one inverse per layer block (a module's weight and bias), by ``"woodbury"``
  (``"cholesky"`` for ``hessian="exact"``); the same as any method with ``blocks="module"``.

Precision (what each step needs): the per-sample vectors are fine in float32 (relative error about 1e-7 in
``G``); the inverse loses about ``log10(kappa)`` digits, ``kappa`` the condition number of ``A`` (about
``lambda_max(G) / alpha`` for a small ``alpha``). Measured (tests/test_curvature_inverse.py, MONK 17-3-1
GGN): the float32 inverse differs from the float64 one by about ``0.01 kappa eps32`` relative to its largest
entry (``eps32`` = 1.2e-7): 4e-7 at ``kappa`` = 9e2, 2e-3 at ``kappa`` = 9e6 (``alpha`` = 1e-6, the paper's
range), and smaller entries lose more. So build and downdate in float64 (the default); float32 halves the
memory and is acceptable when ``health.condition_estimate * 1.2e-7`` is well below the accuracy the
saliencies need.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import psutil
import torch
from torch import nn
from torch.nn.utils import prune

from ..models import effective_params
from . import oracle
from ._backprop import LossTerms, plan, record
from .backends import detached_copy
from .dense import hessian as dense_hessian
from .dense import per_sample_vectors
from .health import CurvatureHealth, check_finite, negative_fraction
from .layout import ParamLayout

__all__ = ["HESSIANS", "METHODS", "InverseCurvature", "inverse_hessian"]

METHODS = ("recursion", "woodbury", "cholesky", "block-diagonal")
HESSIANS = {"recursion": ("ggn", "fisher"), "woodbury": ("ggn", "fisher"),
            "cholesky": ("exact", "ggn", "fisher"), "block-diagonal": ("exact", "ggn", "fisher")}
"""The curvatures each method can invert: the data-pass methods need the outer-product form."""

_DAMPING_GROWTH = 10.0
_MAX_DAMPING_TRIES = 40
_ROWS = 1024  # row chunk for O(P^2) reductions without a P x P temporary


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
            methods), ``failure`` why a factorisation failed before damping rescued it,
            ``negative_fraction`` that of the diagonal of the undamped source matrix.
        method: the method that built it.
        removed: ``Tensor[P]`` of bool, the positions deleted so far by :meth:`downdate` and
            :meth:`downdate_group` (their rows and columns are zero).
    """

    blocks: list[tuple[slice, torch.Tensor]]
    layout: ParamLayout
    health: CurvatureHealth
    method: str
    removed: torch.Tensor = field(default=None)

    def __post_init__(self):
        if self.removed is None:
            self.removed = torch.zeros(self.num_params, dtype=torch.bool, device=self.blocks[0][1].device)
        self._starts = [sl.start for sl, _ in self.blocks]

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
        _ensure_memory(P * P * M.element_size(), M.device, f"a dense {P} x {P} {_dtype_name(M.dtype)} copy")
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
            L = _cholesky_or_raise(C[local], "A^-1[Q, Q]")
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
        L = _cholesky_or_raise(cols[idx], "A^-1[Q, Q]")
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


def inverse_hessian(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                    method: str = "recursion", *, hessian: str = "fisher", alpha: float = 1e-6,
                    damping: float = 0.0, block_size: int = 256, dtype: torch.dtype = torch.float64,
                    blocks: str | Sequence[Sequence[str]] | None = None,
                    on_indefinite: str = "raise", max_block: int | None = None) -> InverseCurvature:
    """The inverse of ``A = G + (alpha + damping) I`` for ``E = loss_fn(model(inputs), targets)``.

    Args:
        model: a :class:`prunebench.models.Net` (pruned layers are differentiated in their effective tensor).
        loss_fn: ``nn.MSELoss`` or ``nn.CrossEntropyLoss``, reduction "sum" or "mean".
        inputs, targets: the data ``[N, *input_shape]`` and ``[N, C]`` or ``[N]``.
        method: ``"recursion"`` (the paper's eq. 17), ``"woodbury"`` (same result, fast), ``"cholesky"`` or
            ``"block-diagonal"`` (see the module docstring).
        hessian: ``"ggn"`` (the paper's several-output form), ``"fisher"`` (empirical Fisher) or, for the
            Cholesky and block-diagonal methods, ``"exact"`` (the full Hessian by ``torch.func``: small
            blocks).
        alpha: the recursion's ``H_0^-1 = I / alpha`` (positive for the data-pass methods); every method
            inverts ``G + (alpha + damping) I``, so all of them agree on the same matrix.
        damping: extra multiple of the identity; with ``on_indefinite="damp"`` it grows by 10x until ``A``
            factorises (the final value is in ``health.damping`` and the first failure in ``health.failure``).
        block_size: vectors per Woodbury block (and per data chunk of every method).
        dtype: dtype of every step (vectors, matrix, factorisation); float64 unless memory forbids, see the
            module docstring.
        blocks: ``None`` (one dense inverse; ``"module"`` for ``method="block-diagonal"``), ``"module"`` (a
            module's weight and bias), ``"parameter"``, or groups of parameter names, each group contiguous in
            ``named_parameters()`` order and together covering every parameter.
        on_indefinite: ``"raise"`` (default) or ``"damp"`` when a Cholesky factorisation fails.
        max_block: when given, every block is cut into consecutive pieces of at most this many weights (the
            last one shorter), each inverted on its own: WoodFisher's ``--fittable-params`` layout (Singh &
            Alistarh 2020, ``pruners/woodfisherblock.py``).

    Returns:
        :class:`InverseCurvature`. Raises ``MemoryError`` before allocating when the matrices and the
        data-pass workspace do not fit (``psutil`` free memory, or the GPU's); the ``torch.func`` workspace of
        ``hessian="exact"`` is not counted.
    """
    method, blocks = _validate(method, hessian, alpha, damping, block_size, dtype, blocks, on_indefinite)
    check_finite(effective_params(model), inputs, targets)
    work = _in_dtype(model, dtype)
    device = next(work.parameters()).device
    inputs = inputs.detach().to(device, dtype)
    targets = targets.detach().to(device, dtype if targets.is_floating_point() else targets.dtype)
    layout = ParamLayout.from_model(work)
    slices = _block_slices(layout, blocks)
    if max_block is not None:
        if isinstance(max_block, bool) or not isinstance(max_block, int) or max_block < 1:
            raise ValueError(f"max_block must be a positive int or None; got {max_block!r}")
        slices = [slice(a, min(a + max_block, sl.stop)) for sl in slices for a in range(sl.start, sl.stop, max_block)]
    copies = 2 if (method == "cholesky" and on_indefinite == "damp") else 1
    needed = copies * sum((sl.stop - sl.start) ** 2 for sl in slices) * _itemsize(dtype)
    workspace = 4 * layout.num_params * block_size * _itemsize(dtype)
    _ensure_memory(needed + workspace, device, _describe(layout, slices, dtype, copies),
                   _remedy(layout, dtype))
    shift = alpha + damping
    if method in ("recursion", "woodbury"):
        mats, norm_A, gdiag = _data_pass(work, loss_fn, inputs, targets, hessian, slices, shift, block_size,
                                         rank_one=method == "recursion")
        condition = max(norm_A) * max(_norm1(M) for M in mats)
        health = CurvatureHealth(method=hessian, backend="native", negative_fraction=negative_fraction(gdiag),
                                 damping=shift, condition_estimate=condition)
    else:
        sources = _dense_sources(work, loss_fn, inputs, targets, hessian, slices, block_size)
        neg = negative_fraction(torch.cat([S.diagonal() for S in sources]))
        mats, used, condition, failure = _invert_dense(sources, alpha, damping, on_indefinite, hessian)
        health = CurvatureHealth(method=hessian, backend="native", negative_fraction=neg, damping=used,
                                 condition_estimate=condition, failure=failure)
    return InverseCurvature(list(zip(slices, mats, strict=True)), layout, health, method)


# ----------------------------------------------------------------------------------------------------------
# Validation and memory


def _validate(method, hessian, alpha, damping, block_size, dtype, blocks, on_indefinite):
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}; got {method!r}")
    if hessian not in HESSIANS[method]:
        hint = (" (the exact Hessian has no outer-product form; use method='cholesky')" if hessian == "exact"
                else "")
        raise ValueError(f"hessian must be one of {list(HESSIANS[method])} for method={method!r}; got "
                         f"{hessian!r}{hint}")
    for name, value in (("alpha", alpha), ("damping", damping)):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite float >= 0; got {value!r}")
    if method == "block-diagonal":
        method = "cholesky" if hessian == "exact" else "woodbury"
        blocks = "module" if blocks is None else blocks
    if method in ("recursion", "woodbury") and not alpha > 0:
        raise ValueError(f"alpha must be > 0 for method={method!r} (it starts from H_0^-1 = I / alpha); "
                         f"got {alpha!r}")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int; got {block_size!r}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch.dtype such as torch.float64; got {dtype!r}")
    if on_indefinite not in ("raise", "damp"):
        raise ValueError(f"on_indefinite must be 'raise' or 'damp'; got {on_indefinite!r}")
    return method, blocks


def _block_slices(layout: ParamLayout, blocks) -> list[slice]:
    P = layout.num_params
    if blocks is None:
        return [slice(0, P)]
    if blocks == "module":
        return list(layout.blocks.values())
    if blocks == "parameter":
        return [layout.slice(name) for name in layout.names]
    if isinstance(blocks, str) or not isinstance(blocks, Sequence):
        raise ValueError(f"blocks must be None, 'module', 'parameter' or a list of parameter-name groups; "
                         f"got {blocks!r}")
    slices = []
    for group in blocks:
        pieces = sorted((layout.slice(name) for name in group), key=lambda s: s.start)
        if not pieces or any(a.stop != b.start for a, b in zip(pieces, pieces[1:], strict=False)):
            raise ValueError(f"each block must be a non-empty group of parameters that are contiguous in "
                             f"named_parameters() order; got {list(group)}")
        slices.append(slice(pieces[0].start, pieces[-1].stop))
    slices.sort(key=lambda s: s.start)
    covered = [s.start for s in slices] + [P]
    if covered[0] != 0 or any(s.stop != nxt for s, nxt in zip(slices, covered[1:], strict=True)):
        raise ValueError(f"blocks must cover every parameter exactly once; got {[list(g) for g in blocks]} "
                         f"for parameters {list(layout.names)}")
    return slices


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _gb(nbytes: float) -> str:
    return f"{nbytes / 1e9:.2f} GB"


def _available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: ``psutil`` for the CPU, ``torch.cuda.mem_get_info`` for a GPU."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return psutil.virtual_memory().available


def _ensure_memory(needed: int, device: torch.device, what: str, remedy: str = "") -> None:
    available = _available_bytes(device)
    if needed > available:
        raise MemoryError(f"inverse_hessian needs about {_gb(needed)} for {what}, but only {_gb(available)} "
                          f"is available on {device}.{remedy}")


def _describe(layout: ParamLayout, slices: list[slice], dtype: torch.dtype, copies: int) -> str:
    P = layout.num_params
    kind = f"a {P} x {P}" if len(slices) == 1 else f"{len(slices)} diagonal blocks of the {P} x {P}"
    extra = " (twice: on_indefinite='damp' keeps a copy to retry)" if copies == 2 else ""
    return f"P={P:,} parameters: {kind} {_dtype_name(dtype)} matrix{extra} plus workspace"


def _remedy(layout: ParamLayout, dtype: torch.dtype) -> str:
    size = _itemsize(dtype)
    block = sum((s.stop - s.start) ** 2 for s in layout.blocks.values()) * size
    options = [f"blocks='module' (layer-block-diagonal: {_gb(block)})"]
    if size > 4:
        options.append(f"dtype=torch.float32 ({_gb(layout.num_params ** 2 * 4)}; see the precision note in "
                       "prunebench.curvature.inverse)")
    return " Use " + " or ".join(options) + "."


def _in_dtype(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``model`` itself when every parameter already has ``dtype``, else a converted deep copy (with the
    effective ``orig * mask`` tensors of pruned layers recomputed in ``dtype``)."""
    if all(p.dtype == dtype for p in model.parameters()):
        return model
    twin = detached_copy(model).to(dtype)
    for module in twin.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                setattr(module, hook._tensor_name, hook.apply_mask(module))
    return twin


# ----------------------------------------------------------------------------------------------------------
# The vectors X (one data pass, in chunks)


def _vector_chunks(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                   hessian: str, block_size: int) -> Iterator[torch.Tensor]:
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
        columns_per_sample = 1 if hessian == "fisher" else forward(theta, inputs[:1]).shape[1]
        chunk = max(1, block_size // columns_per_sample)
        for start in range(0, N, chunk):
            x, y = inputs[start:start + chunk], targets[start:start + chunk]
            trace = record(steps, x, second=False) if steps is not None else None
            loss = LossTerms.of(loss_fn, trace.output if trace else forward(theta, x), y,
                                trace.log_softmax if trace else False)
            cols = loss.columns if hessian == "ggn" else loss.grad.unsqueeze(1) / math.sqrt(loss.scale)
            if loss_fn.reduction == "mean":  # the chunk's 1/n_chunk becomes the data set's 1/N
                cols = cols * math.sqrt(x.shape[0] / N)
            if trace is not None:
                vectors = layout.flatten(per_sample_vectors(steps, trace, cols))
            else:
                vectors = torch.einsum("nrc,ncp->nrp", cols, jacobians(theta, x))
            yield vectors.flatten(0, 1).T


def _data_pass(model, loss_fn, inputs, targets, hessian, slices, shift, block_size, rank_one):
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
    for V in _vector_chunks(model, loss_fn, inputs, targets, hessian, block_size):
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
    L = _cholesky_or_raise(S, "the Woodbury capacitance I + U^T H^-1 U")
    Wt = torch.linalg.solve_triangular(L, MV.T, upper=False)  # L^-1 V^T M, [k, p]
    M.addmm_(Wt.T, Wt, alpha=-1.0)


def _cholesky_or_raise(S: torch.Tensor, what: str) -> torch.Tensor:
    L, info = torch.linalg.cholesky_ex(S)
    if int(info):
        raise ValueError(f"{what} must be positive definite, but its Cholesky factorisation failed at "
                         f"leading minor {int(info)} of {S.shape[0]}; the inverse has lost positive "
                         "definiteness to roundoff: rebuild it in float64 or with a larger alpha/damping")
    return L


# ----------------------------------------------------------------------------------------------------------
# The dense path


def _dense_sources(model, loss_fn, inputs, targets, hessian, slices, block_size) -> list[torch.Tensor]:
    """The undamped diagonal blocks of ``G`` (or of the exact Hessian)."""
    if hessian == "exact":
        if len(slices) == 1:
            return [dense_hessian(model, loss_fn, inputs, targets, "exact").matrix.contiguous()]
        _, theta, forward, X, y = oracle.flat_problem(model, inputs, targets, inputs.dtype)
        out = []
        for sl in slices:
            def loss_of_block(part, sl=sl):
                return loss_fn(forward(torch.cat([theta[:sl.start], part, theta[sl.stop:]]), X), y)
            out.append(torch.func.hessian(loss_of_block)(theta[sl]).detach().contiguous())
        return out
    mats = [inputs.new_zeros(sl.stop - sl.start, sl.stop - sl.start) for sl in slices]
    for V in _vector_chunks(model, loss_fn, inputs, targets, hessian, block_size):
        for M, sl in zip(mats, slices, strict=True):
            M.addmm_(V[sl], V[sl].T)
    return mats


def _invert_dense(sources: list[torch.Tensor], alpha: float, damping: float, on_indefinite: str,
                  hessian: str) -> tuple[list[torch.Tensor], float, float, str | None]:
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
            norm_A = max(norm_A, _norm1(S))
            info = _spd_inverse_(S)
            if info:
                failed = (b, info, S.shape[0])
                break
        if failed is None:
            condition = norm_A * max(_norm1(S) for S in sources)
            return sources, shift, condition, failure
        b, info, p = failed
        where = f" of block {b}" if len(sources) > 1 else ""
        reason = (f"A = H + {shift:.3g} I (hessian={hessian!r}) is not positive definite: its Cholesky "
                  f"factorisation{where} failed at leading minor {info} of {p}")
        if on_indefinite == "raise":
            raise ValueError(f"{reason}. Pass on_indefinite='damp' to add damping until it factorises, a "
                             "larger damping, or hessian='ggn'/'fisher' (positive semi-definite)")
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


def _norm1(M: torch.Tensor) -> float:
    """``||M||_1`` of a symmetric matrix (max absolute row sum), by row chunks."""
    return max(float(M[r:r + _ROWS].abs().sum(1).max()) for r in range(0, M.shape[0], _ROWS))
