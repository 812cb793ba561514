"""The datasets of the pruning papers, loaded by name, their bytes verified by sha256.

One entry point, :func:`load`, returns a :class:`Splits` (train and test tensors plus a JSON-ready ``meta``).
Every dataset is defined once, in :data:`SPECS`: its files with size, sha256 and the URLs of the original
sources, its citation and license, and the parser that turns its files into arrays. The bytes themselves
live outside the package, in ``<data root>/<folder>/<file>``; :func:`data_roots` says where roots are sought.
A missing file is downloaded by :func:`pooch.retrieve` against its known sha256 into the first writable root
(the per-user cache folder by :mod:`platformdirs` last); offline, the error says in three lines what is missing,
where it looked and how to provide it.

Datasets (inputs are float32, labels int64 class indices unless said otherwise):

- ``digits``: scikit-learn's ``load_digits`` (UCI optdigits, 8x8, 1797 images, shipped with scikit-learn, so
  always available offline); images (N, 1, 8, 8) scaled from 0..16 to [0, 1]; a fixed stratified split,
  1/3 of each class to the test set (seed 0): 1198 train / 599 test.
- ``usps``: the 16x16 zip-code digits, 7291 train / 2007 test (ESL's ``zip.train.gz``/``zip.test.gz``);
  images (N, 1, 16, 16) with the file's pixel values in [-1, 1].
- ``mnist``: the four original gzipped IDX files, 60000 / 10000; images flattened to (N, 784) in [0, 1].
- ``monks-1``, ``monks-2``, ``monks-3``: the MONK's problems with their original train/test files, never
  re-sampled; inputs are the 17-unit one-hot code of a1..a6 (3+3+2+3+4+2 values); labels 0/1.
  MONK-3's training set carries 6 noisy labels (see :func:`monk_rule`).
- ``xor``: the four XOR patterns, inputs in {0, 1}^2, labels 0/1; train and test are the same four.
- ``nettalk``: Sejnowski & Rosenberg's dictionary, one sample per letter: a 7-letter window over 29 symbols
  (203 inputs) and **float** targets (N, 26) in {0, 1}: 21 articulatory features of the letter's phoneme plus
  5 stress/syllable units. Train: every entry of the ~1000 most common words (Fahlman's reconstruction in
  ``nettalk.list``); test: all other entries.

References:
    Thrun et al. (1991), "The MONK's Problems: A Performance Comparison of Different Learning Algorithms",
    CMU-CS-91-197.
    LeCun, Boser, Denker, Henderson, Howard, Hubbard & Jackel (1990), "Handwritten digit recognition with a
    back-propagation network", NIPS 2 (the 16x16 zip-code digits and their 7291/2007 split).
    LeCun, Bottou, Bengio & Haffner (1998), "Gradient-based learning applied to document recognition",
    Proc. IEEE 86(11) (MNIST).
    Sejnowski & Rosenberg (1987), "Parallel networks that learn to pronounce English text", Complex Systems 1
    (NETtalk; the articulatory feature table of their Appendix A).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import importlib.resources
import logging
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import numpy as np
import platformdirs
import torch

from ._validation import no_new_empty_folders, output_folder

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "ENV_VAR",
    "NETTALK_FEATURES",
    "NETTALK_STRESS_UNITS",
    "NETTALK_SYMBOLS",
    "NETTALK_WINDOW",
    "PHONEME_CODES",
    "SPECS",
    "STRESS_CODES",
    "DatasetError",
    "DatasetSpec",
    "DatasetStatus",
    "FileSpec",
    "Splits",
    "data_roots",
    "format_status",
    "load",
    "monk_attributes",
    "monk_rule",
    "names",
    "status",
]

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 10.0
"""Seconds to wait on each download connection before trying the next URL."""

ENV_VAR = "PRUNEBENCH_DATA"
"""Environment variable naming a data root (searched after the ``root`` argument)."""

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


@dataclass(frozen=True)
class DatasetStatus:
    """One row of :func:`status`.

    ``state`` is "verified" (all files present, sha256 match), "missing" (some file absent from every root),
    "corrupt" (a file present but its sha256 differs) or "builtin" (no files needed). ``paths`` holds the
    folder that was used (verified, corrupt), every folder looked in (missing) or the builtin's source.
    """

    name: str
    state: str
    paths: tuple[str, ...]
    detail: str


# ----------------------------------------------------------------------------------------------- parsers


def _read_monks(path: Path) -> Arrays:
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


_MONK_VALUES = (3, 3, 2, 3, 4, 2)  # number of values of a1..a6; 17 one-hot units in all


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


def _check_problem(problem: Any) -> int:
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
            attrs, labels = _read_monks(folder / f"monks-{problem}.{part}")
            splits.append((_monk_one_hot(attrs), labels))
        return splits[0], splits[1], {"encoding": "one-hot of a1..a6: 3+3+2+3+4+2 = 17 units, a1's first"}

    return read


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


def _read_xor() -> Read:
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return (x, y), (x.copy(), y.copy()), {}


# NETtalk's output code, Sejnowski & Rosenberg (1987), Appendix A: 21 articulatory features. The six place
# units are shared: consonants use Labial..Glottal, vowels the same units as Front1, Front2, Central1,
# Central2, Back1, Back2. "Unvoiced" is the absence of Voiced.
NETTALK_FEATURES = ("Labial", "Dental", "Alveolar", "Palatal", "Velar", "Glottal",
                    "Stop", "Nasal", "Fricative", "Affricative", "Glide", "Liquid", "Voiced", "Tensed",
                    "High", "Medium", "Low", "Silent", "Elide", "Pause", "Full stop")
_VOWEL_PLACES = {"Front1": "Labial", "Front2": "Dental", "Central1": "Alveolar", "Central2": "Palatal",
                 "Back1": "Velar", "Back2": "Glottal"}
# Phoneme symbol -> features, as transcribed from Appendix A (example word in the comment). J and G share a
# code in this transcription (J reads "Voiced, Velar, Nasal"), kept as transcribed.
_NETTALK_PHONEMES = {
    "a": "Low, Tensed, Central2",  # father
    "b": "Voiced, Labial, Stop",  # bet
    "c": "Medium, Velar",  # bought
    "d": "Voiced, Alveolar, Stop",  # debt
    "e": "Medium, Tensed, Front2",  # bake
    "f": "Labial, Fricative",  # fin
    "g": "Voiced, Velar, Stop",  # guess
    "h": "Glottal, Glide",  # head
    "i": "High, Tensed, Front1",  # Pete
    "k": "Velar, Stop",  # Ken
    "l": "Voiced, Dental, Liquid",  # let
    "m": "Voiced, Labial, Nasal",  # met
    "n": "Voiced, Alveolar, Nasal",  # net
    "o": "Medium, Tensed, Back2",  # boat
    "p": "Labial, Stop",  # pet
    "r": "Voiced, Palatal, Liquid",  # red
    "s": "Alveolar, Fricative",  # sit
    "t": "Alveolar, Stop",  # test
    "u": "High, Tensed, Back2",  # lute
    "v": "Voiced, Labial, Fricative",  # vest
    "w": "Voiced, Labial, Glide",  # wet
    "x": "Medium, Central2",  # about
    "y": "Voiced, Palatal, Glide",  # yet
    "z": "Voiced, Alveolar, Fricative",  # zoo
    "A": "Medium, Tensed, Front2, Central1",  # bite
    "C": "Palatal, Affricative",  # chin
    "D": "Voiced, Dental, Fricative",  # this
    "E": "Medium, Front1, Front2",  # bet
    "G": "Voiced, Velar, Nasal",  # sing
    "I": "High, Front1",  # bit
    "J": "Voiced, Velar, Nasal",  # gin
    "K": "Palatal, Fricative, Velar, Affricative",  # sexual
    "L": "Voiced, Alveolar, Liquid",  # bottle
    "M": "Voiced, Dental, Nasal",  # abysm
    "N": "Voiced, Palatal, Nasal",  # button
    "O": "Medium, Tensed, Central1, Central2",  # boy
    "Q": "Voiced, Labial, Velar, Affricative, Stop",  # quest
    "R": "Voiced, Velar, Liquid",  # bird
    "S": "Palatal, Fricative",  # shin
    "T": "Dental, Fricative",  # thin
    "U": "High, Back1",  # book
    "W": "High, Medium, Tensed, Central2, Back1",  # bout
    "X": "Affricative, Front2, Central1",  # excess
    "Y": "High, Tensed, Front1, Front2, Central1",  # cute
    "Z": "Voiced, Palatal, Fricative",  # leisure
    "@": "Low, Front2",  # bat
    "!": "Labial, Dental, Affricative",  # Nazi
    "#": "Voiced, Palatal, Velar, Affricative",  # examine
    "*": "Voiced, Glide, Front1, Low, Central1",  # one
    "^": "Low, Central1",  # but
    "+": "Medium, Tensed, Central2",  # abattoir
    "-": "Silent, Elide",  # silent letter (continuation)
    "_": "Pause, Elide",  # word boundary
    ".": "Pause, Full stop",  # period
}
# The 5 stress and syllable-boundary units and the code of each symbol of the data's third field.
NETTALK_STRESS_UNITS = ("Right", "Left", "Strong", "Weak", "Boundary")
_NETTALK_STRESS = {">": "Right", "<": "Left", "0": "Weak", "1": "Strong, Weak", "2": "Strong",
                   "-": "Right, Left, Boundary"}
# Input symbols: 26 letters, then word boundary, period, comma: 29 per window position.
NETTALK_SYMBOLS = "abcdefghijklmnopqrstuvwxyz_.,"
NETTALK_WINDOW = 7


def _code(features: str, units: Sequence[str], aliases: dict[str, str]) -> list[int]:
    """"Low, Tensed, Central2" -> 0/1 list over ``units`` (aliases map vowel place names to unit names)."""
    on = {aliases.get(f, f) for f in features.split(", ")}
    return [int(u in on) for u in units]


PHONEME_CODES = {p: _code(f, NETTALK_FEATURES, _VOWEL_PLACES) for p, f in _NETTALK_PHONEMES.items()}
STRESS_CODES = {s: _code(f, NETTALK_STRESS_UNITS, {}) for s, f in _NETTALK_STRESS.items()}


def _read_nettalk_list(path: Path) -> set[str]:
    """Fahlman's reconstruction of the 1000-word list: the upper-case words inside the final parentheses."""
    text = path.read_text(encoding="ascii")
    start, end = text.rfind("("), text.rfind(")")
    if start < 0 or end < start:
        raise DatasetError(f"{path}: no parenthesised word list found. Replace the file with the original.")
    return {w.lower() for w in text[start + 1:end].split()}


def _read_nettalk(folder: Path) -> Read:
    path = folder / "nettalk.data"
    common = _read_nettalk_list(folder / "nettalk.list")
    entries = []
    for lineno, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) != 4 or not len(fields[0]) == len(fields[1]) == len(fields[2]) > 0:
            raise DatasetError(f"{path}: line {lineno} must hold 4 tab-separated fields, the first three of "
                               f"equal length (word, phonemes, stress, code); got {line!r}")
        unknown = (set(fields[0]) - set(NETTALK_SYMBOLS)) | (set(fields[1]) - set(PHONEME_CODES)) | (
            set(fields[2]) - set(STRESS_CODES))
        if unknown:
            raise DatasetError(f"{path}: line {lineno} uses unknown symbols {sorted(unknown)}")
        entries.append((fields[0], fields[1], fields[2]))
    train = [e for e in entries if e[0] in common]
    test = [e for e in entries if e[0] not in common]
    extra = {
        "n_outputs": len(NETTALK_FEATURES) + len(NETTALK_STRESS_UNITS),
        "targets": "float 0/1 (N, 26): 21 articulatory features of the phoneme, then 5 stress/syllable units",
        "input_symbols": NETTALK_SYMBOLS, "window": NETTALK_WINDOW,
        "output_units": [*NETTALK_FEATURES, *NETTALK_STRESS_UNITS],
        "phoneme_codes": PHONEME_CODES, "stress_codes": STRESS_CODES,
        "train_words": len({e[0] for e in train}), "train_entries": len(train), "test_entries": len(test),
        "list_words_missing_from_data": sorted(common - {e[0] for e in entries}),
    }
    return _nettalk_windows(train), _nettalk_windows(test), extra


def _nettalk_windows(entries: list[tuple[str, str, str]]) -> Arrays:
    """One sample per letter: the 7-letter window centred on it, one-hot per position (word boundary
    outside the word) -> (N, 203); target: the phoneme's 21 features, its stress symbol's 5 units -> (N, 26).
    """
    half, width = NETTALK_WINDOW // 2, len(NETTALK_SYMBOLS)
    pad = [NETTALK_SYMBOLS.index("_")] * half
    symbols, phonemes, stresses = [], [], []
    for word, phon, stress in entries:
        padded = np.array(pad + [NETTALK_SYMBOLS.index(ch) for ch in word] + pad, dtype=np.int64)
        symbols.append(np.lib.stride_tricks.sliding_window_view(padded, NETTALK_WINDOW))
        phonemes.extend(phon)
        stresses.extend(stress)
    windows = np.concatenate(symbols) if symbols else np.zeros((0, NETTALK_WINDOW), dtype=np.int64)
    x = np.zeros((len(windows), NETTALK_WINDOW * width), dtype=np.float32)
    np.put_along_axis(x, windows + np.arange(NETTALK_WINDOW) * width, 1.0, axis=1)
    return x, np.concatenate([_lookup(PHONEME_CODES, phonemes), _lookup(STRESS_CODES, stresses)], axis=1)


def _lookup(codes: dict[str, list[int]], keys: list[str]) -> np.ndarray:
    """Rows of ``codes`` for each key, as a float32 array (len(keys), code length)."""
    table = np.array(list(codes.values()), dtype=np.float32)
    position = {k: i for i, k in enumerate(codes)}
    return table[np.array([position[k] for k in keys], dtype=np.int64)]


# ------------------------------------------------------------------------------------------ the registry

_UCI_MONKS = "https://archive.ics.uci.edu/ml/machine-learning-databases/monks-problems/"
_ESL = ("https://hastie.su.domains/ElemStatLearn/datasets/",
        "https://web.stanford.edu/~hastie/ElemStatLearn/datasets/")
_MNIST = ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/",
          "https://storage.googleapis.com/cvdf-datasets/mnist/")
_UCI_NETTALK = ("https://archive.ics.uci.edu/ml/machine-learning-databases/undocumented/connectionist-bench/"
                "nettalk/")

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
_DIGITS_CSV_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"  # scikit-learn 1.9.1


def _monks_spec(problem: int) -> DatasetSpec:
    files = tuple(FileSpec(f"monks-{problem}.{part}", *_MONKS_FILES[f"monks-{problem}.{part}"],
                           urls=(f"{_UCI_MONKS}monks-{problem}.{part}",)) for part in ("train", "test"))
    return DatasetSpec(
        name=f"monks-{problem}", folder="monks", files=files, reader=_monks_reader(problem),
        homepage="https://archive.ics.uci.edu/dataset/70/monk+s+problems", citation=_MONKS_CITATION,
        license="CC BY 4.0 (UCI Machine Learning Repository, dataset 70)", n_classes=2, input_shape=(17,),
        notes=_MONKS_NOTES[problem] + " Original train/test files, never re-sampled; test = all 432 vectors.")


SPECS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        name="digits", folder=None, files=(), reader=_read_digits,
        homepage="https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_digits.html",
        citation="E. Alpaydin and C. Kaynak (1998), Optical Recognition of Handwritten Digits, UCI Machine "
                 "Learning Repository (scikit-learn's load_digits ships 1797 of its 8x8 images).",
        license="CC BY 4.0 (UCI optdigits); shipped inside scikit-learn (BSD-3-Clause)",
        n_classes=10, input_shape=(1, 8, 8),
        notes="Offline default: no download. Pixels 0..16 scaled to [0, 1]. Fixed stratified split, seed 0: "
              "1198 train / 599 test.", builtin_file=_digits_csv),
    "mnist": DatasetSpec(
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
        notes="Images flattened to 784 values, 0..255 scaled to [0, 1]. 60000 train / 10000 test."),
    "monks-1": _monks_spec(1),
    "monks-2": _monks_spec(2),
    "monks-3": _monks_spec(3),
    "nettalk": DatasetSpec(
        name="nettalk", folder="nettalk",
        files=tuple(FileSpec(n, s, h, (_UCI_NETTALK + n,)) for n, s, h in (
            ("nettalk.data", 540840, "ef4ca3fb591ccccddd7d4236f0e4f12fe07dc404ea25e6c9ccee16771ae75f18"),
            ("nettalk.list", 7382, "07c47f92dba791e5525b757ee5797953bb42b50a7de5937dd3af5cb0e112b856"))),
        reader=_read_nettalk,
        homepage="https://archive.ics.uci.edu/dataset/150/connectionist+bench+nettalk+corpus",
        citation="T. J. Sejnowski and C. R. Rosenberg (1987), Parallel networks that learn to pronounce "
                 "English text, Complex Systems 1:145-168.",
        license="Non-commercial research use only (Copyright (C) 1988 Terrence J. Sejnowski)",
        n_classes=None, input_shape=(NETTALK_WINDOW * len(NETTALK_SYMBOLS),),
        notes="One sample per letter; targets are float (N, 26). Train: every entry whose word is in "
              "Fahlman's reconstruction of the 1000 most common words (nettalk.list): 1000 words, 1034 "
              "entries with homographs, 5603 letters; test: the other 18973 entries. The sha256 sums are of "
              "the one public copy found (GitHub yamato796/nettalk), not checked against UCI's bytes. "
              "Output code: Sejnowski & Rosenberg (1987) Appendix A as transcribed (J and G share a code)."),
    "usps": DatasetSpec(
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
        notes="Images keep the file's values in [-1, 1]. 7291 train / 2007 test (LeCun et al. 1990 split)."),
    "xor": DatasetSpec(
        name="xor", folder=None, files=(), reader=_read_xor, homepage="",
        citation="D. E. Rumelhart, G. E. Hinton and R. J. Williams (1986), Learning internal representations "
                 "by error propagation, in Parallel Distributed Processing, vol. 1, MIT Press.",
        license="None needed (four patterns defined in code)", n_classes=2, input_shape=(2,),
        notes="Inputs in {0, 1}^2, label = x1 xor x2; train and test are the same four patterns."),
}


def names() -> list[str]:
    """The dataset names :func:`load` accepts, sorted."""
    return sorted(SPECS)


def _spec(name: Any) -> DatasetSpec:
    if not isinstance(name, str) or name not in SPECS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of: {', '.join(names())}")
    return SPECS[name]


# ------------------------------------------------------------------------------------- where data lives


def _find_checkout(start: Path) -> Path | None:
    """The nearest ancestor of ``start`` that is a prunebench checkout: it has ``datasets/`` and a
    ``pyproject.toml`` naming the project ``prunebench`` (so another project's checkout is never taken)."""
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if (folder / "datasets").is_dir() and pyproject.is_file():
            try:
                if 'name = "prunebench"' in pyproject.read_text(encoding="utf-8"):
                    return folder
            except OSError:
                continue
    return None


def data_roots(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The data roots, in the order they are searched; a dataset's files are in ``<root>/<folder>/``.

    1. ``root``, when given;
    2. the ``PRUNEBENCH_DATA`` environment variable, when set and not empty;
    3. ``<checkout>/datasets`` when this package runs from a prunebench checkout;
    4. the per-user cache folder (:func:`platformdirs.user_cache_path`; on Linux ``$XDG_CACHE_HOME/prunebench``,
       else ``~/.cache/prunebench``).
    """
    if root is not None and not isinstance(root, str | os.PathLike):
        raise TypeError(f"root must be a path (str or os.PathLike) or None; got {type(root).__name__}")
    candidates: list[Path] = []
    if root is not None:
        candidates.append(Path(root).expanduser())
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]).expanduser())
    checkout = _find_checkout(Path(__file__).resolve().parent)
    if checkout is not None:
        candidates.append(checkout / "datasets")
    candidates.append(platformdirs.user_cache_path("prunebench"))
    unique: list[Path] = []
    for c in candidates:
        if c.absolute() not in unique:
            unique.append(c.absolute())
    return unique


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _locate(spec: DatasetSpec, roots: list[Path]) -> Path | None:
    """The first folder ``<root>/<spec.folder>`` that holds every file of the dataset."""
    for root in roots:
        folder = root / spec.folder
        if all((folder / f.name).is_file() for f in spec.files):
            return folder
    return None


def _corrupt_message(spec: DatasetSpec, path: Path, expected: FileSpec, digest: str) -> str:
    return (f"dataset {spec.name!r}: file {path} does not match its sha256 (expected {expected.sha256}, got "
            f"{digest}; expected {expected.size} bytes, got {path.stat().st_size}); it was not used. "
            f"Delete it (the next run downloads it again), or replace it with the original from "
            f"{expected.urls[0]}")


def _verify(spec: DatasetSpec, folder: Path) -> None:
    for f in spec.files:
        path = folder / f.name
        digest = _sha256(path)
        if digest != f.sha256:
            raise DatasetError(_corrupt_message(spec, path, f, digest))


def _missing_message(spec: DatasetSpec, roots: list[Path], reason: str) -> str:
    """Three lines: what is missing and where it looked; why it was not downloaded; how to provide it."""
    names = ", ".join(f.name for f in spec.files)
    looked = ", ".join(str(root / spec.folder) for root in roots)
    by_hand = "; ".join(f"{f.urls[0]} (sha256 {f.sha256})" for f in spec.files)
    return (f"dataset {spec.name!r} not found: {names} must be in a folder {spec.folder!r} under a data root; "
            f"looked in {looked}\n{reason}\n"
            f"To fix: set {ENV_VAR} (or pass --root PATH, root=PATH to load()) to a folder holding "
            f"{spec.folder}/, or download by hand into <root>/{spec.folder}/: {by_hand}")


# ----------------------------------------------------------------------------------------------- download


def _writable_folder(roots: list[Path], folder: str) -> Path | None:
    """The first ``<root>/<folder>`` that exists as a writable folder or could be made (nothing is made)."""
    for root in roots:
        target = root / folder
        try:
            output_folder(target)
        except ValueError:
            continue
        return target
    return None


def _fetch(expected: FileSpec) -> Callable[[str, str, Any], None]:
    """A pooch downloader: stream ``url`` into pooch's temporary file with :data:`DOWNLOAD_TIMEOUT`, stopping at
    more than the expected size (a wrong or hostile server cannot fill the disk)."""
    from prunebench import __version__

    def fetch(url: str, output_file: str, pooch: Any) -> None:
        size = 0
        request = Request(url, headers={"User-Agent": f"prunebench/{__version__}"})
        with open(output_file, "wb") as out, urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > expected.size:
                    raise DatasetError(f"more than the expected {expected.size} bytes")
                out.write(chunk)

    return fetch


def _download_one(url: str, expected: FileSpec, dest: Path) -> None:
    """Fetch ``url`` to ``dest`` through :func:`pooch.retrieve`: into a temporary file beside ``dest``, renamed to
    ``dest`` only if its sha256 is the known one (otherwise deleted)."""
    import pooch

    try:
        pooch.retrieve(url, known_hash=f"sha256:{expected.sha256}", fname=dest.name, path=dest.parent,
                       downloader=_fetch(expected), progressbar=False)
    except DatasetError:
        raise
    except ValueError as exc:  # pooch's hash mismatch (it deleted the file)
        got = re.search(r"got ([0-9a-f]{64})", str(exc))
        raise DatasetError(f"sha256 mismatch (expected {expected.sha256}, got {got[1] if got else '?'}); "
                           "discarded") from None


def _download(spec: DatasetSpec, roots: list[Path]) -> Path:
    """Download the dataset's missing files into the first writable root; the folder, or DatasetError."""
    target = _writable_folder(roots, spec.folder)
    if target is None:
        raise DatasetError(_missing_message(spec, roots, "No data root is writable: nothing was downloaded."))
    failures = []
    with no_new_empty_folders(target):
        target.mkdir(parents=True, exist_ok=True)
        for f in spec.files:
            dest = target / f.name
            if dest.is_file():
                continue
            errors = []
            for url in f.urls:
                log.info("downloading %s from %s", f.name, url)
                try:
                    _download_one(url, f, dest)
                    break
                except (OSError, http.client.HTTPException, DatasetError, ValueError) as exc:
                    errors.append(f"{url}: {' '.join(str(exc).split())}")
            else:
                failures += errors
        if failures:
            reason = f"Downloading into {target} failed (offline?): " + "; ".join(failures)
            raise DatasetError(_missing_message(spec, roots, reason))
    return target


# ------------------------------------------------------------------------------------------------ loading


def _folder_for(spec: DatasetSpec, root: str | os.PathLike[str] | None, download: bool) -> Path:
    roots = data_roots(root)
    folder = _locate(spec, roots)
    if folder is None:
        if not download:
            raise DatasetError(_missing_message(spec, roots, "Downloading was disabled (download=False)."))
        folder = _download(spec, roots)
    _verify(spec, folder)
    return folder


def _read(spec: DatasetSpec, folder: Path | None) -> Read:
    """Run the spec's reader; a parse failure becomes a DatasetError naming the dataset and folder."""
    try:
        return spec.reader() if folder is None else spec.reader(folder)
    except DatasetError:
        raise
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"dataset {spec.name!r}: could not parse the files in {folder}: {exc}. Replace "
                           "them with the originals.") from exc


def _file_records(spec: DatasetSpec, folder: Path | None) -> list[dict[str, Any]]:
    """``meta["files"]``: name, path, size, sha256 and URLs of each file the dataset was read from."""
    if folder is not None:
        return [{"name": f.name, "path": str(folder / f.name), "size": f.size, "sha256": f.sha256,
                 "urls": list(f.urls)} for f in spec.files]
    if spec.builtin_file is None:
        return []
    path = spec.builtin_file()
    return [{"name": path.name, "path": str(path), "size": path.stat().st_size, "sha256": _sha256(path),
             "urls": []}]


def require(name: str, root: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path | None:
    """The verified folder of dataset ``name`` (``None`` for embedded data), downloading it as :func:`load`
    does, without reading it: the check a long run makes before it starts. Raises :class:`DatasetError` as
    :func:`load` does."""
    spec = _spec(name)
    return None if spec.folder is None else _folder_for(spec, root, download)


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
    spec = _spec(name)
    folder = None if spec.folder is None else _folder_for(spec, root, download)
    (x_train, y_train), (x_test, y_test), extra = _read(spec, folder)
    meta: dict[str, Any] = {
        "name": spec.name, "homepage": spec.homepage, "citation": spec.citation, "license": spec.license,
        "files": _file_records(spec, folder), "n_classes": spec.n_classes,
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


# ---------------------------------------------------------------------------------------------- MONK's


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
    problem = _check_problem(problem)
    a = _check_monk_attrs(attrs)
    a1, a2, _, a4, a5, _ = a.T
    if problem == 1:
        return (a1 == a2) | (a5 == 1)
    if problem == 2:
        return (a == 1).sum(axis=1) == 2
    return ((a5 == 3) & (a4 == 1)) | ((a5 != 4) & (a2 != 3))


def monk_attributes(problem: int, root: str | os.PathLike[str] | None = None, *,
                    download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The raw attributes of ``monks-<problem>``: (train, test) int64 arrays (N, 6) of 1-based a1..a6, rows in
    the order of :func:`load`'s tensors (whose labels are ``load(...).train[1]`` and ``.test[1]``)."""
    problem = _check_problem(problem)
    folder = _folder_for(SPECS[f"monks-{problem}"], root, download)
    return _read_monks(folder / f"monks-{problem}.train")[0], _read_monks(folder / f"monks-{problem}.test")[0]


# ------------------------------------------------------------------------------------------------ status


def _status_row(spec: DatasetSpec, roots: list[Path]) -> DatasetStatus:
    if spec.folder is None:
        records = _file_records(spec, None)
        if not records:
            return DatasetStatus(spec.name, "builtin", (), "defined in code")
        known = "as in the datasheet" if records[0]["sha256"] == _DIGITS_CSV_SHA256 else (
            "differs from the datasheet's (another scikit-learn version)")
        return DatasetStatus(spec.name, "builtin", (records[0]["path"],),
                             f"scikit-learn's load_digits; sha256 {records[0]['sha256'][:12]}... {known}")
    folder = _locate(spec, roots)
    if folder is None:
        return DatasetStatus(spec.name, "missing", tuple(str(r / spec.folder) for r in roots),
                             f"needs {', '.join(f.name for f in spec.files)}")
    bad = [f.name for f in spec.files if _sha256(folder / f.name) != f.sha256]
    if bad:
        return DatasetStatus(spec.name, "corrupt", (str(folder),),
                             f"sha256 mismatch: {', '.join(bad)}; delete and re-download, or replace")
    return DatasetStatus(spec.name, "verified", (str(folder),), f"{len(spec.files)} file(s), sha256 ok")


def status(root: str | os.PathLike[str] | None = None) -> list[DatasetStatus]:
    """One row per dataset (sorted by name): where it stands under :func:`data_roots`; never downloads."""
    roots = data_roots(root)
    return [_status_row(SPECS[name], roots) for name in names()]


def format_status(rows: Iterable[DatasetStatus]) -> str:
    """A plain-text table of :func:`status` rows; a missing dataset lists every folder looked in."""
    rows = list(rows)
    table = [("dataset", "state", "location", "detail")]
    table += [(r.name, r.state, r.paths[0] if r.paths else "-", r.detail) for r in rows]
    w_name, w_state, w_loc = (max(len(line[i]) for line in table) for i in range(3))
    lines = []
    for i, (name, state, location, detail) in enumerate(table):
        lines.append(f"{name:<{w_name}}  {state:<{w_state}}  {location:<{w_loc}}  {detail}".rstrip())
        if i > 0:
            lines += [" " * (w_name + w_state + 4) + extra for extra in rows[i - 1].paths[1:]]
    return "\n".join(lines)
