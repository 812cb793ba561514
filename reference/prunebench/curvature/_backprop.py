"""The network as a chain of simple maps, for layer-by-layer (second-order) back-propagation.

A supported model is an ``nn.Sequential`` (nested ones are flattened) of ``Linear``, ``Conv2d`` (groups=1,
zero padding), ``AvgPool2d``, ``Flatten`` and elementwise activations (see
:func:`prunebench.models.activation_derivatives`). Each layer is a :class:`Step`; :func:`record` runs the
forward pass and keeps what the backward sweeps need: every step's input and, for activations, ``f'`` and
``f''`` at the pre-activation. The linear steps then act on batches of vectors in both directions:

- :func:`adjoint` maps cotangents ``[M, *out]`` to ``[M, *in]`` (``A^T v``; weights fixed);
- :func:`push` maps tangents ``[M, *in]`` to ``[M, *out]`` (``A v``, the linearised layer; no bias).

:class:`LossTerms` holds the loss's gradient and Hessian in the outputs in closed form (MSE, cross-entropy).
Everything runs in the model's dtype and on its device.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from ..models import ScaledTanh, activation_derivatives, effective_params

__all__ = ["ACTIVATIONS", "PIECEWISE_LINEAR", "LossTerms", "Step", "Trace", "adjoint", "conv_project",
           "conv_project_squares", "plan", "push", "record", "split_conv", "split_linear", "squares_times",
           "unfold_input", "unsupported", "with_ones"]

ACTIVATIONS = (nn.Tanh, nn.Sigmoid, nn.ReLU, nn.Identity, ScaledTanh)
PIECEWISE_LINEAR = (nn.ReLU, nn.Identity)
"""Activations whose f'' is zero everywhere (almost everywhere for ReLU): their f'' terms are skipped."""

SUPPORTED = ("Linear, Conv2d (groups=1, numeric zero padding), AvgPool2d, Flatten, Tanh, Sigmoid, ReLU, "
             "Identity, ScaledTanh")


def unsupported(name: str, module: nn.Module, why: str = "") -> TypeError:
    """The one error for a layer the native backend cannot back-propagate second derivatives through."""
    detail = f" ({why})" if why else ""
    return TypeError(
        f"layer {name!r} ({type(module).__name__}){detail} is not supported by the native curvature backend, "
        f"which supports {SUPPORTED}. Use backend='torchfunc' (any differentiable layer; dense, small models "
        "only), or backend='backpack' / 'curvlinops' for the layers those libraries support."
    )


@dataclass
class Step:
    """One layer of the chain.

    Attributes:
        name: the module's name in ``model.named_modules()``.
        module: the layer.
        kind: ``"linear"``, ``"conv"``, ``"pool"``, ``"flatten"`` or ``"act"``.
        weight, bias: the effective tensors (masked for pruned layers), or ``None``.
        weight_key, bias_key: their keys in ``dict(model.named_parameters())`` (``...weight_orig`` when
            pruned).
    """

    name: str
    module: nn.Module
    kind: str
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    weight_key: str | None = None
    bias_key: str | None = None

    @property
    def has_params(self) -> bool:
        return self.weight is not None or self.bias is not None


def plan(model: nn.Module, tensors: dict[str, torch.Tensor] | None = None) -> list[Step]:
    """The model as a list of :class:`Step`; raises ``TypeError`` naming the first unsupported layer.

    ``tensors``: the model's :func:`~prunebench.models.effective_params`, when the caller has them already.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential (e.g. prunebench.models.Net); got "
                        f"{type(model).__name__}. Use backend='torchfunc' for other module structures (small "
                        "models only).")
    tensors = effective_params(model) if tensors is None else tensors
    owned: dict[str, list[str]] = {}  # module name -> its own parameters' local names
    for key in tensors:
        prefix, _, local = key.rpartition(".")
        owned.setdefault(prefix, []).append(local)
    steps = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Sequential):
            continue
        if isinstance(module, ACTIVATIONS):
            steps.append(Step(name, module, "act"))
        elif isinstance(module, nn.Flatten):
            steps.append(Step(name, module, "flatten"))
        elif isinstance(module, nn.AvgPool2d):
            steps.append(Step(name, module, "pool"))
        elif isinstance(module, (nn.Linear, nn.Conv2d)):
            if isinstance(module, nn.Conv2d):
                if module.groups != 1:
                    raise unsupported(name, module, f"groups={module.groups}")
                if module.padding_mode != "zeros" or isinstance(module.padding, str):
                    raise unsupported(name, module,
                                      f"padding={module.padding!r}, padding_mode={module.padding_mode!r}")
            step = Step(name, module, "linear" if isinstance(module, nn.Linear) else "conv")
            for local in owned.get(name, ()):
                key = f"{name}.{local}" if name else local
                role = local.removesuffix("_orig")
                if role not in ("weight", "bias"):
                    raise unsupported(name, module, f"unexpected parameter {local!r}")
                setattr(step, role, tensors[key])
                setattr(step, f"{role}_key", key)
            steps.append(step)
        else:
            raise unsupported(name, module)
    return steps


@dataclass
class Trace:
    """What one forward pass leaves for the backward sweeps.

    Attributes:
        inputs: ``inputs[i]`` is the input of step ``i`` (``[N, *in_i]``); ``inputs[i + 1]`` its output.
        output: the model output ``z``, ``[N, C]``.
        derivs: for each activation step ``i``: ``(f'(a), f''(a))`` at its input ``a``, each ``[N, *in_i]``
            (``f''`` is ``None`` when :func:`record` was not asked for it).
    """

    inputs: list[torch.Tensor]
    output: torch.Tensor
    derivs: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def shape(self, i: int) -> torch.Size:
        """Per-sample shape of the tensor at position ``i`` (the input of step ``i``)."""
        return self.inputs[i].shape[1:] if i < len(self.inputs) else self.output.shape[1:]


def record(steps: list[Step], inputs: torch.Tensor, second: bool = True) -> Trace:
    """Forward pass through ``steps`` keeping every step's input and the activations' derivatives
    (``f''`` only with ``second``; ``None`` in its place otherwise)."""
    x = inputs
    kept, derivs = [], {}
    for i, step in enumerate(steps):
        kept.append(x)
        if step.kind == "act":
            x, f1, f2 = activation_derivatives(step.module, x, second=second)
            derivs[i] = (f1, f2)
        elif step.kind == "linear":
            if x.dim() != 2:
                raise unsupported(step.name, step.module, f"input of shape {tuple(x.shape)}; the native "
                                  "backend needs [N, features] inputs to Linear layers (add nn.Flatten "
                                  "before it)")
            x = F.linear(x, step.weight, step.bias)
        elif step.kind == "conv":
            m = step.module
            x = F.conv2d(x, step.weight, step.bias, m.stride, m.padding, m.dilation)
        else:
            x = step.module(x)
    if x.dim() != 2:
        raise ValueError(f"model outputs must have shape [N, C]; got {tuple(x.shape)}. End the model with "
                         "nn.Flatten or nn.Linear.")
    return Trace(kept, x, derivs)


def adjoint(step: Step, v: torch.Tensor, in_shape: torch.Size) -> torch.Tensor:
    """``A^T v`` for the linear step ``A`` (Linear/Conv2d without bias, AvgPool2d, Flatten).

    ``v`` ``[M, *out]`` -> ``[M, *in]``, ``in_shape`` the per-sample input shape.
    """
    m = step.module
    if step.kind == "linear":
        return v @ step.weight
    if step.kind == "conv":
        full = _full_padding(m)
        if full is not None:
            # Stride 1: the adjoint is the full correlation with the flipped, transposed kernel, which
            # oneDNN runs about 1.4x faster on CPU than the transposed convolution of conv2d_input.
            return F.conv2d(v, step.weight.flip(2, 3).transpose(0, 1), None, 1, full, m.dilation)
        return torch.nn.grad.conv2d_input((v.shape[0], *in_shape), step.weight, v, m.stride, m.padding,
                                          m.dilation)
    if step.kind == "pool":
        kernel, stride, padding = (_pair(a) for a in (m.kernel_size, m.stride or m.kernel_size, m.padding))
        if _tiling(m, in_shape):
            # Each output's share spread over its window: a nearest-neighbour upsampling, scaled in place.
            # repeat_interleave is the fastest such copy on CPU (F.interpolate: up to 5x slower).
            (kh, kw) = kernel
            return v.repeat_interleave(kw, dim=-1).repeat_interleave(kh, dim=-2).mul_(
                1.0 / (m.divisor_override or kh * kw))
        shape_only = v.new_empty(()).expand(v.shape[0], *in_shape)
        return torch.ops.aten.avg_pool2d_backward(v, shape_only, kernel, stride, padding, m.ceil_mode,
                                                  m.count_include_pad, m.divisor_override)
    return v.reshape(v.shape[0], *in_shape)


def _full_padding(conv: nn.Conv2d) -> tuple[int, int] | None:
    """Padding ``d (k - 1) - p`` per side that makes a stride-1 convolution's adjoint a plain correlation
    (output ``H_out + d (k - 1) - 2 p = H_in``), or ``None`` (a stride above 1, or ``p > d (k - 1)``)."""
    if _pair(conv.stride) != (1, 1):
        return None
    pad = tuple(d * (k - 1) - p for k, d, p in zip(_pair(conv.kernel_size), _pair(conv.dilation),
                                                    _pair(conv.padding), strict=True))
    return pad if min(pad) >= 0 else None


def push(step: Step, v: torch.Tensor) -> torch.Tensor:
    """``A v`` for the linear step ``A`` (Linear/Conv2d without bias, AvgPool2d, Flatten): ``[M, *in]`` ->
    ``[M, *out]``."""
    m = step.module
    if step.kind == "linear":
        return v @ step.weight.T
    if step.kind == "conv":
        return F.conv2d(v, step.weight, None, m.stride, m.padding, m.dilation)
    if step.kind == "pool" and _tiling(m, v.shape[1:]):
        kh, kw = _pair(m.kernel_size)
        C, H, W = v.shape[1:]
        # Sum along rows, then along columns, one strided add per kernel offset: several times faster on CPU
        # than avg_pool2d for many small images.
        rows = v.view(-1, C, H, W // kw, kw)
        acc = rows[..., 0] + rows[..., 1] if kw > 1 else rows[..., 0].clone()
        for b in range(2, kw):
            acc += rows[..., b]
        cols = acc.view(-1, C, H // kh, kh, W // kw)
        out = cols[:, :, :, 0] + cols[:, :, :, 1] if kh > 1 else cols[:, :, :, 0].clone()
        for a in range(2, kh):
            out += cols[:, :, :, a]
        return out.mul_(1.0 / (m.divisor_override or kh * kw))
    return m(v)


def _tiling(pool: nn.AvgPool2d, in_shape: torch.Size) -> bool:
    """Whether an AvgPool2d tiles its input exactly (stride = kernel, no padding, sizes divisible)."""
    kernel, stride = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size)
    divisible = in_shape[-2] % kernel[0] == 0 and in_shape[-1] % kernel[1] == 0
    return kernel == stride and _pair(pool.padding) == (0, 0) and divisible


def unfold_input(step: Step, x: torch.Tensor) -> torch.Tensor:
    """im2col of a convolution's input, with a row of ones appended when the layer has a bias.

    Returns ``U`` of shape ``[N, J (+1), L]``: ``J = C_in * kh * kw`` in ``weight.reshape(C_out, -1)`` order
    and ``L`` output positions, so that ``a[n, c, p] = sum_j W[c, j] U[n, j, p] (+ b[c])``.
    """
    m = step.module
    (kh, kw), (dh, dw) = _pair(m.kernel_size), _pair(m.dilation)
    (ph, pw), (sh, sw) = _pair(m.padding), _pair(m.stride)
    x = F.pad(x, (pw, pw, ph, ph))
    N, C, H, W = x.shape
    Ho, Wo = (H - dh * (kh - 1) - 1) // sh + 1, (W - dw * (kw - 1) - 1) // sw + 1
    n_, c_, h_, w_ = x.stride()
    J = C * kh * kw
    # A strided view [N, C, kh, kw, Ho, Wo] copied once: the same result as F.unfold, several times faster on
    # CPU.
    patches = x.as_strided((N, C, kh, kw, Ho, Wo), (n_, c_, h_ * dh, w_ * dw, h_ * sh, w_ * sw))
    U = x.new_empty(N, J + (step.bias is not None), Ho * Wo)
    U[:, :J].view(N, C, kh, kw, Ho, Wo).copy_(patches)
    if step.bias is not None:
        U[:, J] = 1
    return U


def _per_sample_weight_grads(step: Step, x: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``sum_p U[n, j, p] cols[n, k, c, p]`` for a convolution's input ``x`` ``[N, *in]`` and columns ``cols``
    ``[N, r, C_out, *out]`` at its output, as ``[C_in, N, r, C_out, kh kw]``.

    The weight gradient of every sample and column at once, as one correlation of the input with the columns
    as kernels: the input channels as the batch, grouped by sample (``groups=N``: the ``r C_out`` columns of
    sample ``n`` meet only its own input), stride and dilation swapped, cropped to the kernel size. oneDNN
    runs it up to 1.6x faster on CPU than the batched product of the columns with the im2col ``U``.
    """
    m = step.module
    N, r, C = cols.shape[:3]
    C_in, kh, kw = step.weight.shape[1:]
    kernels = cols.reshape(N * r * C, 1, *cols.shape[3:])
    out = F.conv2d(x.transpose(0, 1), kernels, None, m.dilation, m.padding, m.stride, groups=N)
    return out[:, :, :kh, :kw].reshape(C_in, N, r, C, kh * kw)


def conv_project(step: Step, x: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Per-sample weight-space images ``J_W^T v`` of output-space columns ``v`` of a convolution.

    Args:
        step: the convolution; x: its input ``[N, *in]``.
        cols: ``[N, r, C_out, *out]`` columns at the convolution's output.

    Returns:
        ``[N, r, C_out, J (+1)]`` in :func:`unfold_input`'s order: ``sum_p U[n, j, p] cols[n, k, c, p]``, the
        derivative of ``cols[n, k] . a_n`` in ``W[c, j]`` (the shared weight summed over the positions it is
        used at; the bias column sums ``cols`` over positions).
    """
    N, r, C = cols.shape[:3]
    weight = _per_sample_weight_grads(step, x, cols).permute(1, 2, 3, 0, 4).reshape(N, r, C, -1)
    if step.bias is None:
        return weight
    return torch.cat([weight, cols.flatten(3).sum(3, keepdim=True)], dim=3)


def conv_project_squares(step: Step, x: torch.Tensor, cols: torch.Tensor,
                         signs: torch.Tensor | None) -> torch.Tensor:
    """``sum_n sum_k s_nk conv_project(step, x, cols)[n, k]^2``: ``[C_out, J (+1)]`` (``signs`` ``s`` ``[N, r]``
    or ``None``: all +1), without the per-sample images' reordering."""
    C_in, N, r, C, kk = (T := _per_sample_weight_grads(step, x, cols).square_()).shape
    T = T.view(C_in, N * r, C * kk)
    weight = (T.sum(1) if signs is None else signs.reshape(1, N * r) @ T).view(C_in, C, kk)
    weight = weight.transpose(0, 1).reshape(C, C_in * kk)
    if step.bias is None:
        return weight
    B = cols.flatten(3).sum(3).square_().view(N * r, C)
    bias = B.sum(0) if signs is None else signs.reshape(1, N * r) @ B
    return torch.cat([weight, bias.view(C, 1)], dim=1)


def squares_times(step: Step, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``sum_n sum_p U[n, j, p]^2 h[n, c, p]`` for the convolution ``step`` with input ``x`` ``[N, *in]`` and
    ``h`` ``[N, C, *out]`` at its output: ``[C, J (+1)]`` (:func:`unfold_input`'s ``U`` and order).

    A shared weight's sum over its connections of ``x_j^2 d2E/da_i^2`` (OBD section 3), for a diagonal ``h``.
    Unfolding copies entries, so ``U^2`` is the unfolding of ``x^2``, and the sum is the weight gradient of
    the same convolution at input ``x^2`` and output gradient ``h``: one backward convolution, no ``U``.
    """
    m = step.module
    weight = torch.nn.grad.conv2d_weight(x.square(), step.weight.shape, h, m.stride, m.padding, m.dilation)
    weight = weight.reshape(weight.shape[0], -1)
    if step.bias is None:
        return weight
    return torch.cat([weight, h.sum((0, 2, 3)).unsqueeze(1)], dim=1)


def split_conv(step: Step, h: torch.Tensor) -> dict[str, torch.Tensor]:
    """Split a per-(output channel, unfolded input) quantity ``[..., C_out, J (+1)]`` into weight and bias."""
    out = {}
    J = math.prod(step.weight.shape[1:]) if step.weight is not None else 0
    if step.weight_key is not None:
        out[step.weight_key] = h[..., :J].reshape(*h.shape[:-2], *step.weight.shape)
    if step.bias_key is not None:
        out[step.bias_key] = h[..., J]
    return out


def split_linear(step: Step, h: torch.Tensor) -> dict[str, torch.Tensor]:
    """Split ``[..., out, in (+1)]`` (inputs with a trailing column of ones if biased): weight and bias."""
    out = {}
    if step.weight_key is not None:
        out[step.weight_key] = h[..., : step.weight.shape[1]]
    if step.bias_key is not None:
        out[step.bias_key] = h[..., -1]
    return out


def with_ones(x: torch.Tensor, step: Step) -> torch.Tensor:
    """``[N, in] -> [N, in (+1)]``: append a column of ones when the layer has a bias."""
    if step.bias is None:
        return x
    return torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)


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
        return self.weight.sqrt().unsqueeze(2) * _softmax_factor(self.probs)

    @classmethod
    def of(cls, loss_fn: nn.Module, z: torch.Tensor, targets: torch.Tensor) -> LossTerms:
        """Closed forms for ``nn.MSELoss`` (``c = 2`` or ``2/(N C)``) and ``nn.CrossEntropyLoss`` (``w_n``
        is ``scale`` times the target mass, after label smoothing)."""
        if not isinstance(loss_fn, (nn.MSELoss, nn.CrossEntropyLoss)):
            raise TypeError(f"loss_fn must be torch.nn.MSELoss or torch.nn.CrossEntropyLoss; got "
                            f"{type(loss_fn).__name__}. Use backend='torchfunc' for other losses.")
        if loss_fn.reduction not in ("sum", "mean"):
            raise ValueError(f"loss_fn.reduction must be 'sum' or 'mean'; got {loss_fn.reduction!r}. "
                             "Curvature needs a scalar objective.")
        N, C = z.shape
        scale = 1.0 if loss_fn.reduction == "sum" else 1.0 / N
        if isinstance(loss_fn, nn.MSELoss):
            if targets.shape != z.shape:
                raise ValueError(f"MSE targets must have the outputs' shape {tuple(z.shape)}; got "
                                 f"{tuple(targets.shape)}")
            c = 2.0 if loss_fn.reduction == "sum" else 2.0 / z.numel()
            return cls(lambda: c * (z - targets), scale, torch.full_like(z, c), True, c)
        if loss_fn.weight is not None:
            raise ValueError("CrossEntropyLoss with class weights is not supported natively; got weight="
                             f"{loss_fn.weight}. Use weight=None or backend='torchfunc'.")
        eps = loss_fn.label_smoothing
        if targets.is_floating_point():
            t = targets.to(z.dtype) * (1 - eps) + eps / C
            mass = t.sum(dim=1, keepdim=True)
        else:
            if (targets == loss_fn.ignore_index).any():
                raise ValueError(f"targets must not contain ignore_index={loss_fn.ignore_index} for native "
                                 "curvature; drop those samples first.")
            t = None  # one-hot (smoothed): mass 1, formed only for the gradient
            mass = z.new_ones(N, 1)
        # Per sample, loss = -sum_c t_c log softmax(z)_c: gradient m p - t, Hessian m (diag(p) - p p^T),
        # with the target mass m = sum(t).
        p = torch.softmax(z, dim=1)
        weight = scale * mass

        def gradient() -> torch.Tensor:
            target = F.one_hot(targets, C).to(z.dtype) * (1 - eps) + eps / C if t is None else t
            return scale * (mass * p - target)

        return cls(gradient, scale, weight * p * (1 - p), False, weight, p)


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
