"""Argument validators shared by the command line and the Python API (no torch imported here)."""

from __future__ import annotations

import warnings

__all__ = ["DEPRECATED_TASK_NAMES", "task_name"]

DEPRECATED_TASK_NAMES = {"monk-1": "monks-1", "monk-2": "monks-2", "monk-3": "monks-3"}
"""Former task names, still accepted with a :class:`DeprecationWarning`: a task now shares the name of its
dataset."""


def task_name(name: str, *, warn: bool = True) -> str:
    """``name`` with a deprecated task name (:data:`DEPRECATED_TASK_NAMES`) replaced by the current one; warns
    when ``warn`` (stored results made before the rename are read without a warning)."""
    if name in DEPRECATED_TASK_NAMES:
        if warn:
            warnings.warn(f"task name {name!r} is deprecated; use {DEPRECATED_TASK_NAMES[name]!r}",
                          DeprecationWarning, stacklevel=3)
        return DEPRECATED_TASK_NAMES[name]
    return name
