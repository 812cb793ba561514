"""The loss's gradient and Hessian in the model outputs, in closed form (MSE, cross-entropy, NLL after
LogSoftmax), for the backward sweeps."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["LossTerms", "SoftmaxFactor", "check_loss"]


@dataclass
class LossTerms:
    """The loss's derivatives in the outputs ``z`` (``[N, C]``), in closed form.

    ``E = scale * sum_n loss_n(z_n)`` and the Hessian is block diagonal over samples: ``d2E/dz_n^2 = c I``
    for MSE (``isotropic``), ``w_n (diag(p_n) - p_n p_n^T)`` for cross-entropy.

    Attributes:
        grad: ``dE/dz``, ``[N, C]`` (computed on first use: OBD's and the GGN's sweeps never need it).
        scale: ``1`` for ``reduction="sum"``, ``1/N`` for ``"mean"``.
        diagonal: ``[N, C]``, the diagonal of ``d2E/dz_n^2``.
        isotropic: whether ``d2E/dz_n^2`` is a multiple of the identity (MSE): then ``diagonal`` is all of it.
        weight: ``c`` (MSE) or ``w_n`` ``[N, 1]`` (cross-entropy: ``scale`` times the target mass).
        probs: ``softmax(z)`` ``[N, C]`` for cross-entropy, else ``None``.
    """

    gradient: Callable[[], torch.Tensor]
    scale: float
    diagonal: torch.Tensor
    isotropic: bool
    weight: float | torch.Tensor
    probs: torch.Tensor | None = None

    @functools.cached_property
    def grad(self) -> torch.Tensor:
        return self.gradient()

    @functools.cached_property
    def columns(self) -> torch.Tensor:
        """``[N, r, C]`` with ``d2E/dz_n^2 = sum_k columns[n, k] columns[n, k]^T``: ``r = C`` for MSE,
        ``C - 1`` for cross-entropy (see :func:`_softmax_factor`)."""
        if self.probs is None:
            N, C = self.grad.shape
            eye = torch.eye(C, dtype=self.grad.dtype, device=self.grad.device)
            return math.sqrt(self.weight) * eye.expand(N, C, C)
        return self.factor.dense()

    @functools.cached_property
    def factor(self) -> torch.Tensor | SoftmaxFactor:
        """:attr:`columns` as the backward sweeps take them: for cross-entropy in closed form
        (:class:`SoftmaxFactor`), which the last Linear layer crosses without forming them."""
        return self.columns if self.probs is None else SoftmaxFactor(self.probs, self.weight, self.diagonal)

    @classmethod
    def of(cls, loss_fn: nn.Module, z: torch.Tensor, targets: torch.Tensor,
           log_softmax: bool = False, samples: int | None = None) -> LossTerms:
        """Closed forms for ``nn.MSELoss`` (``c = 2`` or ``2/(N C)``) and ``nn.CrossEntropyLoss`` (``w_n``
        is ``scale`` times the target mass, after label smoothing); ``nn.NLLLoss`` of a model ending in
        LogSoftmax (``log_softmax``: ``z`` are the logits before it) is the cross-entropy of ``z``, and so is
        cross-entropy after a LogSoftmax (softmax of log-probabilities gives the probabilities back).

        ``samples``: the ``N`` of a ``"mean"`` reduction when ``z`` holds a chunk of the batch (default: the
        rows of ``z``), so that the chunks' terms sum to the whole batch's."""
        check_loss(loss_fn, log_softmax)
        if isinstance(loss_fn, nn.NLLLoss):
            loss_fn = nn.CrossEntropyLoss(weight=loss_fn.weight, ignore_index=loss_fn.ignore_index,
                                          reduction=loss_fn.reduction)
        if loss_fn.reduction not in ("sum", "mean"):
            raise ValueError(f"loss_fn.reduction must be 'sum' or 'mean'; got {loss_fn.reduction!r}. "
                             "Curvature needs a scalar objective.")
        N, C = z.shape
        samples = samples or N
        scale = 1.0 if loss_fn.reduction == "sum" else 1.0 / samples
        if isinstance(loss_fn, nn.MSELoss):
            if targets.shape != z.shape:
                raise ValueError(f"MSE targets must have the outputs' shape {tuple(z.shape)}; got "
                                 f"{tuple(targets.shape)}")
            c = 2.0 if loss_fn.reduction == "sum" else 2.0 / (samples * C)
            return cls(lambda: c * (z - targets), scale, torch.full_like(z, c), True, c)
        if loss_fn.weight is not None:
            raise ValueError("CrossEntropyLoss with class weights is not supported natively; got weight="
                             f"{loss_fn.weight}. Use weight=None or backend='torchfunc'.")
        eps = loss_fn.label_smoothing
        if targets.is_floating_point():
            t = targets.to(z.dtype) * (1 - eps) + eps / C
            mass = t.sum(dim=1, keepdim=True)
        else:
            check_classes(targets, C, loss_fn.ignore_index)
            t = None  # one-hot (smoothed): mass 1, formed only for the gradient
            mass = z.new_ones(N, 1)
        # Per sample, loss = -sum_c t_c log softmax(z)_c: gradient m p - t, Hessian m (diag(p) - p p^T),
        # with the target mass m = sum(t).
        p = torch.softmax(z, dim=1)
        weight = scale * mass

        def gradient() -> torch.Tensor:
            if t is not None:
                return scale * (mass * p - t)
            if eps:
                target = torch.nn.functional.one_hot(targets, C).to(z.dtype) * (1 - eps) + eps / C
                return scale * (mass * p - target)
            # The same numbers as scale * (p - one_hot(targets)), in one pass.
            return p.scatter_add(1, targets.unsqueeze(1), p.new_full((N, 1), -1.0)).mul_(scale)

        return cls(gradient, scale, weight * p * (1 - p), False, weight, p)


def check_classes(targets: torch.Tensor, C: int, ignore_index: int) -> None:
    """Raise a ``ValueError`` unless the class indices ``targets`` ``[N]`` all lie in ``[0, C)`` and none is
    ``ignore_index`` (one pass over them; the indices are checked only if ``ignore_index`` lies in their
    range)."""
    lo, hi = (int(v) for v in torch.aminmax(targets))
    if lo <= ignore_index <= hi and bool((targets == ignore_index).any()):
        raise ValueError(f"targets must not contain ignore_index={ignore_index} for native curvature; drop those "
                         "samples first.")
    if lo < 0 or hi >= C:
        raise ValueError(f"class-index targets must lie in [0, {C - 1}] for a model with {C} outputs; got values "
                         f"from {lo} to {hi}. Check the labels (0-based class numbers) or the model's output size.")


def check_loss(loss_fn: nn.Module, log_softmax: bool) -> None:
    """Raise a ``ValueError`` saying what is expected when ``loss_fn`` has no closed form here."""
    if isinstance(loss_fn, nn.NLLLoss) and not log_softmax:
        raise ValueError("loss_fn NLLLoss needs log-probabilities: the model must end in nn.LogSoftmax(dim=1); "
                         "got a model without it. Add the LogSoftmax layer, or use nn.CrossEntropyLoss on the "
                         "logits.")
    if isinstance(loss_fn, nn.MSELoss) and log_softmax:
        raise ValueError("loss_fn MSELoss after a final LogSoftmax is not supported natively; use "
                         "nn.NLLLoss (or CrossEntropyLoss) with LogSoftmax, or drop the LogSoftmax for MSE.")
    if not isinstance(loss_fn, (nn.MSELoss, nn.CrossEntropyLoss, nn.NLLLoss)):
        raise ValueError(f"loss_fn must be torch.nn.MSELoss, torch.nn.CrossEntropyLoss or torch.nn.NLLLoss "
                         f"(after nn.LogSoftmax); got {type(loss_fn).__name__}. Use one of these losses.")


@dataclass
class SoftmaxFactor:
    """The ``C - 1`` columns of the cross-entropy Hessian ``w_n (diag(p_n) - p_n p_n^T)`` (:func:`_softmax_factor`
    scaled by ``sqrt(w_n)``), kept in closed form until they cross the last Linear layer.

    Attributes: ``probs`` ``p`` ``[N, C]``; ``weight`` ``w`` ``[N, 1]``; ``diagonal`` ``w p (1 - p)`` ``[N, C]``,
    the diagonal of their outer products.
    """

    probs: torch.Tensor
    weight: torch.Tensor
    diagonal: torch.Tensor

    def dense(self) -> torch.Tensor:
        """The columns ``[N, C - 1, C]``."""
        return self.weight.sqrt().unsqueeze(2) * _softmax_factor(self.probs)

    def times(self, W: torch.Tensor) -> torch.Tensor:
        """``dense() @ W`` ``[N, C - 1, d]`` for ``W`` ``[C, d]``, without the ``[N, C - 1, C]`` columns: row
        ``k`` is ``sqrt(w) s_k (W_k - v)`` with ``v = (1 - c) p W + c W_C`` (:func:`_softmax_factor`'s
        notation), one product ``p W`` and two passes over the result."""
        p = self.probs
        s = p.sqrt()
        c = s[:, -1:] / (1 + s[:, -1:])
        v = torch.addcmul(c * W[-1], 1 - c, p @ W)
        return (W[:-1] - v.unsqueeze(1)).mul_((s[:, :-1] * self.weight.sqrt()).unsqueeze(2))


def _softmax_factor(p: torch.Tensor) -> torch.Tensor:
    """``C - 1`` columns ``f_k`` (rows of ``[N, C - 1, C]``) with ``sum_k f_k f_k^T = diag(p) - p p^T``.

    ``S = diag(sqrt p) - p sqrt(p)^T`` has ``S S^T = diag(p) - p p^T`` (as ``sum(p) = 1``) and
    ``S sqrt(p) = 0``. The Householder reflection ``Q = I - 2 v v^T / v^T v``, ``v = sqrt(p) + e_C``, is
    orthogonal and maps ``e_C`` to ``-sqrt(p)``, so ``S Q`` has the same outer product and a zero last column,
    which is dropped: the rank is ``C - 1``, and every sweep carries one column fewer. Worked out,
    ``(S Q)^T`` has rows ``f_k = sqrt(p_k) (e_k - (1 - c) p - c e_C)``, ``c = sqrt(p_C) / (1 + sqrt(p_C))``.
    """
    s = p.sqrt()
    c = s[:, -1:] / (1 + s[:, -1:])
    base = (c - 1) * p
    base[:, -1] -= c[:, 0]
    rows = s[:, :-1, None] * base[:, None, :]
    rows.diagonal(dim1=1, dim2=2).add_(s[:, :-1])
    return rows
