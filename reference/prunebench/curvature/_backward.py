"""The exact, GGN and Fisher diagonals by one backward sweep over the chain (:mod:`._backprop`).

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

"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._backprop import (
    PIECEWISE_LINEAR,
    SoftmaxFactor,
    Step,
    Trace,
    adjoint,
    channel_map,
    conv_project_squares,
    linear_squares,
    lowest_curved,
    max_gather,
    pointwise,
    push,
    split_conv,
    squares_times,
    unfold_input,
)

__all__ = ["crossed_in_pieces", "sweep"]


@dataclass
class _Source:
    """A pending part ``G diag(s) G^T + diag(e)`` of the per-sample Hessian at a position above the sweep.

    Attributes: ``diag`` ``e`` ``[N, *shape]`` or ``None``; ``cols`` ``G`` ``[N, r, *shape]`` or ``None``;
    ``signs`` ``s`` ``[N, r]`` or ``None`` (all +1).
    """

    diag: torch.Tensor | None
    cols: torch.Tensor | None = None
    signs: torch.Tensor | None = None

    def channels(self, idx: slice | torch.Tensor) -> _Source:
        """Channels ``idx`` of the source (shapes ``[N, C, ...]``): what directions on them alone meet."""
        diag = None if self.diag is None else self.diag[:, idx]
        cols = None if self.cols is None else self.cols[:, :, idx]
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
    - ``dense``: ``[N, d, d]``, all of ``H_t`` as one matrix per sample on a narrow dense position
      (:meth:`to_dense`; the other terms are then ``None``), else ``None``;
    - ``col_scale`` ``[N, *shape]``, ``through`` ``[d_out, prod(shape)]``: the last activation's ``D'`` and
      the last Linear's weight, not yet applied to ``G`` (only its diagonal is wanted; :meth:`diagonal`);
    - ``shape``: the per-sample shape at ``t``.
    """

    def __init__(self, shape: torch.Size, cols, diag, grad):
        self.shape = shape
        # A closed-form factor stays so until the last Linear layer crosses it (or anything else needs it).
        self.factor = cols if isinstance(cols, SoftmaxFactor) else None
        # The state owns its columns (a copy of the output's few): they are updated in place below, which spares
        # the CNN sweeps their largest allocations.
        self.cols, self.signs = None if cols is None or self.factor is not None else cols.clone(), None
        self.diag, self.grad = diag, grad
        self.deferred: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None
        self.pending: dict[int, _Source] = {}
        self.dense: torch.Tensor | None = None
        self.col_scale: torch.Tensor | None = None
        self.through: torch.Tensor | None = None

    def expand(self) -> None:
        """Form the columns of a closed-form factor (:class:`._backprop.SoftmaxFactor`)."""
        if self.factor is not None:
            self.cols, self.factor = self.factor.dense(), None

    def activation(self, f1: torch.Tensor, f2: torch.Tensor | None, last: bool = False) -> None:
        """Back through ``x = f(a)``: ``H_a = D' H_x D' + diag(f'' dE/dx)`` (``f2=None``: no last term).
        ``last``: only the diagonal is wanted below (the sweep's last Linear layer): the columns' scaling
        ``D'`` is left to :meth:`diagonal`, one pass over the columns fewer, and ``dE/dx`` is not carried on."""
        if self.dense is not None:
            self.dense.mul_(f1.unsqueeze(2)).mul_(f1.unsqueeze(1))
            if self.grad is not None:
                if f2 is not None:
                    self.dense.diagonal(dim1=1, dim2=2).add_(f2 * self.grad)
                self.grad = self.grad * f1
            return
        if self.cols is not None and last:
            self.col_scale = f1
        elif self.cols is not None:
            self.cols.mul_(f1.unsqueeze(1))
        if self.diag is not None:
            self.diag = self.diag * f1.square()
        if self.deferred is not None:
            W, w, S = self.deferred
            self.deferred = (W, w, f1 if S is None else S * f1)
        if self.grad is not None:
            if f2 is not None:
                self.diag = f2 * self.grad if self.diag is None else self.diag + f2 * self.grad
            self.grad = None if last else self.grad * f1

    def reshape(self, shape: torch.Size) -> None:
        """Back through a Flatten: the same vectors in another per-sample shape."""
        if self.dense is not None:
            if shape == self.shape:
                return
            self.from_dense()
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

    def diagonal(self, last: bool = False) -> torch.Tensor:
        """``diag(H_t)`` ``[N, *shape]`` (no pending source can lie above a dense layer); ``last``: the sweep
        ends here, so the columns are squared in place."""
        if self.dense is not None:
            return self.dense.diagonal(dim1=1, dim2=2)
        h = self.diag
        if self.factor is not None:
            h = self.factor.diagonal if h is None else h + self.factor.diagonal
        if self.cols is not None:
            part = self._column_squares(last).view(-1, *self.shape)
            if self.col_scale is not None:
                part.mul_(self.col_scale.square())
            h = part if h is None else h + part
            if last:  # the sweep ends here: the columns are not needed any more
                self.cols = self.signs = self.through = None
        if self.deferred is not None:
            W, w, S = self.deferred
            part = (w @ W.square()).view(w.shape[0], *self.shape)
            part = part if S is None else part * S.square()
            h = part if h is None else h + part
        return h

    def _column_squares(self, last: bool) -> torch.Tensor:
        """``sum_k s_k G_k^2`` ``[N, prod(shape)]`` (``last``: squared in place). Columns not yet through the
        last Linear (:attr:`through`) cross it in pieces of samples, each at most as large as the columns
        themselves, and are squared piece by piece: the crossed columns are never all held at once."""
        cols = self.cols.flatten(2)
        if self.through is None:
            squares = cols.square_() if last else cols.square()
            return (squares if self.signs is None else squares.mul_(self.signs.unsqueeze(2))).sum(1)
        W = self.through
        N, r, width = cols.shape
        rows = math.ceil(N / math.ceil(W.shape[1] / width))
        out = cols.new_empty(N, W.shape[1])
        for a in range(0, N, rows):
            squares = torch.matmul(cols[a:a + rows].flatten(0, 1), W).view(-1, r, W.shape[1]).square_()
            if self.signs is not None:
                squares.mul_(self.signs[a:a + rows].unsqueeze(2))
            torch.sum(squares, 1, out=out[a:a + rows])
            del squares  # before the next piece is formed
        return out

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

    def to_dense(self) -> None:
        """Fold everything into the per-sample matrix ``M = G diag(s) G^T + diag(e)`` ``[N, d, d]``.

        Used on a dense position whose factor is about as wide as the position (``d <= r + 1``, e.g. a deep
        narrow MLP with f'' terms, whose rank grows by a layer's width per layer): ``M`` then crosses each Linear
        as ``W^T M W`` and each activation as ``D' M D' + diag(f'' dE/dx)``, ``O(N d^3)`` per layer, the floor
        for the exact diagonal there, with no factor to grow or re-factorise.
        """
        signed = self.cols if self.signs is None else self.cols * self.signs.unsqueeze(2)
        M = torch.bmm(self.cols.transpose(1, 2), signed)
        if self.diag is not None:
            M.diagonal(dim1=1, dim2=2).add_(self.diag)
        self.dense, self.cols, self.signs, self.diag = M, None, None, None

    def from_dense(self) -> None:
        """Back to a signed factor before a non-dense map: ``M = Q diag(lambda) Q^T`` per sample gives ``d``
        columns ``Q |lambda|^(1/2)`` with signs ``sign(lambda)`` (one small eigendecomposition per sample)."""
        lam, Q = torch.linalg.eigh(self.dense)
        self.cols = (Q * lam.abs().sqrt().unsqueeze(1)).transpose(1, 2)
        self.signs, self.dense = lam.sign(), None

    def cross(self, step: Step, position: int, in_shape: torch.Size, only_diagonal: bool = False) -> None:
        """Back through the linear map ``A`` of ``step`` (Linear/Conv2d/AvgPool2d) from ``position`` to its input.

        A deferred term not yet scaled (``S = 1``) crosses as its ``d_out`` rows ``W A``, shared by all samples,
        instead of ``N d_out`` columns. A diagonal crossing a convolution or pooling stays behind as a pending
        source: the convolutions below will push their weight directions up to ``position``; the factor
        columns then stay there too (those directions meet them at no extra push). ``only_diagonal``: a Linear
        below which only ``diag(H)`` is wanted (:func:`crossed_in_pieces`): its columns cross in
        :meth:`diagonal`, in pieces.
        """
        if self.dense is not None:  # a Linear (dense positions hold only Linear layers and activations)
            self.dense = torch.matmul(step.weight.T, torch.matmul(self.dense, step.weight))
            self.shape = in_shape
            if self.grad is not None:
                self.grad = adjoint(step, self.grad, in_shape)
            return
        crossed = None
        if self.deferred is not None and self.deferred[2] is None and self.diag is None \
                and step.kind != "maxpool":  # max pooling differs per sample: no shared rows
            W, w, _ = self.deferred
            rows = adjoint(step, W.view(W.shape[0], *self.shape), in_shape).flatten(1)
            crossed, self.deferred = (rows, w, None), None
        self.materialize()
        if step.kind == "linear" and self.diag is not None and self.cols is not None \
                and self.shape[0] <= self.cols.shape[1] + 1:
            if len(in_shape) == 1 and in_shape[0] <= 2 * (self.cols.shape[1] + 1):
                self.to_dense()  # narrow below too: stay dense
                return self.cross(step, position, in_shape)
            self.to_dense()
            self.from_dense()  # a wide layer below: d signed columns replace r columns and a diagonal
        self.shape = in_shape
        if self.diag is not None and step.kind != "linear":
            self.pending[position] = _Source(self.diag, self.cols, self.signs)
            self.diag, self.cols, self.signs = None, None, None
        if self.factor is not None:  # a Linear (sweep expands the factor before any other step)
            self.cols, self.factor = self.factor.times(step.weight), None
        elif self.cols is not None and only_diagonal:
            self.through = step.weight
        elif self.cols is not None:
            N, r = self.cols.shape[:2]
            self.cols = adjoint(step, self.cols.flatten(0, 1), in_shape).view(N, r, *in_shape)
        if self.grad is not None:
            self.grad = adjoint(step, self.grad, in_shape)
        if self.diag is not None:
            self.deferred = (step.weight, self.diag, None)
            self.diag = None
        elif crossed is not None:
            self.deferred = crossed


def sweep(steps: list[Step], trace: Trace, *, cols: torch.Tensor | None, diag: torch.Tensor | None,
           grad: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Diagonal of ``sum_n J_n^T H_n J_n`` (+ the f'' terms when ``grad`` is given), per parameter.

    Consumes ``trace``: each of its entries is released once no later step needs it.

    Args:
        cols: ``[N, r, C]`` factor columns at the output (``H_n = sum_k cols[n, k] cols[n, k]^T``), the
            same in closed form (:class:`._backprop.SoftmaxFactor`), or ``None``.
        diag: ``[N, C]`` a diagonal part of ``H_n`` at the output, or ``None``.
        grad: ``dE/dz`` ``[N, C]``: include the ``diag(f''(a) * dE/dx)`` terms of every activation (the exact
            Hessian); ``None`` for the generalised Gauss-Newton form.
    """
    start = next((i for i, s in enumerate(steps) if s.has_params), None)
    out: dict[str, torch.Tensor] = {}
    if start is None:
        return out
    state = _State(trace.shape(len(steps)), cols, diag, grad)
    lowest = lowest_curved(steps)
    pieces = crossed_in_pieces(steps)
    last_linear = steps[start].kind == "linear"
    for i in range(len(steps) - 1, start - 1, -1):
        step = steps[i]
        if step.kind != "linear":
            state.expand()
        if state.grad is not None and (lowest is None or i < lowest):
            state.grad = None  # no f'' term below: dE/dx is not needed any more
        if step.kind == "act":
            # A pending source above pushes directions through this activation later; otherwise it is done.
            f1, f2 = trace.derivs[i] if state.pending else trace.derivs.pop(i)
            last = i - 1 == start and last_linear
            state.activation(f1, None if isinstance(step.module, PIECEWISE_LINEAR) else f2, last=last)
            continue
        if step.kind == "reshape":
            state.reshape(trace.shape(i))
            continue
        if step.kind == "linear" and step.has_params:
            # Dense layer: only diag(H_a) is needed. No source can be pending here: sources appear only when
            # crossing a convolution or pooling, and a Linear (2-D input) never lies below one.
            h = state.diagonal(last=i == start)  # never empty: the loss Hessian always reaches a dense layer
            out.update(linear_squares(step, h, trace.inputs[i]))
        elif step.kind == "conv":
            state.materialize()
            out.update(_conv_diagonal(steps, trace, i, state))
        trace.inputs[i] = None
        if i == start:
            break
        state.cross(step, i + 1, trace.shape(i), only_diagonal=i == pieces)
    return out


def crossed_in_pieces(steps: list[Step]) -> int | None:
    """The Linear step whose factor columns :func:`sweep` crosses in pieces (:meth:`_State.diagonal`): the one
    right above the chain's last Linear layer with weights, or one activation above it, where only ``diag(H)``
    is wanted below; ``None`` where there is none (a convolution lowest, fewer than three Linear layers: the
    output layer's columns are the loss's, which cross it at once in closed form)."""
    start = next((i for i, s in enumerate(steps) if s.has_params), None)
    if start is None or steps[start].kind != "linear":
        return None
    above = start + 2 if start + 1 < len(steps) and steps[start + 1].kind == "act" else start + 1
    return above if above < len(steps) - 1 and steps[above].kind == "linear" else None


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
    ``[N, J1, k, *spatial]`` on ``k`` channels ``idx``: one channel through activations, pooling and padding
    (it meets only those channels of each source), then after a convolution the output channels whose kernels
    on ``idx`` are not all zero (those of its group; fewer under a fixed connection mask). One channel at a
    time keeps the blocks small (cache-friendly) and avoids grouped convolutions, which are many times slower
    on CPU.

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
        idx, owned = slice(c, c + 1), False  # V's channels; V is not a view of U
        for q in range(i + 1, last + 1):
            if q in pending:
                total[c] += _quadratic(V.flatten(2), pending[q].channels(idx))
            if q == last:
                break
            step = steps[q]
            if step.kind == "act":
                f1 = trace.derivs[q][0][:, idx].unsqueeze(1)
                V = V.mul_(f1) if owned else V * f1
            elif step.kind in ("pool", "pad"):
                V, owned = push(step, V.flatten(0, 1)).unflatten(0, (N, J1)), True
            elif step.kind == "maxpool":
                V, owned = max_gather(step, V, idx), True
            elif step.kind == "conv":
                V, idx = _push_channels(step, V, idx)
                owned = True
            elif step.kind != "reshape" or trace.shape(q) != trace.shape(q + 1):
                # sources sit at convolution/pooling/padding outputs, all before the first Flatten
                raise RuntimeError(f"internal error: no forward push through {step.kind} step {q}")
    return total


Channels = slice | torch.Tensor
"""A set of channels: a slice when contiguous (indexing then gives views), else an index tensor."""


def _push_channels(step: Step, V: torch.Tensor, idx: Channels) -> tuple[torch.Tensor, Channels]:
    """Directions ``V`` ``[N, J1, k, H, W]`` on input channels ``idx`` through the convolution ``step``:
    ``(V', idx')``, on the output channels they reach (:func:`_route`)."""
    s = step.spec
    N, J1 = V.shape[:2]
    K, scatter, groups, out_idx = _route(step, idx)
    if scatter is not None:  # idx spans several groups but not all their channels: zeros for the rest
        full = V.new_zeros(N, J1, K.shape[1] * groups, *V.shape[3:])
        full[:, :, scatter] = V
        V = full
    if pointwise(s):
        out = channel_map(K, V.flatten(0, 1), groups)
    else:
        out = F.conv2d(V.flatten(0, 1), K, None, s.stride, s.padding, s.dilation, groups)
    return out.unflatten(0, (N, J1)), out_idx


def _route(step: Step, idx: Channels) -> tuple[torch.Tensor, Channels | None, int, Channels]:
    """How directions on input channels ``idx`` cross the convolution ``step``: ``(K, scatter, groups,
    out_idx)``, the kernel to apply (with ``groups``), where ``idx`` sits among its input channels when they
    must be scattered (else ``None``), and the output channels reached: within one group, those whose kernels
    on ``idx`` are not all zero (fewer under a fixed connection mask); across groups, every output channel of
    those groups. Depends on the weights only, so it is kept on the step for the sweep's other chunks."""
    key = (idx.start, idx.stop) if isinstance(idx, slice) else tuple(idx.tolist())
    if key in step.routes:
        return step.routes[key]
    W = step.weight
    O, Ig = W.shape[:2]
    Og = O // step.spec.groups
    channels = torch.arange(W.shape[1] * step.spec.groups, device=W.device)[idx]
    first, last = int(channels.min()) // Ig, int(channels.max()) // Ig
    if first == last:
        K = W[first * Og:(first + 1) * Og, channels - first * Ig]
        reached = K.flatten(1).ne(0).any(1).nonzero().flatten()
        if len(reached) < Og:  # a connection mask: skip the output channels idx never reaches
            route = (K[reached], None, 1, first * Og + reached)
        else:
            route = (K, None, 1, slice(first * Og, (first + 1) * Og))
    else:
        local = channels - first * Ig
        whole = len(local) == (last + 1 - first) * Ig  # idx is every input channel of those groups
        route = (W[first * Og:(last + 1) * Og], None if whole else local, last - first + 1,
                 slice(first * Og, (last + 1) * Og))
    step.routes[key] = route
    return route


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
