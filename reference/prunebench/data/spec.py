"""What a dataset is: its files (size, sha256, URLs), how they are read, and the error a bad copy raises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Arrays", "DatasetError", "DatasetSpec", "FileSpec", "Read"]

Arrays = tuple[np.ndarray, np.ndarray]
Read = tuple[Arrays, Arrays, dict[str, Any]]  # train, test, extra meta


class DatasetError(ValueError):
    """A dataset is missing, corrupt (sha256 mismatch) or malformed; the message says how to fix it."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: its name in the dataset folder, size in bytes, sha256, and where to get it."""

    name: str
    size: int
    sha256: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: where its files live (``folder`` under a data root; None for a builtin), how to read them.

    ``reader(folder)`` (a builtin's: ``reader()``) returns ``(train, test, extra_meta)``, each split an
    ``(inputs, targets)`` pair of numpy arrays. ``builtin_file``, for a builtin backed by a file of an
    installed package, returns that file's path (recorded with its sha256 in ``meta["files"]``).
    """

    name: str
    folder: str | None
    files: tuple[FileSpec, ...]
    reader: Callable[..., Read]
    homepage: str
    citation: str
    license: str
    n_classes: int | None
    input_shape: tuple[int, ...]
    notes: str = ""
    builtin_file: Callable[[], Path] | None = None
