"""``digits``: scikit-learn's ``load_digits`` (UCI optdigits, 8x8, 1797 images), always available offline.

Images (N, 1, 8, 8) float32, scaled from 0..16 to [0, 1]; labels int64 0..9. A fixed stratified split puts
1/3 of each class in the test set (seed 0): 1198 train / 599 test.

Reference:
    Alpaydin & Kaynak (1998), "Optical Recognition of Handwritten Digits", UCI Machine Learning Repository.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np

from .spec import DatasetSpec, Read

__all__ = ["CSV_SHA256", "SPEC"]

CSV_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"  # scikit-learn 1.9.1
"""sha256 of scikit-learn's ``digits.csv.gz`` as recorded in the datasheet."""


def _digits_csv() -> Path:
    return Path(str(importlib.resources.files("sklearn.datasets.data") / "digits.csv.gz"))


def _read_digits() -> Read:
    from sklearn import __version__ as sklearn_version
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    test = _stratified_test_mask(labels, fraction=1 / 3, seed=0)
    extra = {"pixel_range": [0.0, 1.0], "split": "stratified: round(n_c / 3) of each class to test, "
             "np.random.RandomState(0).permutation per class in class order; original order kept",
             "scikit_learn": sklearn_version}
    return (images[~test], labels[~test]), (images[test], labels[test]), extra


def _stratified_test_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask choosing round(n_c * fraction) samples of each class c, by a frozen numpy RNG stream.

    ``RandomState`` (not ``Generator``) because numpy keeps its stream fixed across versions.
    """
    rng = np.random.RandomState(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = int(np.floor(len(members) * fraction + 0.5))
        mask[rng.permutation(members)[:k]] = True
    return mask


SPEC = DatasetSpec(
    name="digits", folder=None, files=(), reader=_read_digits,
    homepage="https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_digits.html",
    citation="E. Alpaydin and C. Kaynak (1998), Optical Recognition of Handwritten Digits, UCI Machine "
             "Learning Repository (scikit-learn's load_digits ships 1797 of its 8x8 images).",
    license="CC BY 4.0 (UCI optdigits); shipped inside scikit-learn (BSD-3-Clause)",
    n_classes=10, input_shape=(1, 8, 8),
    notes="Offline default: no download. Pixels 0..16 scaled to [0, 1]. Fixed stratified split, seed 0: "
          "1198 train / 599 test.", builtin_file=_digits_csv)
