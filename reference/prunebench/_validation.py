"""Argument validators shared by the command line and the Python API (no torch imported here)."""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["DEPRECATED_TASK_NAMES", "fraction", "integer", "no_new_empty_folders", "output_file",
           "output_folder", "positive_number", "real", "renamed", "task_name"]

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


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def output_folder(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """``path`` after checking a command can write a folder there (it exists as a writable folder, or can be
    made in one); a one-line ValueError naming ``option`` otherwise. Nothing is created."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{option} {path} is a file; expected a folder (pass another {option})")
    _makeable(target.absolute(), path, option)
    return target


def _makeable(folder: Path, path: str | os.PathLike[str], option: str) -> None:
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise ValueError(f"{option} {path}: {base} is a file, so no folder can be made there (pass another {option})")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: {base} is not writable (pass another {option})")


def output_file(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` after checking a command can write a file there (not a folder; its folder writable or
    makeable; the file itself writable if it exists); a one-line ValueError naming ``option`` otherwise."""
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{option} {path} is a folder; expected a file path (pass another {option})")
    if target.exists() and not os.access(target, os.W_OK):
        raise ValueError(f"{option} {path} is not writable (pass another {option})")
    _makeable(target.absolute().parent, path, option)
    return target


@contextlib.contextmanager
def no_new_empty_folders(*paths: str | os.PathLike[str]) -> Iterator[None]:
    """Run the body; if it fails, remove the folders among ``paths`` (and their parents) that it created and
    left empty, so that a failed run leaves no empty folders behind."""
    created = [p for path in paths for p in (Path(path).absolute(), *Path(path).absolute().parents)
               if not p.exists()]
    try:
        yield
    except BaseException:
        for folder in sorted(set(created), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
        raise


def integer(key: str, value: Any, minimum: int = 1, *, expected: str | None = None) -> int:
    """``value`` when it is an int (not a bool) ``>= minimum``; otherwise the one-voice ValueError
    "KEY must be EXPECTED; got VALUE" (``expected`` defaults to "a positive integer" for ``minimum`` 1,
    "a non-negative integer" for 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        phrase = expected or {1: "a positive integer", 0: "a non-negative integer"}.get(
            minimum, f"an integer >= {minimum}")
        raise ValueError(f"{key} must be {phrase}; got {value!r}")
    return int(value)


def real(key: str, value: Any, *, above: float | None = None, at_least: float | None = None,
         at_most: float | None = None, below: float | None = None, expected: str) -> float:
    """``float(value)`` when it is a finite int or float (not a bool) within the bounds given (``above`` and
    ``below`` exclusive, ``at_least`` and ``at_most`` inclusive); otherwise the one-voice ValueError
    "KEY must be EXPECTED; got VALUE"."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not number or (above is not None and not value > above) or (at_least is not None and not value >= at_least) \
            or (at_most is not None and not value <= at_most) or (below is not None and not value < below):
        raise ValueError(f"{key} must be {expected}; got {value!r}")
    return float(value)


def renamed(owner: str, extra: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """The keyword arguments ``extra`` that ``owner`` received under former names (``renames``: old -> new),
    keyed by the new names, each with a :class:`DeprecationWarning` naming the new one; a TypeError for any
    other name (``extra`` collects the ``**`` arguments of ``owner``)."""
    unknown = sorted(set(extra) - set(renames))
    if unknown:
        raise TypeError(f"{owner}() got an unexpected keyword argument {unknown[0]!r}")
    for old in extra:
        warnings.warn(f"{owner}(): {old}= is deprecated; use {renames[old]}= (same values)", DeprecationWarning,
                      stacklevel=3)
    return {renames[old]: value for old, value in extra.items()}


def fraction(value, key: str) -> float:
    """``value`` as a float when it is a real number in (0, 1); a one-line ValueError naming ``key`` otherwise."""
    return real(key, value, above=0, below=1, expected="a number in (0, 1)")


def positive_number(value, key: str) -> float:
    """``value`` as a float when it is a finite real number > 0; a one-line ValueError naming ``key`` otherwise."""
    return real(key, value, above=0, expected="a positive number, e.g. 1e-5")
