"""Tiny synthetic dataset files, and their registration in ``prunebench.data.SPECS``, for the data tests.

``register`` points a spec at the files' own sizes and digests (undone by ``monkeypatch``), so every parser and
every failure path runs offline in milliseconds.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from prunebench import data


def sha(b: bytes) -> str:
    """The hex sha256 of ``b``."""
    return hashlib.sha256(b).hexdigest()


def register(monkeypatch, name: str, files: dict[str, bytes], urls: tuple[str, ...] = ()) -> None:
    """Point SPECS[name] at tiny files: their sizes and digests, served from ``urls`` (base URLs)."""
    spec = data.SPECS[name]
    specs = tuple(data.FileSpec(n, len(b), sha(b), tuple(u + n for u in urls) or (f"https://example.org/{n}",))
                  for n, b in files.items())
    monkeypatch.setitem(data.SPECS, name, dataclasses.replace(spec, files=specs))


def write(root: Path, folder: str, files: dict[str, bytes]) -> Path:
    target = root / folder
    target.mkdir(parents=True, exist_ok=True)
    for n, b in files.items():
        (target / n).write_bytes(b)
    return target


def usps_bytes(labels: list[int], seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    lines = [" ".join([f"{lab}.0000", *(f"{v:.4f}" for v in rng.uniform(-1, 1, 256))]) + " "
             for lab in labels]
    return gzip.compress(("\n".join(lines) + "\n").encode())


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x800 + array.ndim  # unsigned bytes: 2049 for labels, 2051 for images
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def mnist_files(n_train: int = 3, n_test: int = 2) -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    return {
        "train-images-idx3-ubyte.gz": idx_bytes(rng.integers(0, 256, (n_train, 28, 28))),
        "train-labels-idx1-ubyte.gz": idx_bytes(np.arange(n_train) % 10),
        "t10k-images-idx3-ubyte.gz": idx_bytes(rng.integers(0, 256, (n_test, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": idx_bytes(np.arange(n_test) % 10),
    }


def monks_bytes(rows: list[tuple[int, ...]]) -> bytes:
    return "".join(" " + " ".join(map(str, r)) + f" data_{i + 1}\n" for i, r in enumerate(rows)).encode()


MONKS_TRAIN = [(1, 1, 1, 1, 1, 3, 1), (0, 3, 2, 2, 3, 4, 2), (1, 2, 2, 1, 1, 2, 1)]
MONKS_TEST = [(0, 1, 2, 1, 2, 2, 2), (1, 3, 3, 2, 3, 1, 2)]


def require_files(root: Path, name: str) -> None:
    """Skip the test unless every file of dataset ``name`` is under ``root``."""
    spec = data.SPECS[name]
    if not all((root / spec.folder / f.name).is_file() for f in spec.files):
        pytest.skip(f"{name} not found under {root}; set PRUNEBENCH_DATA")
