"""The linear steps of a :class:`.chain.Chain` acting on batches of vectors, in both directions.

- :func:`adjoint` maps cotangents ``[M, *out]`` to ``[M, *in]`` (``A^T v``; weights fixed);
- :func:`push` maps tangents ``[M, *in]`` to ``[M, *out]`` (``A v``, the linearised layer; no bias).

Max pooling is linear given its argmax, which differs per sample: its maps take ``M = N r`` vectors in sample-
major order (``r`` per sample). The rest turns vectors at a layer's output into per-parameter quantities
(per-sample weight gradients of a convolution, OBD's sums of squares) and splits them into weight and bias.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .chain import AvgPoolSpec, ConvSpec, Step

__all__ = ["adjoint", "channel_map", "conv_project", "conv_project_squares", "linear_squares", "max_gather",
           "pointwise", "push", "split_conv", "split_linear", "squares_times", "unfold_input", "with_ones"]


def _grouped(v: torch.Tensor, step: Step) -> torch.Tensor:
    """``[N r, C, *spatial] -> [N, r, C, prod(spatial)]`` for a max pooling of ``N`` samples."""
    N = step.indices.shape[0]
    return v.reshape(N, -1, v.shape[1], math.prod(v.shape[2:]))


def max_gather(step: Step, v: torch.Tensor, channels: slice | torch.Tensor = slice(None)) -> torch.Tensor:
    """The linearised max pooling on ``[N, r, c, H, W]`` tangents on ``channels`` (a slice or an index
    tensor): ``[N, r, c, Ho, Wo]``."""
    idx = step.indices[:, channels].flatten(2)
    N, r, c = v.shape[:3]
    out = v.reshape(N, r, c, -1).gather(3, idx.unsqueeze(1).expand(N, r, *idx.shape[1:]))
    return out.view(N, r, c, *step.indices.shape[2:])


def adjoint(step: Step, v: torch.Tensor, in_shape: torch.Size) -> torch.Tensor:
    """``A^T v`` for the linear step ``A`` (Linear/conv without bias, pooling, padding, reshape).

    ``v`` ``[M, *out]`` -> ``[M, *in]``, ``in_shape`` the per-sample input shape (max pooling: ``M = N r``,
    sample-major).
    """
    s = step.spec
    if step.kind == "linear":
        return v @ step.weight
    if step.kind == "conv" and pointwise(s):
        return channel_map(step.weight, v, s.groups, transpose=True)
    if step.kind == "conv":
        full = _full_padding(s)
        if full is not None:
            # Stride 1: the adjoint is the full correlation with the flipped, transposed kernel, which
            # oneDNN runs about 1.4x faster on CPU than the transposed convolution of conv2d_input.
            return F.conv2d(v, _transposed_kernel(step.weight, s.groups), None, 1, full, s.dilation, s.groups)
        if full is None and in_shape[0] >= 4 and min(_full_padding(s, strided=True)) >= 0:
            # Stride above 1: zeros between the outputs make it a stride-1 adjoint, a plain correlation again;
            # with a few input channels or more, oneDNN runs that up to 2x faster than the transposed
            # convolution, despite the multiplications by zero.
            (sh, sw), (Ho, Wo) = s.stride, v.shape[-2:]
            size = [H + 2 * p - d * (k - 1) for H, p, d, k in zip(in_shape[1:], s.padding, s.dilation,
                                                                  s.kernel_size, strict=True)]
            spread = v.new_zeros(*v.shape[:2], *size)
            spread[:, :, :(Ho - 1) * sh + 1:sh, :(Wo - 1) * sw + 1:sw] = v
            return F.conv2d(spread, _transposed_kernel(step.weight, s.groups), None, 1,
                            _full_padding(s, strided=True), s.dilation, s.groups)
        return torch.nn.grad.conv2d_input((v.shape[0], *in_shape), step.weight, v, s.stride, s.padding,
                                          s.dilation, s.groups)
    if step.kind == "pool":
        if _tiling(s, in_shape):
            # Each output's share spread over its window: a nearest-neighbour upsampling, scaled in place.
            # repeat_interleave is the fastest such copy on CPU (F.interpolate: up to 5x slower).
            (kh, kw) = s.kernel_size
            return v.repeat_interleave(kw, dim=-1).repeat_interleave(kh, dim=-2).mul_(
                1.0 / (s.divisor_override or kh * kw))
        shape_only = v.new_empty(()).expand(v.shape[0], *in_shape)
        return torch.ops.aten.avg_pool2d_backward(v, shape_only, s.kernel_size, s.stride, s.padding,
                                                  s.ceil_mode, s.count_include_pad, s.divisor_override)
    if step.kind == "maxpool":
        grouped = _grouped(v, step)
        N, r, C, _ = grouped.shape
        out = grouped.new_zeros(N, r, C, math.prod(in_shape[1:]))
        idx = step.indices.flatten(2)
        out.scatter_add_(3, idx.unsqueeze(1).expand(N, r, *idx.shape[1:]), grouped)
        return out.view(v.shape[0], *in_shape)
    if step.kind == "pad":
        left, right, top, bottom = s.pad
        if s.mode == "constant":
            H, W = in_shape[-2:]
            return v[..., top:top + H, left:left + W]
        _, pullback = torch.func.vjp(lambda x: F.pad(x, s.pad, s.mode), v.new_zeros(v.shape[0], *in_shape))
        return pullback(v)[0]
    return v.reshape(v.shape[0], *in_shape)


def pointwise(conv: ConvSpec) -> bool:
    """Whether a convolution only mixes channels at each position (1x1 kernel, stride 1, no padding)."""
    return conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.padding == (0, 0)


def channel_map(weight: torch.Tensor, v: torch.Tensor, groups: int, transpose: bool = False) -> torch.Tensor:
    """A pointwise convolution (``weight`` ``[O, I/g, 1, 1]``) of ``v`` ``[M, I, *spatial]`` as a matrix
    product over the channels, per group (``transpose``: its adjoint, ``[M, O, ...] -> [M, I, ...]``); a
    depthwise one as a per-channel scale. oneDNN's convolution spends 2-20x longer on such maps of many small
    images on CPU."""
    O, Ig = weight.shape[:2]
    if Ig == 1 and O == groups:
        return v * weight.view(1, O, *[1] * (v.dim() - 2))
    W = weight.view(groups, O // groups, Ig)
    if transpose:
        W = W.transpose(1, 2)
    out = torch.matmul(W, v.reshape(v.shape[0], groups, W.shape[2], -1))
    return out.reshape(v.shape[0], groups * W.shape[1], *v.shape[2:])


def _transposed_kernel(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """``[O, I/g, kh, kw] -> [I, O/g, kh, kw]`` flipped: the kernel of a stride-1 convolution's adjoint."""
    O, Ig = weight.shape[:2]
    if groups == 1:
        return weight.flip(2, 3).transpose(0, 1)
    return (weight.view(groups, O // groups, Ig, *weight.shape[2:]).transpose(1, 2)
            .reshape(groups * Ig, O // groups, *weight.shape[2:]).flip(2, 3))


def _full_padding(conv: ConvSpec, strided: bool = False) -> tuple[int, int] | None:
    """Padding ``d (k - 1) - p`` per side that makes a stride-1 convolution's adjoint a plain correlation
    (output ``H_out + d (k - 1) - 2 p = H_in``), or ``None`` (a stride above 1 unless ``strided``: then the
    pair as it is, possibly negative; or ``p > d (k - 1)``)."""
    pad = tuple(d * (k - 1) - p for k, d, p in zip(conv.kernel_size, conv.dilation, conv.padding, strict=True))
    if strided:
        return pad
    if conv.stride != (1, 1):
        return None
    return pad if min(pad) >= 0 else None


def push(step: Step, v: torch.Tensor) -> torch.Tensor:
    """``A v`` for the linear step ``A`` (Linear/conv without bias, pooling, padding, reshape): ``[M, *in]`` ->
    ``[M, *out]`` (max pooling: ``M = N r``, sample-major)."""
    s = step.spec
    if step.kind == "linear":
        return v @ step.weight.T
    if step.kind == "conv" and pointwise(s):
        return channel_map(step.weight, v, s.groups)
    if step.kind == "conv":
        return F.conv2d(v, step.weight, None, s.stride, s.padding, s.dilation, s.groups)
    if step.kind == "pool" and _tiling(s, v.shape[1:]):
        kh, kw = s.kernel_size
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
        return out.mul_(1.0 / (s.divisor_override or kh * kw))
    if step.kind == "pool":
        return F.avg_pool2d(v, s.kernel_size, s.stride, s.padding, s.ceil_mode, s.count_include_pad,
                            s.divisor_override)
    if step.kind == "maxpool":
        N = step.indices.shape[0]
        return max_gather(step, v.reshape(N, -1, *v.shape[1:])).flatten(0, 1)
    if step.kind == "pad":
        return F.pad(v, s.pad, s.mode)
    return s(v)


def _tiling(pool: AvgPoolSpec, in_shape: torch.Size) -> bool:
    """Whether an average pooling tiles its input exactly (stride = kernel, no padding, sizes divisible)."""
    divisible = in_shape[-2] % pool.kernel_size[0] == 0 and in_shape[-1] % pool.kernel_size[1] == 0
    return pool.kernel_size == pool.stride and pool.padding == (0, 0) and divisible


def unfold_input(step: Step, x: torch.Tensor) -> torch.Tensor:
    """im2col of a convolution's input: ``U`` ``[N, C_in kh kw, L]`` in ``weight.reshape(C_out, -1)`` order
    within each group (group ``g`` holds rows ``g J .. (g + 1) J``, ``J = C_in/groups kh kw``), ``L`` output
    positions: ``a[n, c, p] = sum_j W[c, j] U[n, g(c) J + j, p] (+ b[c])``."""
    s = step.spec
    (kh, kw), (dh, dw) = s.kernel_size, s.dilation
    (ph, pw), (sh, sw) = s.padding, s.stride
    x = F.pad(x, (pw, pw, ph, ph))
    N, C, H, W = x.shape
    Ho, Wo = (H - dh * (kh - 1) - 1) // sh + 1, (W - dw * (kw - 1) - 1) // sw + 1
    n_, c_, h_, w_ = x.stride()
    # A strided view [N, C, kh, kw, Ho, Wo] copied once: the same result as F.unfold, several times faster on
    # CPU.
    patches = x.as_strided((N, C, kh, kw, Ho, Wo), (n_, c_, h_ * dh, w_ * dw, h_ * sh, w_ * sw))
    return patches.reshape(N, C * kh * kw, Ho * Wo)


def _per_sample_weight_grads(step: Step, x: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``sum_p U[n, j, p] cols[n, k, c, p]`` for a convolution's input ``x`` ``[N, *in]`` and columns ``cols``
    ``[N, r, C_out, *out]`` at its output, as ``[N, r, C_out, J]`` (``J = C_in/groups kh kw``, ``j`` within the
    group of ``c``): the weight gradient of every sample and column at once.

    One batched product of the columns with the im2col ``U`` (:func:`unfold_input`, a strided copy), batched
    over samples and groups. For strided, grouped and dilated convolutions it runs 2-4x faster on CPU than the
    alternative without ``U`` (a correlation of the input with the columns as kernels, grouped by sample),
    and no slower for the stride-1 convolutions of the LeNets.
    """
    g = step.spec.groups
    N, r, C = cols.shape[:3]
    U = unfold_input(step, x)  # [N, g J, L]
    J, L = U.shape[1] // g, U.shape[2]
    if g == 1:
        return torch.bmm(cols.reshape(N, r * C, L), U.transpose(1, 2)).view(N, r, C, J)
    Og = C // g
    V = cols.reshape(N, r, g, Og, L).transpose(1, 2).reshape(N * g, r * Og, L)
    out = torch.bmm(V, U.view(N * g, J, L).transpose(1, 2))  # [N g, r Og, J]
    return out.view(N, g, r, Og, J).transpose(1, 2).reshape(N, r, C, J)


def conv_project(step: Step, x: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Per-sample weight-space images ``J_W^T v`` of output-space columns ``v`` of a convolution.

    Args:
        step: the convolution; x: its input ``[N, *in]``.
        cols: ``[N, r, C_out, *out]`` columns at the convolution's output.

    Returns:
        ``[N, r, C_out, J (+1)]`` in ``weight.reshape(C_out, -1)`` order: ``sum_p U[n, j, p] cols[n, k, c, p]``,
        the derivative of ``cols[n, k] . a_n`` in ``W[c, j]`` (the shared weight summed over the positions it
        is used at; the bias column sums ``cols`` over positions).
    """
    weight = _per_sample_weight_grads(step, x, cols)
    if step.bias is None:
        return weight
    return torch.cat([weight, cols.flatten(3).sum(3, keepdim=True)], dim=3)


PROJECTION_BYTES = 4 * 2**20
"""Bytes of per-sample weight gradients (``[n, r, C_out, J]``) that :func:`conv_project_squares` forms at once: a
convolution with many weights (e.g. 12 x 12 x 5 x 5) would otherwise hold ``r`` weight gradients per sample of
the whole batch."""


def conv_project_squares(step: Step, x: torch.Tensor, cols: torch.Tensor,
                         signs: torch.Tensor | None) -> torch.Tensor:
    """``sum_n sum_k s_nk conv_project(step, x, cols)[n, k]^2``: ``[C_out, J (+1)]`` (``signs`` ``s`` ``[N, r]``
    or ``None``: all +1), over the samples in slices of at most :data:`PROJECTION_BYTES` of weight gradients."""
    N, r, C = cols.shape[:3]
    J = step.weight.numel() // C
    n = max(1, PROJECTION_BYTES // (r * C * J * cols.element_size()))
    weight = None
    for a in range(0, N, n):
        T = _per_sample_weight_grads(step, x[a:a + n], cols[a:a + n]).square_().reshape(-1, C * J)
        part = T.sum(0) if signs is None else signs[a:a + n].reshape(1, -1) @ T
        weight = part if weight is None else weight.add_(part)
    weight = weight.view(C, J)
    if step.bias is None:
        return weight
    B = cols.flatten(3).sum(3).square_().view(N * r, C)
    bias = B.sum(0) if signs is None else signs.reshape(1, N * r) @ B
    return torch.cat([weight, bias.view(C, 1)], dim=1)


def squares_times(step: Step, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``sum_n sum_p U[n, j, p]^2 h[n, c, p]`` for the convolution ``step`` with input ``x`` ``[N, *in]`` and
    ``h`` ``[N, C, *out]`` at its output: ``[C, J (+1)]`` (:func:`unfold_input`'s ``U``, ``j`` within the
    group of ``c``).

    A shared weight's sum over its connections of ``x_j^2 d2E/da_i^2`` (OBD section 3), for a diagonal ``h``.
    Unfolding copies entries, so ``U^2`` is the unfolding of ``x^2``, and the sum is the weight gradient of
    the same convolution at input ``x^2`` and output gradient ``h``: one backward convolution, no ``U``.
    """
    s = step.spec
    weight = torch.nn.grad.conv2d_weight(x.square(), step.weight.shape, h, s.stride, s.padding, s.dilation,
                                         s.groups)
    weight = weight.reshape(weight.shape[0], -1)
    if step.bias is None:
        return weight
    return torch.cat([weight, h.sum((0, 2, 3)).unsqueeze(1)], dim=1)


def split_conv(step: Step, h: torch.Tensor) -> dict[str, torch.Tensor]:
    """Split a per-(output channel, unfolded input) quantity ``[..., C_out, J (+1)]`` into weight and bias
    (each in its parameter's shape)."""
    out = {}
    J = math.prod(step.weight.shape[1:]) if step.weight is not None else 0
    if step.weight_key is not None:
        out[step.weight_key] = h[..., :J].reshape(*h.shape[:-2], *step.weight_shape)
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


def linear_squares(step: Step, h: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """``sum_n x_nj^2 h_ni`` (weight) and ``sum_n h_ni`` (bias) of a Linear layer with input ``x`` ``[N, in]``
    and a diagonal ``h`` ``[N, out]`` at its output: OBD's ``x_j^2 d2E/da_i^2`` summed over patterns."""
    out = {}
    if step.weight_key is not None:
        out[step.weight_key] = h.T @ x.square()
    if step.bias_key is not None:
        out[step.bias_key] = h.sum(0)
    return out


def with_ones(x: torch.Tensor, step: Step) -> torch.Tensor:
    """``[N, in] -> [N, in (+1)]``: append a column of ones when the layer has a bias."""
    if step.bias is None:
        return x
    return torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)
