"""Argument validators shared by the command line and the Python API (no torch imported here)."""

from __future__ import annotations

import contextlib
import numbers
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DEPRECATED_TASK_NAMES", "fraction", "no_new_empty_folders", "non_negative_int", "output_file",
           "output_folder", "positive_int", "positive_number", "task_name"]

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


def _integer(value, key: str, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{key} must be {what}; got {value!r}")
    return int(value)


def non_negative_int(value, key: str, what: str = "a non-negative integer") -> int:
    """``value`` as an int when it is an integer >= 0 (not a bool); else ``ValueError("<key> must be <what>;
    got <value>")``."""
    return _integer(value, key, what, 0)


def positive_int(value, key: str, what: str = "a positive integer") -> int:
    """``value`` as an int when it is an integer >= 1 (not a bool); else ``ValueError("<key> must be <what>;
    got <value>")``."""
    return _integer(value, key, what, 1)


def fraction(value, key: str) -> float:
    """``value`` as a float when it is a real number in (0, 1); a one-line ValueError naming ``key`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{key} must be a number in (0, 1); got {value!r}")
    return float(value)


def positive_number(value, key: str) -> float:
    """``value`` as a float when it is a real number > 0; a one-line ValueError naming ``key`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{key} must be a positive number, e.g. 1e-5; got {value!r}")
    return float(value)
