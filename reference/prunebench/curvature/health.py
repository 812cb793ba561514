"""Curvature results and their health report.

Every curvature result says how trustworthy it is: the fraction of negative diagonal entries (a Hessian away
from a minimum, or OBD's signed diagonal, has some), the damping that was added, and for inverses a condition
estimate or the reason a factorisation failed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from .._validation import renamed
from .layout import ParamLayout

__all__ = ["Curvature", "CurvatureHealth", "DenseCurvature", "negative_fraction"]


@dataclass(frozen=True, init=False)
class CurvatureHealth:
    """How a curvature result was made and how healthy it is.

    Attributes:
        curvature: the curvature kind (:mod:`.kinds`), e.g. ``"exact"``, ``"lecun-lm"``, ``"ggn"``,
            ``"fisher"``, ``"hutchinson"`` (formerly ``method``, still accepted and readable with a
            ``DeprecationWarning``).
        backend: who computed it: ``"native"``, ``"torchfunc"``, ``"backpack"`` or ``"curvlinops"``.
        negative_fraction: fraction of diagonal entries below zero, in [0, 1].
        damping: the multiple of the identity added before use (0 when none).
        condition_estimate: an estimate of the 2-norm condition number (inverses only; ``None`` otherwise).
        failure: why a factorisation failed, or ``None`` when nothing failed.
    """

    curvature: str
    backend: str
    negative_fraction: float
    damping: float = 0.0
    condition_estimate: float | None = None
    failure: str | None = None

    def __init__(self, curvature: str | None = None, backend: str | None = None,
                 negative_fraction: float | None = None, damping: float = 0.0,
                 condition_estimate: float | None = None, failure: str | None = None, **former: str):
        curvature = renamed("CurvatureHealth", former, {"method": "curvature"}).get("curvature", curvature)
        values = {"curvature": curvature, "backend": backend, "negative_fraction": negative_fraction}
        missing = [k for k, v in values.items() if v is None]
        if missing:
            raise TypeError(f"CurvatureHealth() missing required arguments {missing}")
        for key, value in {**values, "damping": damping, "condition_estimate": condition_estimate,
                           "failure": failure}.items():
            object.__setattr__(self, key, value)

    @property
    def method(self) -> str:
        """Deprecated name of :attr:`curvature`."""
        warnings.warn("CurvatureHealth.method is deprecated; use .curvature (same value)", DeprecationWarning,
                      stacklevel=2)
        return self.curvature


class Curvature(dict):
    """A dict keyed like ``dict(model.named_parameters())``, each value shaped like its parameter, + health.

    It behaves exactly as a plain dict (saliencies take it unchanged); ``health`` is a
    :class:`CurvatureHealth`.
    """

    def __init__(self, values: dict[str, torch.Tensor], health: CurvatureHealth):
        super().__init__(values)
        self.health = health

    def __repr__(self) -> str:
        shapes = {k: tuple(v.shape) for k, v in self.items()}
        return f"Curvature({shapes}, health={self.health})"


@dataclass(frozen=True)
class DenseCurvature:
    """A dense curvature matrix over the flat parameter vector.

    Attributes:
        matrix: ``Tensor[P, P]``, rows and columns in ``layout`` order.
        layout: the :class:`ParamLayout` that maps parameter names to positions.
        health: a :class:`CurvatureHealth` (``negative_fraction`` counts the diagonal).
    """

    matrix: torch.Tensor
    layout: ParamLayout
    health: CurvatureHealth

    def diagonal(self) -> dict[str, torch.Tensor]:
        """The diagonal as a dict keyed like the layout, each value shaped like its parameter."""
        return self.layout.unflatten(torch.diagonal(self.matrix))


def negative_fraction(values: dict[str, torch.Tensor] | list[torch.Tensor] | torch.Tensor) -> float:
    """Fraction of entries below zero, over all tensors of ``values`` (0 for an empty input): small ones counted
    in one concatenated pass, large ones tensor by tensor, without a copy (:data:`_SMALL`)."""
    tensors = list(values.values()) if isinstance(values, dict) else values if isinstance(values, list) else [values]
    total = sum(t.numel() for t in tensors)
    if not total:
        return 0.0
    return sum(int(torch.count_nonzero(t < 0)) for t in _passes(tensors)) / total  # (sum() would widen to int64)


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """All entries in one vector (one pass instead of one per tensor; the tensors share a dtype)."""
    # flatten, not reshape(-1): the cheaper call (a check runs on every curvature call, and costs as much as a
    # small model's sweep).
    return torch.cat([t.flatten() for t in tensors]) if len(tensors) > 1 else tensors[0].flatten()


_SMALL = 2**16
"""Entries up to which tensors of one dtype are concatenated and summed at once (fewer, cheaper calls for small
models; larger ones are summed tensor by tensor, without the copy)."""


def _passes(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """The tensors to reduce over, one pass each: all of them concatenated when small and of one dtype
    (:data:`_SMALL`), else each one itself, never copied."""
    small = sum(t.numel() for t in tensors) <= _SMALL and all(t.dtype == tensors[0].dtype for t in tensors)
    return [_flat(tensors)] if small and tensors else tensors


def _finite(tensors: list[torch.Tensor]) -> bool:
    """Whether every entry of every floating-point tensor is finite: sums (NaN and infinity propagate into
    them) tested at once; only when a sum is not finite (bad entries, or finite ones overflowing) is the
    elementwise test run."""
    tensors = [t for t in tensors if t.is_floating_point() and t.numel()]
    if not tensors:
        return True
    if all(math.isfinite(float(t.sum())) for t in _passes(tensors)):
        return True
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def check_finite(params: dict[str, torch.Tensor], inputs: torch.Tensor, targets: torch.Tensor) -> None:
    """Refuse NaN or infinity in the weights (naming the parameter), the inputs or the targets before any
    curvature is computed: a non-finite entry would silently poison every saliency.

    ``params``: the effective tensors (:func:`prunebench.models.effective_params`).
    """
    values = {name: value.detach() for name, value in params.items()}
    if _finite([*values.values(), inputs, targets]):
        return
    for name, value in values.items():
        if not _finite([value]):
            bad = ~torch.isfinite(value)
            index = tuple(int(i) for i in bad.nonzero()[0])
            raise ValueError(f"parameter {name} must be finite; got {value[index].item()} at index "
                             f"{list(index)} ({int(bad.sum())} non-finite entries). Retrain or reload the model.")
    for what, tensor in (("inputs", inputs), ("targets", targets)):
        if not _finite([tensor]):
            raise ValueError(f"{what} must be finite; got {int((~torch.isfinite(tensor)).sum())} NaN/inf "
                             "entries. Clean the data before computing curvature.")


def result_health(values: dict[str, torch.Tensor], what: str) -> float:
    """Refuse a curvature result with NaN or infinity, naming the parameter (e.g. after overflow in float32);
    return the fraction of its entries below zero (:func:`negative_fraction`), from the same pass."""
    if not values:
        return 0.0
    parts = _passes(list(values.values()))  # a small result concatenated once, for both passes
    if _finite(parts):
        return negative_fraction(parts)
    name = next(name for name, value in values.items() if not _finite([value]))
    raise ValueError(f"{what} of parameter {name} is not finite ({int((~torch.isfinite(values[name])).sum())} "
                     "NaN/inf entries); the loss may have overflowed: try float64 or smaller inputs")
