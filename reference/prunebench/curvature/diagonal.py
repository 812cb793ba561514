"""Hessian diagonals by second-order back-propagation: exact, OBD's approximation, GGN, Fisher, Hutchinson.

Reference:
    Y. LeCun, J. S. Denker and S. A. Solla (1990), "Optimal Brain Damage", in D. S. Touretzky (ed.),
    Advances in Neural Information Processing Systems 2 (NIPS 1989), pp. 598-605. Morgan Kaufmann.

For ``E = loss_fn(model(X), y)`` and a layer with pre-activation ``a = W x (+ b)``, per pattern (sample),
OBD's second-derivative back-propagation (PAPERS.md section 1) starts from

    d2E/dw_ij^2 = x_j^2 d2E/da_i^2,     h_kk = sum over the connections (i, j) sharing u_k of d2E/dw_ij^2.

The curvatures differ only in what stands for the pre-activation Hessian ``H_a = d2E/da^2``.

- ``"lecun"`` / ``"lecun-lm"``: OBD's diagonal rules, per pattern (:mod:`._lecun`);
- ``"exact"``, ``"ggn"``, ``"fisher"``: the exact diagonal of the Hessian, of the generalised Gauss-Newton
  matrix ``J^T (d2E/dz^2) J`` and of the empirical Fisher ``s * sum_n g_n g_n^T``, by one backward sweep
  (:mod:`._backward`);
- ``"hutchinson"``: ``mean_k v_k * (H v_k)`` over ``probes`` Rademacher vectors ``v_k`` (Hessian-vector
  products by double back-propagation), seeded; unbiased, with standard deviation
  ``sqrt(sum_{j != i} H_ij^2 / probes)`` for entry ``i``.

On the CPU a model with convolutions is swept in chunks of samples (a few MiB of factor columns each), summed:
faster in cache and with a fraction of the memory; the loss keeps the whole batch's scale.

A model outside the sweeps (a layer outside :data:`._backprop.SUPPORTED`, a forward that is not an
``nn.Sequential``): ``"exact"``, ``"ggn"`` and ``"fisher"`` come from the generic exact path of :mod:`.generic`
with one :class:`.generic.FallbackWarning` line naming the layer and the cost; OBD's recursions follow the
layers and raise a ``ValueError`` instead.

The kinds are declared in :mod:`.kinds` (:data:`.kinds.DIAGONAL`); the peers (``backend="torchfunc"``,
``"backpack"``, ``"curvlinops"``) are reached through :mod:`.peers`.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from .._validation import integer, renamed
from ..models import effective_params, functional_forward
from . import generic, peers
from ._backprop import SUPPORTED, LossTerms, Unsupported, plan, record
from ._backward import crossed_in_pieces, sweep
from ._lecun import lecun
from .health import Curvature, CurvatureHealth, check_finite, result_health
from .kinds import BACKENDS, DIAGONAL
from .layout import ParamLayout

__all__ = ["BACKENDS", "METHODS", "check_problem", "column_bytes", "hessian_diag"]

METHODS = DIAGONAL
"""The diagonals (:data:`.kinds.DIAGONAL`), under the name this module first gave them."""


def hessian_diag(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                 curvature: str = "exact", *, backend: str = "native", probes: int = 100, seed: int = 0,
                 **former: str) -> Curvature:
    """A Hessian diagonal of ``E = loss_fn(model(inputs), targets)`` (each curvature: see the module docstring).

    Args:
        model: a :class:`prunebench.models.Net` (any ``nn.Sequential`` of the supported layers; pruned layers
            are differentiated in their effective tensor ``weight_orig * weight_mask``).
        loss_fn: ``nn.MSELoss`` or ``nn.CrossEntropyLoss``, reduction ``"sum"`` or ``"mean"``.
        inputs: ``[N, *model.input_shape]``, cast to the model's dtype.
        targets: ``[N, C]`` (MSE, class probabilities) or ``[N]`` class indices.
        curvature: one of :data:`.kinds.DIAGONAL` (formerly ``method=``, still accepted with a
            ``DeprecationWarning``).
        backend: ``"native"`` (every curvature); ``"torchfunc"`` (``"exact"``, ``"ggn"``, ``"fisher"`` as
            diagonals of the dense oracle; small models); ``"backpack"`` / ``"curvlinops"`` (``"exact"``,
            ``"ggn"``, ``"fisher"``; optional extras, see :mod:`.peers`).
        probes, seed: number of Rademacher probes and their seed (``"hutchinson"`` only).

    Returns:
        :class:`Curvature`: a dict keyed exactly like ``dict(model.named_parameters())``, each value shaped
        like its parameter, with ``.health`` (negative fraction, curvature, backend, no damping).
    """
    curvature = renamed("hessian_diag", former, {"method": "curvature"}).get("curvature", curvature)
    if curvature not in DIAGONAL:
        raise ValueError(f"curvature must be one of {list(DIAGONAL)}; got {curvature!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}; got {backend!r}")
    if curvature == "hutchinson":
        integer("probes", probes, expected="a positive int")
    params = effective_params(model)
    check_problem(model, params, inputs, targets)
    dtype = next(iter(params.values())).dtype
    inputs = inputs.to(dtype)
    check_finite(params, inputs, targets)
    if backend == "native":
        values = _native(model, params, loss_fn, inputs, targets, curvature, probes, seed)
    else:
        values = peers.diag(backend, curvature, model, loss_fn, inputs, targets)
    values = {name: values[name] for name in params}
    negative = result_health(values, f"the {curvature} Hessian diagonal")
    return Curvature(values, CurvatureHealth(curvature=curvature, backend=backend, negative_fraction=negative))


def check_problem(model: nn.Module, params: dict[str, torch.Tensor], inputs: torch.Tensor,
                  targets: torch.Tensor) -> None:
    """Refuse, with a ``ValueError`` saying what was expected, a model without parameters and inputs or
    targets that are not a batch (one leading sample dimension, ``N >= 1``, the same ``N`` for both)."""
    if not params:
        raise ValueError(f"model must have parameters (curvature is taken with respect to them); got a "
                         f"{type(model).__name__} with none. Pass the model whose weights are to be pruned.")
    shape = tuple(inputs.shape)
    expected = getattr(model, "input_shape", None)
    if inputs.dim() == 0 or shape[0] == 0 or (expected is not None and len(shape) != len(expected) + 1):
        want = f"[N, {', '.join(map(str, expected))}]" if expected is not None else "[N, ...]"
        raise ValueError(f"inputs must be a batch of shape {want} with N >= 1; got shape {shape}. A single "
                         "sample is a batch of one: pass x.unsqueeze(0).")
    if targets.dim() == 0 or targets.shape[0] != shape[0]:
        raise ValueError(f"targets must hold one entry per sample (N = {shape[0]} rows); got shape "
                         f"{tuple(targets.shape)}.")


# benchmarks/planted_slowdown.py wraps this function by its signature: keep the name of its sixth argument.
def _native(model, params, loss_fn, inputs, targets, method, probes, seed) -> dict[str, torch.Tensor]:
    if method == "hutchinson":
        return _hutchinson(model, loss_fn, inputs, targets, probes, seed)
    try:
        return _sweeps(model, params, loss_fn, inputs, targets, method)
    except Unsupported as err:
        return _fallback(model, loss_fn, inputs, targets, method, err)


def _sweeps(model, params, loss_fn, inputs, targets, curvature) -> dict[str, torch.Tensor]:
    """The sweeps over the batch in chunks of samples (:func:`_chunk_size`), summed."""
    steps = plan(model, params)
    N = inputs.shape[0]
    chunk = _chunk_size(steps, inputs, loss_fn, curvature) if curvature in ("exact", "ggn", "fisher") else N
    total: dict[str, torch.Tensor] = {}
    for a in range(0, N, chunk):
        part = _sweeps_rows(steps, loss_fn, inputs[a:a + chunk], targets[a:a + chunk], curvature, N)
        for name, value in part.items():
            total[name] = value if name not in total else total[name].add_(value)
    return total


CHUNK_BYTES = 4 * 2**20
"""Bytes of factor columns (``r`` columns at the widest position, for the samples of one chunk) that a sweep over a
model with convolutions holds at once; the exact sweep, which may hold them at every position, twice this over
all positions."""


def _chunk_size(steps, inputs, loss_fn, curvature, measured: tuple[int, list[int]] | None = None) -> int:
    """Samples per sweep: all of them for a dense chain (its products run fastest on the whole batch) and on a
    GPU; for a chain with a convolution on the CPU, as many as keep its factor columns within
    :data:`CHUNK_BYTES` and within the forward pass's activations of the whole batch (at least 16 samples).

    A convolution's per-sample maps then stay in cache, and the peak memory stays within a few gradients'.
    Measured on the benchmark zoo's CNNs at batch 256 (one thread): the GGN diagonal 1.0-1.4x and the exact one
    1.0-3x faster than in one piece, with 2-10x less memory above the gradient's. ``measured``: the
    :func:`_columns_and_sizes` of this problem, when already known.
    """
    N = inputs.shape[0]
    if inputs.device.type != "cpu" or not any(step.kind == "conv" for step in steps):
        return N
    r, sizes = measured or _columns_and_sizes(steps, inputs, loss_fn, curvature)
    exact = curvature == "exact"  # the exact sweep may leave sources with columns at every position
    largest = r * (sum(sizes) if exact else max(sizes))
    chunks = max(math.ceil(largest * inputs.element_size() * N / (2 * CHUNK_BYTES if exact else CHUNK_BYTES)),
                 math.ceil(largest / sum(sizes)), 1)
    return max(min(16, N), math.ceil(N / chunks))


def _columns_and_sizes(steps, inputs, loss_fn, curvature) -> tuple[int, list[int]]:
    """The sweep's columns per sample, ``r`` = 1 (Fisher), ``C`` (MSE) or ``C - 1`` (cross-entropy), and the
    per-sample size of every position after the input (from a forward pass of one sample)."""
    with torch.no_grad():
        trace = record(steps, inputs[:1], second=False)
    C = trace.output.shape[1]
    r = 1 if curvature == "fisher" else C if isinstance(loss_fn, nn.MSELoss) else C - 1
    return r, [math.prod(trace.shape(i)) for i in range(1, len(steps) + 1)]


def column_bytes(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, curvature: str) -> int | None:
    """Bytes of the factor columns that the native ``exact``, ``ggn`` or ``fisher`` sweep holds at once at its
    widest position (``r`` per sample, for one chunk of samples; ``None`` for the other curvatures; a dense
    chain's first Linear output holds them only in pieces, :func:`._backward.crossed_in_pieces`): the floor
    of its memory beyond the forward pass (the exact sweep may hold more, its f'' terms turned into columns).
    The benchmark sets it against a gradient's peak memory."""
    if curvature not in ("exact", "ggn", "fisher"):
        return None
    steps = plan(model, effective_params(model))
    r, sizes = _columns_and_sizes(steps, inputs, loss_fn, curvature)
    chunk = _chunk_size(steps, inputs, loss_fn, curvature, (r, sizes))
    pieces = crossed_in_pieces(steps)  # below its output, the columns are held in pieces no larger
    held = sizes if pieces is None else sizes[pieces:]
    return chunk * r * max(held) * inputs.element_size()


def _sweeps_rows(steps, loss_fn, inputs, targets, curvature, samples) -> dict[str, torch.Tensor]:
    """The diagonal's sum over the samples ``inputs``, of a batch of ``samples`` (the loss's scale)."""
    with torch.no_grad():
        trace = record(steps, inputs, second=curvature in ("exact", "lecun"))
        loss = LossTerms.of(loss_fn, trace.output, targets, trace.log_softmax, samples=samples)
        if curvature in ("lecun", "lecun-lm"):
            return lecun(steps, trace, loss, curvature_terms=curvature == "lecun")
        if curvature == "fisher":
            return sweep(steps, trace, cols=loss.grad.unsqueeze(1) / math.sqrt(loss.scale), diag=None, grad=None)
        cols, diag = (None, loss.diagonal) if loss.isotropic else (loss.factor, None)
        return sweep(steps, trace, cols=cols, diag=diag, grad=loss.grad if curvature == "exact" else None)


def _fallback(model, loss_fn, inputs, targets, curvature, err: Unsupported) -> dict[str, torch.Tensor]:
    """The generic exact path (:mod:`.generic`) for a model outside the native sweeps, with one warning line;
    OBD's recursions follow the layers and have no such path."""
    if curvature in ("lecun", "lecun-lm"):
        raise ValueError(f"curvature {curvature!r} is OBD's recursion over the layers, and {err.layer} is outside "
                         f"the layers it covers ({SUPPORTED}); use curvature 'exact', 'ggn' or 'fisher', which "
                         "have a generic exact path.") from None
    layout = ParamLayout.from_model(model)
    with torch.no_grad():
        outputs = model(inputs[:1]).shape[-1]
    warnings.warn(f"{err.layer} is outside the native curvature sweeps: the {curvature} diagonal comes from the "
                  f"generic exact path, {generic.cost(curvature, layout.num_params, inputs.shape[0], outputs)}.",
                  generic.FallbackWarning, stacklevel=4)
    return layout.unflatten(generic.diagonal(model, loss_fn, inputs, targets, curvature).detach())


def _hutchinson(model, loss_fn, inputs, targets, probes: int, seed: int) -> dict[str, torch.Tensor]:
    """``mean_k v_k * (H v_k)`` over Rademacher ``v_k`` drawn from a CPU generator seeded with ``seed``."""
    layout = ParamLayout.from_model(model)
    params = {k: v.detach().requires_grad_(True) for k, v in effective_params(model).items()}
    tensors = list(params.values())
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(layout.num_params, dtype=tensors[0].dtype, device=tensors[0].device)
    with torch.enable_grad():
        E = loss_fn(functional_forward(model, params, inputs), targets)
        grads = torch.autograd.grad(E, tensors, create_graph=True)
        for _ in range(probes):
            v = (2 * torch.randint(0, 2, (layout.num_params,), generator=generator) - 1).to(total)
            hv = torch.autograd.grad(grads, tensors, grad_outputs=list(layout.unflatten(v).values()),
                                     retain_graph=True, allow_unused=True, materialize_grads=True)
            total += v * layout.flatten(dict(zip(layout.names, hv, strict=True)))
    return {k: t.detach() for k, t in layout.unflatten(total / probes).items()}
