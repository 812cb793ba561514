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

What is inverted. For ``E = loss_fn(model(X), y)`` over ``N`` samples, ``curvature="ggn"`` and ``"fisher"``
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

Every solver returns ``A^-1`` for ``A = G + (alpha + damping) I`` (``"exact"``: ``G`` the full Hessian):

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
  (``"cholesky"`` for ``curvature="exact"``); the same as any solver with ``blocks="module"``.

Precision (what each step needs): the per-sample vectors are fine in float32 (relative error about 1e-7 in
``G``); the inverse loses about ``log10(kappa)`` digits, ``kappa`` the condition number of ``A`` (about
``lambda_max(G) / alpha`` for a small ``alpha``). Measured (tests/curvature/test_inverse.py, MONK 17-3-1
GGN): the float32 inverse differs from the float64 one by about ``0.01 kappa eps32`` relative to its largest
entry (``eps32`` = 1.2e-7): 4e-7 at ``kappa`` = 9e2, 2e-3 at ``kappa`` = 9e6 (``alpha`` = 1e-6, the paper's
range), and smaller entries lose more. So build and downdate in float64 (the default); float32 halves the
memory and is acceptable when ``health.condition_estimate * 1.2e-7`` is well below the accuracy the
saliencies need.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from .._validation import integer, real, renamed
from ..models import effective_params
from . import _memory
from .health import CurvatureHealth, check_finite, negative_fraction
from .inverse_curvature import InverseCurvature
from .kinds import SOLVER_CURVATURES, SOLVERS
from .layout import ParamLayout
from .peers import detached_copy
from .solvers import data_pass, dense_sources, invert_dense, norm1

__all__ = ["HESSIANS", "METHODS", "InverseCurvature", "inverse_hessian"]

METHODS = SOLVERS
"""The solvers (:data:`.kinds.SOLVERS`), under the name this module first gave them."""
HESSIANS = SOLVER_CURVATURES
"""The curvatures each solver can invert (:data:`.kinds.SOLVER_CURVATURES`), under their first name."""


def inverse_hessian(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                    solver: str = "recursion", *, curvature: str = "fisher", alpha: float = 1e-6,
                    damping: float = 0.0, block_size: int = 256, dtype: torch.dtype = torch.float64,
                    blocks: str | Sequence[Sequence[str]] | None = None, on_indefinite: str = "raise",
                    max_block: int | None = None, **former: str) -> InverseCurvature:
    """The inverse of ``A = G + (alpha + damping) I`` for ``E = loss_fn(model(inputs), targets)``.

    Args:
        model: a :class:`prunebench.models.Net` (pruned layers are differentiated in their effective tensor).
        loss_fn: ``nn.MSELoss`` or ``nn.CrossEntropyLoss``, reduction "sum" or "mean".
        inputs, targets: the data ``[N, *input_shape]`` and ``[N, C]`` or ``[N]``.
        solver: ``"recursion"`` (the paper's eq. 17), ``"woodbury"`` (same result, fast), ``"cholesky"`` or
            ``"block-diagonal"`` (see the module docstring; formerly ``method=``, still accepted with a
            ``DeprecationWarning``).
        curvature: ``"ggn"`` (the paper's several-output form), ``"fisher"`` (empirical Fisher) or, for the
            Cholesky and block-diagonal solvers, ``"exact"`` (the full Hessian by ``torch.func``: small
            blocks); formerly ``hessian=``, still accepted with a ``DeprecationWarning``.
        alpha: the recursion's ``H_0^-1 = I / alpha`` (positive for the data-pass solvers); every solver
            inverts ``G + (alpha + damping) I``, so all of them agree on the same matrix.
        damping: extra multiple of the identity; with ``on_indefinite="damp"`` it grows by 10x until ``A``
            factorises (the final value is in ``health.damping`` and the first failure in ``health.failure``).
        block_size: vectors per Woodbury block (and per data chunk of every solver).
        dtype: dtype of every step (vectors, matrix, factorisation); float64 unless memory forbids, see the
            module docstring.
        blocks: ``None`` (one dense inverse; ``"module"`` for ``solver="block-diagonal"``), ``"module"`` (a
            module's weight and bias), ``"parameter"``, or groups of parameter names, each group contiguous in
            ``named_parameters()`` order and together covering every parameter.
        on_indefinite: ``"raise"`` (default) or ``"damp"`` when a Cholesky factorisation fails.
        max_block: when given, every block is cut into consecutive pieces of at most this many weights (the
            last one shorter), each inverted on its own: WoodFisher's ``--fittable-params`` layout (Singh &
            Alistarh 2020, ``pruners/woodfisherblock.py``).

    Returns:
        :class:`InverseCurvature`. Raises ``MemoryError`` before allocating when the matrices and the
        data-pass workspace do not fit (``psutil`` free memory, or the GPU's); the ``torch.func`` workspace of
        ``curvature="exact"`` is not counted.
    """
    given = renamed("inverse_hessian", former, {"method": "solver", "hessian": "curvature"})
    solver, curvature = given.get("solver", solver), given.get("curvature", curvature)
    solver, blocks = _validate(solver, curvature, alpha, damping, block_size, dtype, blocks, on_indefinite)
    check_finite(effective_params(model), inputs, targets)
    work = _in_dtype(model, dtype)
    device = next(work.parameters()).device
    inputs = inputs.detach().to(device, dtype)
    targets = targets.detach().to(device, dtype if targets.is_floating_point() else targets.dtype)
    layout = ParamLayout.from_model(work)
    slices = _block_slices(layout, blocks)
    if max_block is not None:
        integer("max_block", max_block, expected="a positive integer or None")
        slices = [slice(a, min(a + max_block, sl.stop)) for sl in slices for a in range(sl.start, sl.stop, max_block)]
    copies = 2 if (solver == "cholesky" and on_indefinite == "damp") else 1
    needed = copies * sum((sl.stop - sl.start) ** 2 for sl in slices) * _memory.itemsize(dtype)
    workspace = 4 * layout.num_params * block_size * _memory.itemsize(dtype)
    _memory.ensure(needed + workspace, device, _memory.describe(layout, slices, dtype, copies),
                   _memory.remedy(layout, dtype))
    shift = alpha + damping
    if solver in ("recursion", "woodbury"):
        mats, norm_A, gdiag = data_pass(work, loss_fn, inputs, targets, curvature, slices, shift, block_size,
                                        rank_one=solver == "recursion")
        condition = max(norm_A) * max(norm1(M) for M in mats)
        health = CurvatureHealth(curvature=curvature, backend="native",
                                 negative_fraction=negative_fraction(gdiag), damping=shift,
                                 condition_estimate=condition)
    else:
        sources = dense_sources(work, loss_fn, inputs, targets, curvature, slices, block_size)
        neg = negative_fraction(torch.cat([S.diagonal() for S in sources]))
        mats, used, condition, failure = invert_dense(sources, alpha, damping, on_indefinite, curvature)
        health = CurvatureHealth(curvature=curvature, backend="native", negative_fraction=neg, damping=used,
                                 condition_estimate=condition, failure=failure)
    return InverseCurvature(list(zip(slices, mats, strict=True)), layout, health, solver)


def _validate(solver, curvature, alpha, damping, block_size, dtype, blocks, on_indefinite):
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {list(SOLVERS)}; got {solver!r}")
    if curvature not in SOLVER_CURVATURES[solver]:
        hint = (" (the exact Hessian has no outer-product form; use solver='cholesky')" if curvature == "exact"
                else "")
        raise ValueError(f"curvature must be one of {list(SOLVER_CURVATURES[solver])} for solver={solver!r}; got "
                         f"{curvature!r}{hint}")
    for name, value in (("alpha", alpha), ("damping", damping)):
        real(name, value, at_least=0.0, expected="a finite float >= 0")
    if solver == "block-diagonal":
        solver = "cholesky" if curvature == "exact" else "woodbury"
        blocks = "module" if blocks is None else blocks
    if solver in ("recursion", "woodbury") and not alpha > 0:
        raise ValueError(f"alpha must be > 0 for solver={solver!r} (it starts from H_0^-1 = I / alpha); "
                         f"got {alpha!r}")
    integer("block_size", block_size, expected="a positive int")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch.dtype such as torch.float64; got {dtype!r}")
    if on_indefinite not in ("raise", "damp"):
        raise ValueError(f"on_indefinite must be 'raise' or 'damp'; got {on_indefinite!r}")
    return solver, blocks


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
