"""OBD's diagonal back-propagation: ``curvature="lecun"`` and ``"lecun-lm"``.

Reference:
Reference:
    Y. LeCun, J. S. Denker and S. A. Solla (1990), "Optimal Brain Damage", in D. S. Touretzky (ed.),
    Advances in Neural Information Processing Systems 2 (NIPS 1989), pp. 598-605. Morgan Kaufmann.

``"lecun"`` / ``"lecun-lm"``: OBD's diagonal rules, per pattern, with x_i = f(a_i):

    output unit, E = sum_i (d_i - x_i)^2:  d2E/da_i^2 = 2 f'(a_i)^2 - 2 (d_i - x_i) f''(a_i)
    hidden unit:                           d2E/da_i^2 = f'(a_i)^2 sum_l w_li^2 d2E/da_l^2 + f''(a_i) dE/dx_i

    The output rule is generalised to ``f'^2 [d2E/dz^2]_ii + f'' dE/dx_i`` with the loss's own diagonal
    Hessian in the outputs: 2 per entry for MSE-sum, ``2/(N C)`` for MSE-mean, ``s p_i (1 - p_i)`` for
    cross-entropy (s = 1 or 1/N). The paper prints a minus sign before the hidden f'' term; the chain rule
    gives plus, consistent with the output rule. ``sum_l w_li^2`` runs over one linear map at a time (a
    Linear, a convolution's connections, an average pooling's 1/k coefficients; max pooling and padding copy
    entries, coefficient 1). ``"lecun-lm"`` drops every f'' term (the Levenberg-Marquardt approximation;
    never negative).

"""

from __future__ import annotations

import dataclasses

import torch

from ._backprop import (
    PIECEWISE_LINEAR,
    LossTerms,
    Step,
    Trace,
    adjoint,
    linear_squares,
    lowest_curved,
    split_conv,
    squares_times,
    unsupported,
)

__all__ = ["lecun"]


def lecun(steps: list[Step], trace: Trace, loss: LossTerms, *,
           curvature_terms: bool) -> dict[str, torch.Tensor]:
    """OBD's per-pattern diagonal back-propagation; without the f'' terms unless ``curvature_terms``. Consumes
    ``trace`` (each entry is released once used)."""
    start = next((i for i, s in enumerate(steps) if s.has_params), None)
    out: dict[str, torch.Tensor] = {}
    if start is None:
        return out
    h, grad = loss.diagonal, loss.grad if curvature_terms else None
    lowest = lowest_curved(steps)
    for i in range(len(steps) - 1, start - 1, -1):
        step = steps[i]
        in_shape = trace.shape(i)
        if grad is not None and (lowest is None or i < lowest):
            grad = None  # no f'' term below: dE/dx is not needed any more
        if step.kind == "act":
            f1, f2 = trace.derivs.pop(i)  # the trace is consumed as the recursion goes down
            h = h * f1.square()
            if grad is not None:
                if not isinstance(step.module, PIECEWISE_LINEAR):
                    h = h + f2 * grad
                grad = grad * f1
            continue
        if step.kind == "linear" and step.has_params:
            out.update(linear_squares(step, h, trace.inputs[i]))
        elif step.kind == "conv":
            out.update(split_conv(step, squares_times(step, trace.inputs[i], h)))
        trace.inputs[i] = None
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
    if step.kind == "conv":  # the adjoint's fast paths, with the kernel squared
        return adjoint(dataclasses.replace(step, weight=step.weight.square()), h, in_shape)
    if step.kind == "pool":
        if s.ceil_mode or (s.padding != (0, 0) and not s.count_include_pad):
            raise unsupported(step.name, step.module, "OBD's recursion needs every average-pooling window to "
                              "have the same divisor: ceil_mode=False and padding=0 or count_include_pad=True")
        divisor = s.divisor_override or s.kernel_size[0] * s.kernel_size[1]
        return adjoint(step, h, in_shape) / divisor
    return adjoint(step, h, in_shape)
