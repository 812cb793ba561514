"""OBD's weight-sharing rule against the exact diagonal of a shared parameter.

Reference:
    Y. LeCun, J. S. Denker and S. A. Solla (1990), "Optimal Brain Damage", NIPS 2, pp. 598-605 (eq. 3).

A convolution weight ``u_k`` is shared by many connections (one per output position ``p``). OBD takes its
second derivative as the sum over those connections of ``d2E/dw_ij^2``, dropping the cross terms between
connections that share it. With ``a`` the layer's pre-activation, ``H_a(n)`` the exact Hessian of sample n's
loss in it and ``U_n[j, p]`` the input that weight ``j`` of output channel ``c`` meets at position ``p``
(the unfolded input), per output channel ``c``:

    paper:  sum_n sum_p [H_a(n)]_(c,p),(c,p) U_n[j, p]^2                 (cross terms dropped)
    exact:  sum_n sum_(p,q) U_n[j, p] [H_a(n)]_(c,p),(c,q) U_n[j, q]      (d2E/du_k^2)

and for the bias ``U = 1``. Both use the exact ``H_a(n)`` (``torch.func.hessian`` of the layers above, per
sample), so their difference is the sharing rule alone, not the recursion's other approximation (dropping the
cross terms between units, :mod:`.diagonal`). A ``Linear`` layer shares nothing: both are its exact diagonal.
Cost: one dense Hessian in the layer's outputs per sample (``D^2`` for ``D`` output units): small layers or a
subset of the samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import hessian, vmap

__all__ = ["connection_sums"]


def _sample_scale(loss_fn: nn.Module, n: int) -> float:
    """``E = scale * sum_n loss_fn(model(x_n), y_n)`` for MSE and cross-entropy: 1/N for mean, 1 for sum."""
    if getattr(loss_fn, "reduction", None) not in ("mean", "sum"):
        raise ValueError(f"loss_fn must have reduction 'mean' or 'sum'; got {getattr(loss_fn, 'reduction', None)!r}")
    return 1.0 / n if loss_fn.reduction == "mean" else 1.0


def _pre_activation_hessians(tail: list[nn.Module], loss_fn: nn.Module, a: torch.Tensor, targets: torch.Tensor,
                             scale: float, chunk: int) -> torch.Tensor:
    """``[N, D, D]``: per sample, the exact Hessian of ``scale * loss_fn(tail(a_n), t_n)`` in ``a_n`` (flattened)."""

    def loss(a_n, t_n):
        y = a_n[None]
        for layer in tail:
            y = layer(y)
        return scale * loss_fn(y, t_n[None])

    per_sample = vmap(hessian(loss), in_dims=(0, 0), chunk_size=chunk)
    d = a[0].numel()
    return torch.cat([per_sample(a[i: i + chunk], targets[i: i + chunk]).reshape(-1, d, d)
                      for i in range(0, a.shape[0], chunk)])


def connection_sums(model: nn.Sequential, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *,
                    chunk: int = 8) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """For the weight and bias of every ``Conv2d`` and ``Linear`` of ``model``: ``(paper, exact)``, OBD's
    connection sum and the exact diagonal of ``E = loss_fn(model(inputs), targets)`` (module docstring), each
    shaped like the parameter and keyed like ``dict(model.named_parameters())``.

    ``inputs`` ``[N, *input_shape]``; ``loss_fn`` with reduction ``"mean"`` or ``"sum"``; ``chunk`` samples
    per vectorised Hessian. A pruned layer is taken in its effective weight (entries of absent connections
    get values too; they are no parameters)."""
    layers = list(model)
    names = dict(model.named_parameters())
    scale = _sample_scale(loss_fn, inputs.shape[0])
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    z = inputs
    for i, layer in enumerate(layers):
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            with torch.no_grad():
                a = layer(z)
            h = _pre_activation_hessians(layers[i + 1:], loss_fn, a.detach(), targets, scale, chunk)
            prefix = str(i)
            weight = next(n for n in (f"{prefix}.weight", f"{prefix}.weight_orig") if n in names)
            if isinstance(layer, nn.Linear):
                diag = torch.diagonal(h, dim1=1, dim2=2)  # [N, out]
                w = torch.einsum("ni,nj->ij", diag, z.detach() ** 2)
                out[weight] = (w, w)
                if layer.bias is not None:
                    b = diag.sum(0)
                    out[f"{prefix}.bias"] = (b, b)
            else:
                out.update(_conv_sums(layer, z.detach(), h, weight, prefix))
        with torch.no_grad():
            z = layer(z)
    return out


def _conv_sums(conv: nn.Conv2d, z: torch.Tensor, h: torch.Tensor, weight: str, prefix: str
               ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    if not isinstance(conv.padding, tuple) or conv.padding_mode != "zeros":
        raise ValueError(f"connection_sums needs a Conv2d with numeric zero padding; got padding={conv.padding!r}, "
                         f"padding_mode={conv.padding_mode!r}")
    n, c_out = z.shape[0], conv.out_channels
    u = F.unfold(z, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)
    groups = conv.groups
    u = u.reshape(n, groups, -1, u.shape[-1])[:, torch.arange(c_out) // (c_out // groups)]  # [N, C, J, P]
    positions = u.shape[-1]
    blocks = h.reshape(n, c_out, positions, c_out, positions)
    blocks = torch.diagonal(blocks, dim1=1, dim2=3).permute(0, 3, 1, 2)  # [N, C, P, P]: H within channel c
    diag = torch.diagonal(blocks, dim1=2, dim2=3)  # [N, C, P]
    paper = torch.einsum("ncp,ncjp->cj", diag, u**2).reshape(conv.weight.shape)
    exact = torch.einsum("ncjp,ncpq,ncjq->cj", u, blocks, u).reshape(conv.weight.shape)
    out = {weight: (paper, exact)}
    if conv.bias is not None:
        out[f"{prefix}.bias"] = (diag.sum((0, 2)), blocks.sum((0, 2, 3)))
    return out
