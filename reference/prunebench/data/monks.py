"""``monks-1``, ``monks-2``, ``monks-3``: the MONK's problems with their original train/test files.

Never re-sampled; inputs (N, 17) float32 are the one-hot code of a1..a6 (3+3+2+3+4+2 values), labels int64
0/1. MONK-3's training set carries 6 noisy labels (see :func:`monk_rule`).

Reference:
    Thrun et al. (1991), "The MONK's Problems: A Performance Comparison of Different Learning Algorithms",
    CMU-CS-91-197.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .spec import Arrays, DatasetError, DatasetSpec, FileSpec, Read

__all__ = ["SPECS", "check_problem", "monk_rule", "read_monks"]

_MONK_VALUES = (3, 3, 2, 3, 4, 2)  # number of values of a1..a6; 17 one-hot units in all


def read_monks(path: Path) -> Arrays:
    """A MONK's file: one row per line, ``<class> a1 a2 a3 a4 a5 a6 <id>`` -> attrs (N, 6), labels (N,)."""
    rows = [line.split() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
    for lineno, row in enumerate(rows, start=1):
        if len(row) != 8:
            raise DatasetError(f"{path}: row {lineno} has {len(row)} fields; expected 8 "
                               "(class, a1..a6, id). Replace the file with the original.")
    values = np.array([row[:7] for row in rows], dtype=np.int64).reshape(-1, 7)
    labels, attrs = values[:, 0], values[:, 1:]
    if not np.isin(labels, (0, 1)).all():
        raise DatasetError(f"{path}: class labels must be 0 or 1; got {sorted(set(labels.tolist()))}. "
                           "Replace the file with the original.")
    try:
        _check_monk_attrs(attrs)
    except ValueError as exc:
        raise DatasetError(f"{path}: {exc}. Replace the file with the original.") from exc
    return attrs, labels


def _check_monk_attrs(attrs: Any) -> np.ndarray:
    a = np.asarray(attrs)
    if a.ndim != 2 or a.shape[1] != 6 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"attrs must be an integer array of shape (N, 6) holding a1..a6; "
                         f"got dtype {a.dtype} and shape {a.shape}")
    bad = (a < 1) | (a > np.array(_MONK_VALUES))
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise ValueError(f"a{col + 1} must be in 1..{_MONK_VALUES[col]}; got {int(a[row, col])} in row {row}")
    return a


def check_problem(problem: Any) -> int:
    """``problem`` as an int if it is 1, 2 or 3; else ValueError."""
    if isinstance(problem, bool) or problem not in (1, 2, 3):
        raise ValueError(f"problem must be 1, 2 or 3 (MONK-1, -2, -3); got {problem!r}")
    return int(problem)


def _monk_one_hot(attrs: np.ndarray) -> np.ndarray:
    """(N, 6) attribute values (1-based) -> (N, 17) float32 one-hot, blocks a1..a6 in order."""
    offsets = np.concatenate([[0], np.cumsum(_MONK_VALUES)[:-1]])
    x = np.zeros((len(attrs), sum(_MONK_VALUES)), dtype=np.float32)
    np.put_along_axis(x, attrs - 1 + offsets, 1.0, axis=1)
    return x


def _monks_reader(problem: int) -> Callable[[Path], Read]:
    def read(folder: Path) -> Read:
        splits = []
        for part in ("train", "test"):
            attrs, labels = read_monks(folder / f"monks-{problem}.{part}")
            splits.append((_monk_one_hot(attrs), labels))
        return splits[0], splits[1], {"encoding": "one-hot of a1..a6: 3+3+2+3+4+2 = 17 units, a1's first"}

    return read


def monk_rule(problem: int, attrs: Any) -> np.ndarray:
    """The target concept of MONK's problem 1, 2 or 3 (Thrun et al. 1991) on attribute vectors.

    Args:
        problem: 1, 2 or 3.
        attrs: integer array (N, 6) of the 1-based values of a1..a6 (a1, a2, a4 in 1..3; a3, a6 in 1..2;
            a5 in 1..4).

    Returns:
        bool array (N,): MONK-1 (a1 = a2) or (a5 = 1); MONK-2 exactly two of a1..a6 equal 1;
        MONK-3 (a5 = 3 and a4 = 1) or (a5 != 4 and a2 != 3).
    """
    problem = check_problem(problem)
    a = _check_monk_attrs(attrs)
    a1, a2, _, a4, a5, _ = a.T
    if problem == 1:
        return (a1 == a2) | (a5 == 1)
    if problem == 2:
        return (a == 1).sum(axis=1) == 2
    return ((a5 == 3) & (a4 == 1)) | ((a5 != 4) & (a2 != 3))


_UCI_MONKS = "https://archive.ics.uci.edu/ml/machine-learning-databases/monks-problems/"
_MONKS_FILES = {  # (size, sha256) of the UCI files
    "monks-1.train": (2947, "d9c328b6f0e095ab10f7bc8468f1d2141f3d08be73e665c3bf0a62994c922606"),
    "monks-1.test": (10260, "e501ada3b21d876ab86f3e1614747bd2edc443a685f229a25e480aa1dea629f6"),
    "monks-2.train": (4013, "7ebcc278005737caad0cd52e6aa31256a2c3174da8047faf4ac3a9d35edbdaa8"),
    "monks-2.test": (10260, "945650affde377c27f6218c8b17893e339ea831f4bee9f9d7123020699cfbf40"),
    "monks-3.train": (2886, "726f258f80be06af4bb2d8831789514a663f5813e47429211fe19dcd367966f8"),
    "monks-3.test": (10260, "1d816ae7347afaf895050667adc3f382904c6ed2332d0a2d09353f5e6cb54612"),
}
_MONKS_CITATION = ("S. B. Thrun et al. (1991), The MONK's Problems: A Performance Comparison of Different "
                   "Learning Algorithms, Technical Report CMU-CS-91-197, Carnegie Mellon University.")
_MONKS_NOTES = {
    1: "Concept: (a1 = a2) or (a5 = 1). No label noise.",
    2: "Concept: exactly two of a1..a6 take their first value. No label noise.",
    3: "Concept: (a5 = 3 and a4 = 1) or (a5 != 4 and a2 != 3). The training set has 5% class noise: exactly "
       "6 of its 122 labels disagree with the concept (so a rule-exact model scores 116/122 on it); the test "
       "set is noise-free.",
}


def _monks_spec(problem: int) -> DatasetSpec:
    files = tuple(FileSpec(f"monks-{problem}.{part}", *_MONKS_FILES[f"monks-{problem}.{part}"],
                           urls=(f"{_UCI_MONKS}monks-{problem}.{part}",)) for part in ("train", "test"))
    return DatasetSpec(
        name=f"monks-{problem}", folder="monks", files=files, reader=_monks_reader(problem),
        homepage="https://archive.ics.uci.edu/dataset/70/monk+s+problems", citation=_MONKS_CITATION,
        license="CC BY 4.0 (UCI Machine Learning Repository, dataset 70)", n_classes=2, input_shape=(17,),
        notes=_MONKS_NOTES[problem] + " Original train/test files, never re-sampled; test = all 432 vectors.")


SPECS = tuple(_monks_spec(problem) for problem in (1, 2, 3))
"""The specs of ``monks-1``, ``monks-2`` and ``monks-3``, in that order."""
