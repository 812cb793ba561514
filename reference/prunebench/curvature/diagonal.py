"""Hessian diagonals by second-order back-propagation: exact, OBD's approximation, GGN, Fisher, Hutchinson.

Reference:
    Y. LeCun, J. S. Denker and S. A. Solla (1990), "Optimal Brain Damage", in D. S. Touretzky (ed.),
    Advances in Neural Information Processing Systems 2 (NIPS 1989), pp. 598-605. Morgan Kaufmann.

For ``E = loss_fn(model(X), y)`` and a layer with pre-activation ``a = W x (+ b)``, per pattern (sample),
OBD's second-derivative back-propagation (PAPERS.md section 1) starts from

    d2E/dw_ij^2 = x_j^2 d2E/da_i^2,     h_kk = sum over the connections (i, j) sharing u_k of d2E/dw_ij^2.

The methods differ only in what stands for the pre-activation Hessian ``H_a = d2E/da^2``.

``"lecun"`` / ``"lecun-lm"``: OBD's diagonal rules, per pattern, with x_i = f(a_i):

    output unit, E = sum_i (d_i - x_i)^2:  d2E/da_i^2 = 2 f'(a_i)^2 - 2 (d_i - x_i) f''(a_i)
    hidden unit:                           d2E/da_i^2 = f'(a_i)^2 sum_l w_li^2 d2E/da_l^2 + f''(a_i) dE/dx_i

    The output rule is generalised to ``f'^2 [d2E/dz^2]_ii + f'' dE/dx_i`` with the loss's own diagonal
    Hessian in the outputs: 2 per entry for MSE-sum, ``2/(N C)`` for MSE-mean, ``s p_i (1 - p_i)`` for
    cross-entropy (s = 1 or 1/N). The paper prints a minus sign before the hidden f'' term; the chain rule
    gives plus, consistent with the output rule. ``sum_l w_li^2`` runs over one linear map at a time (a
    Linear, a Conv2d's connections, an AvgPool2d's 1/k coefficients). ``"lecun-lm"`` drops every f'' term
    (the Levenberg-Marquardt approximation; never negative).

``"exact"``: the exact diagonal of the full Hessian, without forming it. Per sample, layer by layer,

    H_x(l) = W(l+1)^T H_a(l+1) W(l+1),     H_a(l) = D'(l) H_x(l) D'(l) + diag(f''(a_l) * dE/dx_l),

    with ``D' = diag(f'(a))``, from the loss Hessian ``d2E/dz^2`` down. ``H`` is carried as a signed low-rank
    factor ``G diag(s) G^T`` (the loss Hessian's ``C`` or ``C - 1`` columns) plus a diagonal ``e`` (the f''
    terms; for MSE also the loss Hessian, a multiple of the identity). Through a Linear layer ``e`` becomes
    ``d_out`` columns ``W^T diag(sqrt|e|)`` with signs ``sign(e)``, formed per sample only if an activation
    and then a second non-diagonal map follow (before that, its diagonal is ``(W^2)^T e``, and linear maps
    without an activation between act on the ``d_out`` rows of ``W``). Dense layers need only ``diag(H_a)``. A
    convolution shares each weight across positions, so it needs ``u^T H_a u`` over whole channel blocks for
    ``u = da/dW[c, j]``, an unfolded (im2col) input row ``U_j``: ``sum_k s_k (U_j . G_ck)^2`` for the factor,
    ``sum_p U_jp^2 e_cp`` for the diagonal. A diagonal that must cross a convolution or pooling is not
    expanded (that would take one column per unit): it stays behind as a source, with the factor columns
    present there, and each convolution below pushes its weight directions ``u`` forward to it (forward
    mode through the layers between, ``B``) and adds ``sum_m e_m (B u)_m^2 + sum_k s_k (G_k . B u)^2``.

``"ggn"``: the same sweep without the f'' terms, the exact diagonal of ``J^T (d2E/dz^2) J``: per sample
    ``sum_k (J_n^T s_nk)^2`` over the columns ``s_nk`` of the loss Hessian's factor.

``"fisher"``: the empirical Fisher ``s * sum_n g_n^2``, with ``g_n`` the gradient of the per-sample loss
    ``loss_fn(model(x_n), y_n)`` and ``s`` = 1 (``reduction="sum"``) or ``1/N`` (``"mean"``), so that it has
    the scale of ``E = s * sum_n loss_fn(model(x_n), y_n)``.

``"hutchinson"``: ``mean_k v_k * (H v_k)`` over ``probes`` Rademacher vectors ``v_k`` (Hessian-vector
    products by double back-propagation), seeded; unbiased, with standard deviation
    ``sqrt(sum_{j != i} H_ij^2 / probes)`` for entry ``i``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..models import effective_params, functional_forward
from . import generic, oracle
from ._backprop import (
    PIECEWISE_LINEAR,
    SUPPORTED,
    LossTerms,
    Step,
    Trace,
    Unsupported,
    adjoint,
    conv_project_squares,
    max_gather,
    plan,
    push,
    record,
    split_conv,
    split_linear,
    squares_times,
    unfold_input,
    unsupported,
    with_ones,
)
from .health import Curvature, CurvatureHealth, check_finite, result_health
from .layout import ParamLayout

__all__ = ["BACKENDS", "METHODS", "check_problem", "hessian_diag"]

METHODS = ("exact", "lecun", "lecun-lm", "ggn", "fisher", "hutchinson")
BACKENDS = ("native", "torchfunc", "backpack", "curvlinops")


def hessian_diag(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                 method: str = "exact", *, backend: str = "native", probes: int = 100,
                 seed: int = 0) -> Curvature:
    """A Hessian diagonal of ``E = loss_fn(model(inputs), targets)`` (each method: see the module docstring).

    Args:
        model: a :class:`prunebench.models.Net` (any ``nn.Sequential`` of the supported layers; pruned layers
            are differentiated in their effective tensor ``weight_orig * weight_mask``).
        loss_fn: ``nn.MSELoss`` or ``nn.CrossEntropyLoss``, reduction ``"sum"`` or ``"mean"``.
        inputs: ``[N, *model.input_shape]``, cast to the model's dtype.
        targets: ``[N, C]`` (MSE, class probabilities) or ``[N]`` class indices.
        method: one of :data:`METHODS`.
        backend: ``"native"`` (every method); ``"torchfunc"`` (``"exact"``, ``"ggn"``, ``"fisher"`` as
            diagonals of the dense oracle; small models); ``"backpack"`` / ``"curvlinops"`` (``"exact"``,
            ``"ggn"``, ``"fisher"``; optional extras, see :mod:`.backends`).
        probes, seed: number of Rademacher probes and their seed (``"hutchinson"`` only).

    Returns:
        :class:`Curvature`: a dict keyed exactly like ``dict(model.named_parameters())``, each value shaped
        like its parameter, with ``.health`` (negative fraction, method, backend, no damping).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}; got {method!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}; got {backend!r}")
    if method == "hutchinson" and (isinstance(probes, bool) or not isinstance(probes, int) or probes < 1):
        raise ValueError(f"probes must be a positive int; got {probes!r}")
    params = effective_params(model)
    check_problem(model, params, inputs, targets)
    dtype = next(iter(params.values())).dtype
    inputs = inputs.to(dtype)
    check_finite(params, inputs, targets)
    if backend == "native":
        values = _native(model, params, loss_fn, inputs, targets, method, probes, seed)
    elif backend == "torchfunc":
        values = _torchfunc(model, loss_fn, inputs, targets, method, dtype)
    else:
        values = _external(backend, model, loss_fn, inputs, targets, method)
    values = {name: values[name] for name in params}
    negative = result_health(values, f"the {method} Hessian diagonal")
    return Curvature(values, CurvatureHealth(method=method, backend=backend, negative_fraction=negative))


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


def _native(model, params, loss_fn, inputs, targets, method, probes, seed) -> dict[str, torch.Tensor]:
    if method == "hutchinson":
        return _hutchinson(model, loss_fn, inputs, targets, probes, seed)
    try:
        return _sweeps(model, params, loss_fn, inputs, targets, method)
    except Unsupported as err:
        return _fallback(model, loss_fn, inputs, targets, method, err)


def _sweeps(model, params, loss_fn, inputs, targets, method) -> dict[str, torch.Tensor]:
    steps = plan(model, params)
    with torch.no_grad():
        trace = record(steps, inputs, second=method in ("exact", "lecun"))
        loss = LossTerms.of(loss_fn, trace.output, targets, trace.log_softmax)
        if method in ("lecun", "lecun-lm"):
            return _lecun(steps, trace, loss, curvature_terms=method == "lecun")
        if method == "fisher":
            return _sweep(steps, trace, cols=loss.grad.unsqueeze(1) / math.sqrt(loss.scale), diag=None,
                          grad=None)
        cols, diag = (None, loss.diagonal) if loss.isotropic else (loss.columns, None)
        return _sweep(steps, trace, cols=cols, diag=diag, grad=loss.grad if method == "exact" else None)


def _fallback(model, loss_fn, inputs, targets, method, err: Unsupported) -> dict[str, torch.Tensor]:
    """The generic exact path (:mod:`.generic`) for a model outside the native sweeps, with one warning line;
    OBD's recursions follow the layers and have no such path."""
    if method in ("lecun", "lecun-lm"):
        raise ValueError(f"method {method!r} is OBD's recursion over the layers, and {err.layer} is outside "
                         f"the layers it covers ({SUPPORTED}); use method 'exact', 'ggn' or 'fisher', which "
                         "have a generic exact path.") from None
    layout = ParamLayout.from_model(model)
    with torch.no_grad():
        outputs = model(inputs[:1]).shape[-1]
    warnings.warn(f"{err.layer} is outside the native curvature sweeps: the {method} diagonal comes from the "
                  f"generic exact path, {generic.cost(method, layout.num_params, inputs.shape[0], outputs)}.",
                  generic.FallbackWarning, stacklevel=4)
    return layout.unflatten(generic.diagonal(model, loss_fn, inputs, targets, method).detach())


def _torchfunc(model, loss_fn, inputs, targets, method, dtype) -> dict[str, torch.Tensor]:
    dense = {"exact": oracle.dense_hessian, "ggn": oracle.dense_ggn, "fisher": oracle.dense_fisher}
    if method not in dense:
        raise ValueError(f"method {method!r} is not available with backend='torchfunc', which offers "
                         f"{sorted(dense)}; use backend='native'")
    matrix = dense[method](model, loss_fn, inputs, targets, dtype=dtype)
    return ParamLayout.from_model(model).unflatten(torch.diagonal(matrix).clone())


_EXTERNAL = {"backpack": "backpack_hessian_diag", "curvlinops": "curvlinops_hessian_diag"}
"""Peer libraries: the function of :mod:`.backends` that computes the diagonal (it raises an ImportError
naming the extra, ``pip install 'prunebench[backpack]'``, when the library is missing)."""


def _external(backend, model, loss_fn, inputs, targets, method) -> dict[str, torch.Tensor]:
    from . import backends

    return getattr(backends, _EXTERNAL[backend])(model, loss_fn, inputs, targets, method)


# ----------------------------------------------------------------------------------------------------------
# The exact / GGN / Fisher sweep


@dataclass
class _Source:
    """A pending part ``G diag(s) G^T + diag(e)`` of the per-sample Hessian at a position above the sweep.

    Attributes: ``diag`` ``e`` ``[N, *shape]`` or ``None``; ``cols`` ``G`` ``[N, r, *shape]`` or ``None``;
    ``signs`` ``s`` ``[N, r]`` or ``None`` (all +1).
    """

    diag: torch.Tensor | None
    cols: torch.Tensor | None = None
    signs: torch.Tensor | None = None

    def channels(self, lo: int, hi: int) -> _Source:
        """Channels ``lo:hi`` of the source (shapes ``[N, C, ...]``): what directions on them alone meet."""
        diag = None if self.diag is None else self.diag[:, lo:hi]
        cols = None if self.cols is None else self.cols[:, :, lo:hi]
        return _Source(diag, cols, self.signs)


class _State:
    """Per-sample Hessian of E at one position ``t`` of the chain, during the backward sweep.

    ``H_t = G diag(s) G^T + diag(e) + S W^T diag(w) W S + (pending sources above)``, with

    - ``cols`` ``G`` ``[N, r, *shape]`` and ``signs`` ``s`` ``[N, r]`` (``None``: all +1);
    - ``diag`` ``e`` ``[N, *shape]``, signed;
    - ``deferred`` ``(W, w, S)``: the diagonal ``w`` ``[N, d_out]`` above the last Linear crossed, with
      ``W`` ``[d_out, prod(shape)]`` that Linear's weight times the linear maps crossed since, scaled by the
      elementwise ``S`` ``[N, *shape]`` once an activation has been crossed (``None``: 1), i.e.
      ``S W^T diag(w) W S``. Its diagonal ``S^2 (W^2)^T w`` is cheap; it becomes ``d_out`` factor columns
      per sample only when a non-diagonal map follows a scaling;
    - ``pending``: position -> :class:`_Source` left above a convolution/pooling (:func:`_pending_sources`);
    - ``grad`` ``dE/dt`` ``[N, *shape]`` when the f'' terms are wanted (exact Hessian), else ``None``;
    - ``shape``: the per-sample shape at ``t``.
    """

    def __init__(self, shape: torch.Size, cols, diag, grad):
        self.shape = shape
        # The state owns its columns (a copy of the output's few): they are updated in place below, which spares
        # the CNN sweeps their largest allocations.
        self.cols, self.signs = None if cols is None else cols.clone(), None
        self.diag, self.grad = diag, grad
        self.deferred: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None
        self.pending: dict[int, _Source] = {}

    def activation(self, f1: torch.Tensor, f2: torch.Tensor | None) -> None:
        """Back through ``x = f(a)``: ``H_a = D' H_x D' + diag(f'' dE/dx)`` (``f2=None``: no last term)."""
        if self.cols is not None:
            self.cols.mul_(f1.unsqueeze(1))
        if self.diag is not None:
            self.diag = self.diag * f1.square()
        if self.deferred is not None:
            W, w, S = self.deferred
            self.deferred = (W, w, f1 if S is None else S * f1)
        if self.grad is not None:
            if f2 is not None:
                self.diag = f2 * self.grad if self.diag is None else self.diag + f2 * self.grad
            self.grad = self.grad * f1

    def reshape(self, shape: torch.Size) -> None:
        """Back through a Flatten: the same vectors in another per-sample shape."""
        self.shape = shape
        for name in ("diag", "grad"):
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, t.reshape(t.shape[0], *shape))
        if self.cols is not None:
            self.cols = self.cols.reshape(*self.cols.shape[:2], *shape)
        if self.deferred is not None and self.deferred[2] is not None:
            W, w, S = self.deferred
            self.deferred = (W, w, S.reshape(S.shape[0], *shape))

    def diagonal(self) -> torch.Tensor:
        """``diag(H_t)`` ``[N, *shape]`` (no pending source can lie above a dense layer)."""
        h = self.diag
        if self.cols is not None:
            squares = self.cols.flatten(2).square()
            part = (squares if self.signs is None else squares * self.signs.unsqueeze(2)).sum(1)
            h = part.view(self.cols.shape[:1] + self.cols.shape[2:]) if h is None else h + part.view_as(h)
        if self.deferred is not None:
            W, w, S = self.deferred
            part = (w @ W.square()).view(w.shape[0], *self.shape)
            part = part if S is None else part * S.square()
            h = part if h is None else h + part
        return h

    def materialize(self) -> None:
        """Turn the deferred term into factor columns ``S W^T diag(sqrt|w|)`` with signs ``sign(w)``."""
        if self.deferred is None:
            return
        W, w, S = self.deferred
        self.deferred = None
        new = w.abs().sqrt().view(*w.shape, *[1] * len(self.shape)) * W.view(1, W.shape[0], *self.shape)
        if S is not None:
            new = new * S.unsqueeze(1)
        if self.cols is None:
            self.cols, self.signs = new, w.sign()
        else:
            ones = w.new_ones(w.shape[0], self.cols.shape[1]) if self.signs is None else self.signs
            self.cols, self.signs = torch.cat([self.cols, new], 1), torch.cat([ones, w.sign()], 1)

    def compress(self) -> None:
        """Fold the diagonal into the factor: ``G diag(s) G^T + diag(e) = Q diag(lambda) Q^T`` per sample.

        Used on a narrow dense position (``d <= r + 1``, e.g. a scaled-tanh output layer under cross-entropy)
        before crossing a Linear layer: ``d`` signed columns ``Q |lambda|^(1/2)`` replace ``r`` columns plus
        the ``d`` that the diagonal would become below, at the cost of one small ``d x d`` eigh per sample.
        """
        signed = self.cols if self.signs is None else self.cols * self.signs.unsqueeze(2)
        M = torch.bmm(self.cols.transpose(1, 2), signed) + torch.diag_embed(self.diag)  # [N, d, d]
        lam, Q = torch.linalg.eigh(M)
        self.cols = (Q * lam.abs().sqrt().unsqueeze(1)).transpose(1, 2)
        self.signs, self.diag = lam.sign(), None

    def cross(self, step: Step, position: int, in_shape: torch.Size) -> None:
        """Back through the linear map ``A`` of ``step`` (Linear/Conv2d/AvgPool2d) from ``position`` to its input.

        A deferred term not yet scaled (``S = 1``) crosses as its ``d_out`` rows ``W A``, shared by all samples,
        instead of ``N d_out`` columns. A diagonal crossing a convolution or pooling stays behind as a pending
        source: the convolutions below will push their weight directions up to ``position``; the factor
        columns then stay there too (those directions meet them at no extra push).
        """
        crossed = None
        if self.deferred is not None and self.deferred[2] is None and self.diag is None \
                and step.kind != "maxpool":  # max pooling differs per sample: no shared rows
            W, w, _ = self.deferred
            rows = adjoint(step, W.view(W.shape[0], *self.shape), in_shape).flatten(1)
            crossed, self.deferred = (rows, w, None), None
        self.materialize()
        if step.kind == "linear" and self.diag is not None and self.cols is not None \
                and self.shape[0] <= self.cols.shape[1] + 1:
            self.compress()
        self.shape = in_shape
        if self.diag is not None and step.kind != "linear":
            self.pending[position] = _Source(self.diag, self.cols, self.signs)
            self.diag, self.cols, self.signs = None, None, None
        if self.cols is not None:
            N, r = self.cols.shape[:2]
            self.cols = adjoint(step, self.cols.flatten(0, 1), in_shape).view(N, r, *in_shape)
        if self.grad is not None:
            self.grad = adjoint(step, self.grad, in_shape)
        if self.diag is not None:
            self.deferred = (step.weight, self.diag, None)
            self.diag = None
        elif crossed is not None:
            self.deferred = crossed


def _sweep(steps: list[Step], trace: Trace, *, cols: torch.Tensor | None, diag: torch.Tensor | None,
           grad: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Diagonal of ``sum_n J_n^T H_n J_n`` (+ the f'' terms when ``grad`` is given), per parameter.

    Args:
        cols: ``[N, r, C]`` factor columns at the output (``H_n = sum_k cols[n, k] cols[n, k]^T``), or
            ``None``.
        diag: ``[N, C]`` a diagonal part of ``H_n`` at the output, or ``None``.
        grad: ``dE/dz`` ``[N, C]``: include the ``diag(f''(a) * dE/dx)`` terms of every activation (the exact
            Hessian); ``None`` for the generalised Gauss-Newton form.
    """
    start = next((i for i, s in enumerate(steps) if s.has_params), None)
    out: dict[str, torch.Tensor] = {}
    if start is None:
        return out
    state = _State(trace.shape(len(steps)), cols, diag, grad)
    for i in range(len(steps) - 1, start - 1, -1):
        step = steps[i]
        if step.kind == "act":
            f1, f2 = trace.derivs[i]
            state.activation(f1, None if isinstance(step.module, PIECEWISE_LINEAR) else f2)
            continue
        if step.kind == "reshape":
            state.reshape(trace.shape(i))
            continue
        if step.kind == "linear" and step.has_params:
            # Dense layer: only diag(H_a) is needed. No source can be pending here: sources appear only when
            # crossing a convolution or pooling, and a Linear (2-D input) never lies below one.
            h = state.diagonal()  # never empty: the loss Hessian always reaches a dense layer
            out.update(split_linear(step, h.T @ with_ones(trace.inputs[i], step).square()))
        elif step.kind == "conv":
            state.materialize()
            out.update(_conv_diagonal(steps, trace, i, state))
        if i == start:
            break
        state.cross(step, i + 1, trace.shape(i))
    return out


def _conv_diagonal(steps, trace, i, state: _State) -> dict[str, torch.Tensor]:
    """``sum_n u^T H_a,n u`` per weight direction ``u = U[n, j, :]`` in output channel ``c``: ``[C, J1]``."""
    step = steps[i]
    x, out_shape = trace.inputs[i], trace.shape(i + 1)
    N, C = x.shape[0], out_shape[0]
    diagonal = None if state.diag is None else squares_times(step, x, state.diag.reshape(N, *out_shape))
    if diagonal is not None and state.cols is None and not state.pending:
        return split_conv(step, diagonal)
    J1 = math.prod(step.weight.shape[1:]) + (step.bias is not None)
    total = x.new_zeros(C, J1) if diagonal is None else diagonal
    if state.cols is not None:
        total += conv_project_squares(step, x, state.cols.reshape(N, -1, *out_shape), state.signs)
    if state.pending:
        total += _pending_sources(steps, trace, i, state.pending)
    return split_conv(step, total)


def _pending_sources(steps, trace, i, pending) -> torch.Tensor:
    """``sum_n (B u)^T H (B u)`` for every pending source ``H`` and weight direction ``u`` of conv step ``i``.

    ``B`` is the linearised map from this convolution's output to the source's position. Direction ``(j, c)``
    is the image ``U[n, j]`` (the unfolded input of the group of ``c``, and a row of ones for the bias) on
    output channel ``c`` alone; the directions are pushed forward one channel ``c`` at a time, as a block
    ``[N, J1, c, *spatial]`` that covers a channel range ``lo:hi``: one channel through activations, pooling
    and padding (it meets only those channels of each source), the channels of one group after a grouped
    convolution, all of them after a full one. One channel at a time keeps the blocks small (cache-friendly)
    and avoids grouped convolutions, which are many times slower on CPU.

    Returns:
        ``[C, J1]``.
    """
    step = steps[i]
    x = trace.inputs[i]
    U = unfold_input(step, x)  # [N, C_in kk, L]
    N, L = x.shape[0], U.shape[2]
    shape = trace.shape(i + 1)
    C, groups = shape[0], step.spec.groups
    J = U.shape[1] // groups
    blocks = [U[:, g * J:(g + 1) * J] for g in range(groups)]
    if step.bias is not None:
        blocks = [torch.cat([b, U.new_ones(N, 1, L)], dim=1) for b in blocks]
    J1 = blocks[0].shape[1]
    last = max(pending)
    total = U.new_zeros(C, J1)
    for c in range(C):
        V = blocks[c // (C // groups)].view(N, J1, 1, *shape[1:])
        lo, hi, owned = c, c + 1, False  # V covers channels lo:hi; V is a fresh tensor (not a view of U)
        for q in range(i + 1, last + 1):
            if q in pending:
                total[c] += _quadratic(V.flatten(2), pending[q].channels(lo, hi))
            if q == last:
                break
            step = steps[q]
            if step.kind == "act":
                f1 = trace.derivs[q][0][:, lo:hi].unsqueeze(1)
                V = V.mul_(f1) if owned else V * f1
            elif step.kind in ("pool", "pad"):
                V, owned = push(step, V.flatten(0, 1)).unflatten(0, (N, J1)), True
            elif step.kind == "maxpool":
                V, owned = max_gather(step, V, lo, hi), True
            elif step.kind == "conv":
                V, lo, hi = _push_channels(step, V, lo, hi)
                owned = True
            elif step.kind != "reshape" or trace.shape(q) != trace.shape(q + 1):
                # sources sit at convolution/pooling/padding outputs, all before the first Flatten
                raise RuntimeError(f"internal error: no forward push through {step.kind} step {q}")
    return total


def _push_channels(step: Step, V: torch.Tensor, lo: int, hi: int) -> tuple[torch.Tensor, int, int]:
    """Directions ``V`` ``[N, J1, hi - lo, H, W]`` on input channels ``lo:hi`` through the convolution
    ``step``: ``(V', lo', hi')``, the output channels they reach (those of the groups that ``lo:hi`` meets)."""
    s, W = step.spec, step.weight
    O, Ig = W.shape[:2]
    Og = O // s.groups
    first, last = lo // Ig, (hi - 1) // Ig
    N, J1 = V.shape[:2]
    if first == last:
        K, groups = W[first * Og:(first + 1) * Og, lo - first * Ig:hi - first * Ig], 1
    else:
        V = F.pad(V, (0, 0, 0, 0, lo - first * Ig, (last + 1) * Ig - hi))
        K, groups = W[first * Og:(last + 1) * Og], last - first + 1
    out = F.conv2d(V.flatten(0, 1), K, None, s.stride, s.padding, s.dilation, groups)
    return out.unflatten(0, (N, J1)), first * Og, (last + 1) * Og


def _quadratic(V: torch.Tensor, source: _Source) -> torch.Tensor:
    """``sum_n u^T H u`` for directions ``V`` ``[N, J1, X]`` and the source ``H``: ``[J1]``."""
    N = V.shape[0]
    # Elementwise products and [N, r, X] @ [N, X, J1] products: the fast layouts for these skinny shapes on
    # CPU.
    total = V.new_zeros(V.shape[1])
    if source.diag is not None:
        total += V.square().mul_(source.diag.reshape(N, 1, -1)).sum((0, 2))
    if source.cols is not None:
        G = source.cols.reshape(N, source.cols.shape[1], -1)
        P = torch.bmm(G, V.transpose(1, 2)).square_()  # [N, r, J1]
        total += (P if source.signs is None else P * source.signs.unsqueeze(2)).sum((0, 1))
    return total


# ----------------------------------------------------------------------------------------------------------
# LeCun's diagonal back-propagation


def _lecun(steps: list[Step], trace: Trace, loss: LossTerms, *,
           curvature_terms: bool) -> dict[str, torch.Tensor]:
    """OBD's per-pattern diagonal back-propagation; without the f'' terms unless ``curvature_terms``."""
    start = next((i for i, s in enumerate(steps) if s.has_params), None)
    out: dict[str, torch.Tensor] = {}
    if start is None:
        return out
    h, grad = loss.diagonal, loss.grad if curvature_terms else None
    for i in range(len(steps) - 1, start - 1, -1):
        step = steps[i]
        in_shape = trace.shape(i)
        if step.kind == "act":
            f1, f2 = trace.derivs[i]
            h = h * f1.square()
            if grad is not None:
                if not isinstance(step.module, PIECEWISE_LINEAR):
                    h = h + f2 * grad
                grad = grad * f1
            continue
        if step.kind == "linear" and step.has_params:
            out.update(split_linear(step, h.T @ with_ones(trace.inputs[i], step).square()))
        elif step.kind == "conv":
            out.update(split_conv(step, squares_times(step, trace.inputs[i], h)))
        if i == start:
            break
        h = _squared_adjoint(step, h, in_shape)
        if grad is not None:
            grad = adjoint(step, grad, in_shape)
    return out


def _squared_adjoint(step: Step, h: torch.Tensor, in_shape: torch.Size) -> torch.Tensor:
    """``sum_l A_li^2 h_l``: the adjoint of the linear step with every coefficient squared (max pooling and
    padding copy entries, coefficients 0 or 1: their own adjoint)."""
    s = step.spec
    if step.kind == "linear":
        return h @ step.weight.square()
    if step.kind == "conv":
        return torch.nn.grad.conv2d_input((h.shape[0], *in_shape), step.weight.square(), h, s.stride,
                                          s.padding, s.dilation, s.groups)
    if step.kind == "pool":
        if s.ceil_mode or (s.padding != (0, 0) and not s.count_include_pad):
            raise unsupported(step.name, step.module, "OBD's recursion needs every average-pooling window to "
                              "have the same divisor: ceil_mode=False and padding=0 or count_include_pad=True")
        divisor = s.divisor_override or s.kernel_size[0] * s.kernel_size[1]
        return adjoint(step, h, in_shape) / divisor
    return adjoint(step, h, in_shape)


# ----------------------------------------------------------------------------------------------------------
# Hutchinson


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
