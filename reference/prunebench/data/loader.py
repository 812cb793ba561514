"""Loading a registered dataset by name: verified files in, train/test tensors and JSON-ready facts out."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .fetch import file_sha256, folder_for
from .monks import check_problem, read_monks
from .registry import SPECS, get
from .spec import DatasetError, DatasetSpec, Read

__all__ = ["Splits", "file_records", "load", "monk_attributes", "require"]


@dataclass(frozen=True, repr=False)
class Splits:
    """A loaded dataset.

    Attributes:
        train: ``(inputs, targets)``; inputs float32 shaped ``(N, *meta["input_shape"])``; targets int64 class
            indices shaped (N,), except ``nettalk``, whose targets are float32 (N, 26) in {0, 1}.
        test: same layout as ``train``.
        meta: JSON-serialisable facts: name, homepage, citation, license, files (name, path, size, sha256,
            urls), n_classes, input_shape, n_train, n_test, class_counts (classification sets), notes.
    """

    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        def part(pair: tuple[torch.Tensor, torch.Tensor]) -> str:
            return ", ".join(f"{tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}" for t in pair)

        return f"Splits({self.meta.get('name', '?')}: train [{part(self.train)}], test [{part(self.test)}])"


def _read(spec: DatasetSpec, folder: Path | None) -> Read:
    """Run the spec's reader; a parse failure becomes a DatasetError naming the dataset and folder."""
    try:
        return spec.reader() if folder is None else spec.reader(folder)
    except DatasetError:
        raise
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"dataset {spec.name!r}: could not parse the files in {folder}: {exc}. Replace "
                           "them with the originals.") from exc


def file_records(spec: DatasetSpec, folder: Path | None) -> list[dict[str, Any]]:
    """``meta["files"]``: name, path, size, sha256 and URLs of each file the dataset was read from."""
    if folder is not None:
        return [{"name": f.name, "path": str(folder / f.name), "size": f.size, "sha256": f.sha256,
                 "urls": list(f.urls)} for f in spec.files]
    if spec.builtin_file is None:
        return []
    path = spec.builtin_file()
    return [{"name": path.name, "path": str(path), "size": path.stat().st_size, "sha256": file_sha256(path),
             "urls": []}]


def require(name: str, root: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path | None:
    """The verified folder of dataset ``name`` (``None`` for embedded data), downloading it as :func:`load`
    does, without reading it: the check a long run makes before it starts. Raises :class:`DatasetError` as
    :func:`load` does."""
    spec = get(name)
    return None if spec.folder is None else folder_for(spec, root, download)


def load(name: str, root: str | os.PathLike[str] | None = None, *, download: bool = True) -> Splits:
    """Load a dataset by name (see :func:`names`) as train/test tensors; the same call gives the same tensors.

    Files are looked for in ``<root>/<folder>/`` for each root of :func:`data_roots` in turn; the first
    folder holding all of them is used, after every file passes its sha256 check. When no root holds them
    and ``download`` is true, the missing files are fetched from their original sources into the first
    writable root (each verified before it is renamed into place).

    Raises:
        DatasetError: unknown name; files missing (the message lists every folder looked in and how to
            provide the files); a file whose sha256 differs (never used; the message says how to fix it);
            a file that cannot be parsed.
    """
    spec = get(name)
    folder = None if spec.folder is None else folder_for(spec, root, download)
    (x_train, y_train), (x_test, y_test), extra = _read(spec, folder)
    meta: dict[str, Any] = {
        "name": spec.name, "homepage": spec.homepage, "citation": spec.citation, "license": spec.license,
        "files": file_records(spec, folder), "n_classes": spec.n_classes,
        "input_shape": list(spec.input_shape), "n_train": len(x_train), "n_test": len(x_test),
        "notes": spec.notes, **extra,
    }
    if spec.n_classes is not None:
        meta["class_counts"] = {"train": np.bincount(y_train, minlength=spec.n_classes).tolist(),
                                "test": np.bincount(y_test, minlength=spec.n_classes).tolist()}
    return Splits(train=(_tensor(x_train), _tensor(y_train)), test=(_tensor(x_test), _tensor(y_test)),
                  meta=meta)


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def monk_attributes(problem: int, root: str | os.PathLike[str] | None = None, *,
                    download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The raw attributes of ``monks-<problem>``: (train, test) int64 arrays (N, 6) of 1-based a1..a6, rows in
    the order of :func:`load`'s tensors (whose labels are ``load(...).train[1]`` and ``.test[1]``)."""
    problem = check_problem(problem)
    folder = folder_for(SPECS[f"monks-{problem}"], root, download)
    return read_monks(folder / f"monks-{problem}.train")[0], read_monks(folder / f"monks-{problem}.test")[0]

