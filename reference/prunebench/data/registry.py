"""The registry of datasets: every :class:`~prunebench.data.spec.DatasetSpec`, declared once, by name."""

from __future__ import annotations

from typing import Any

from . import digits, mnist, monks, nettalk, usps, xor
from .spec import DatasetError, DatasetSpec

__all__ = ["SPECS", "get", "names"]

SPECS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (digits.SPEC, mnist.SPEC, *monks.SPECS, nettalk.SPEC, usps.SPEC, xor.SPEC)}
"""Every dataset :func:`~prunebench.data.load` accepts, by name."""


def names() -> list[str]:
    """The dataset names :func:`~prunebench.data.load` accepts, sorted."""
    return sorted(SPECS)


def get(name: Any) -> DatasetSpec:
    """The spec registered under ``name``; an unknown name is a DatasetError listing the valid ones."""
    if not isinstance(name, str) or name not in SPECS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of: {', '.join(names())}")
    return SPECS[name]
