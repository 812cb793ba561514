"""``mnist``: the four original gzipped IDX files, 60000 train / 10000 test.

Images flattened to (N, 784) float32, 0..255 scaled to [0, 1]; labels int64 0..9.

Reference:
    LeCun, Bottou, Bengio & Haffner (1998), "Gradient-based learning applied to document recognition",
    Proc. IEEE 86(11).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from .spec import DatasetError, DatasetSpec, FileSpec, Read

__all__ = ["SPEC"]

_MNIST = ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/",
          "https://storage.googleapis.com/cvdf-datasets/mnist/")


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """A gzipped IDX file of unsigned bytes (magic 2049: labels, 2051: images)."""
    raw = gzip.decompress(path.read_bytes())
    ndim = magic & 0xFF
    if len(raw) < 4 + 4 * ndim or struct.unpack(">I", raw[:4])[0] != magic:
        raise DatasetError(f"{path}: not an IDX file with magic number {magic}. Replace it with the "
                           "original.")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    payload = raw[4 + 4 * ndim:]
    if len(payload) != int(np.prod(dims)):
        raise DatasetError(f"{path}: header says {dims} = {int(np.prod(dims))} bytes of data; the file has "
                           f"{len(payload)}. Replace it with the original.")
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def _read_mnist(folder: Path) -> Read:
    splits = []
    for prefix in ("train", "t10k"):
        images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", 2051)
        labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 2049)
        if len(images) != len(labels):
            raise DatasetError(f"{folder}: {prefix} has {len(images)} images but {len(labels)} labels")
        splits.append((images.reshape(len(images), -1).astype(np.float32) / 255.0, labels.astype(np.int64)))
    return splits[0], splits[1], {"pixel_range": [0.0, 1.0]}


SPEC = DatasetSpec(
    name="mnist", folder="mnist",
    files=tuple(FileSpec(n, s, h, tuple(base + n for base in _MNIST)) for n, s, h in (
        ("train-images-idx3-ubyte.gz", 9912422,
         "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        ("train-labels-idx1-ubyte.gz", 28881,
         "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        ("t10k-images-idx3-ubyte.gz", 1648877,
         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        ("t10k-labels-idx1-ubyte.gz", 4542,
         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"))),
    reader=_read_mnist, homepage="http://yann.lecun.com/exdb/mnist/",
    citation="Y. LeCun, L. Bottou, Y. Bengio and P. Haffner (1998), Gradient-based learning applied to "
             "document recognition, Proceedings of the IEEE 86(11):2278-2324.",
    license="CC BY-SA 3.0 (as stated on the MNIST page; copyright Y. LeCun and C. Cortes)",
    n_classes=10, input_shape=(784,),
    notes="Images flattened to 784 values, 0..255 scaled to [0, 1]. 60000 train / 10000 test.")
