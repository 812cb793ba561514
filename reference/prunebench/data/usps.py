"""``usps``: the 16x16 zip-code digits, 7291 train / 2007 test (ESL's ``zip.train.gz`` / ``zip.test.gz``).

Images (N, 1, 16, 16) float32 with the file's pixel values in [-1, 1]; labels int64 0..9.

References:
    LeCun, Boser, Denker, Henderson, Howard, Hubbard & Jackel (1990), "Handwritten digit recognition with a
    back-propagation network", NIPS 2 (the 16x16 zip-code digits and their 7291/2007 split).
    Hull (1994), "A database for handwritten text recognition research", IEEE TPAMI 16(5).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .spec import Arrays, DatasetError, DatasetSpec, FileSpec, Read

__all__ = ["SPEC"]

_ESL = ("https://hastie.su.domains/ElemStatLearn/datasets/",
        "https://web.stanford.edu/~hastie/ElemStatLearn/datasets/")


def _read_usps(path: Path) -> Arrays:
    """ESL zip digits: one image per line, ``label v1 .. v256`` (row-major 16x16 in [-1, 1])."""
    with gzip.open(path, "rt", encoding="ascii") as fh:
        rows = [line.split() for line in fh if line.strip()]
    for lineno, row in enumerate(rows, start=1):
        if len(row) != 257:
            raise DatasetError(f"{path}: line {lineno} has {len(row)} fields; expected 257 "
                               "(a label and 16x16 pixels). Replace the file with the original.")
    values = np.array(rows, dtype=np.float64).reshape(-1, 257)
    labels = values[:, 0]
    if not np.isin(labels, np.arange(10)).all():
        raise DatasetError(f"{path}: labels must be the digits 0..9; got {sorted(set(labels.tolist()))[:5]}")
    images = values[:, 1:].astype(np.float32).reshape(-1, 1, 16, 16)
    return images, labels.astype(np.int64)


def _read_usps_folder(folder: Path) -> Read:
    return (_read_usps(folder / "zip.train.gz"), _read_usps(folder / "zip.test.gz"),
            {"pixel_range": [-1.0, 1.0]})


SPEC = DatasetSpec(
    name="usps", folder="usps",
    files=tuple(FileSpec(n, s, h, tuple(base + n for base in _ESL)) for n, s, h in (
        ("zip.train.gz", 1829071, "66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16"),
        ("zip.test.gz", 439208, "8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f"))),
    reader=_read_usps_folder, homepage="https://hastie.su.domains/ElemStatLearn/data.html",
    citation="Y. LeCun et al. (1990), Handwritten digit recognition with a back-propagation network, "
             "NIPS 2; J. J. Hull (1994), A database for handwritten text recognition research, IEEE "
             "TPAMI 16(5):550-554; distributed with T. Hastie, R. Tibshirani and J. Friedman, The "
             "Elements of Statistical Learning, 2nd ed., Springer 2009.",
    license="Unclear: no explicit license; use for research with the citations, confirm before "
            "redistributing",
    n_classes=10, input_shape=(1, 16, 16),
    notes="Images keep the file's values in [-1, 1]. 7291 train / 2007 test (LeCun et al. 1990 split).")
