"""``nettalk``: Sejnowski & Rosenberg's dictionary, one sample per letter.

Inputs (N, 203) float32: a 7-letter window over 29 symbols, one-hot per position. Targets are **float**
(N, 26) in {0, 1}: 21 articulatory features of the letter's phoneme plus 5 stress/syllable units. Train:
every entry of the ~1000 most common words (Fahlman's reconstruction in ``nettalk.list``); test: all other
entries.

Reference:
    Sejnowski & Rosenberg (1987), "Parallel networks that learn to pronounce English text", Complex Systems 1
    (NETtalk; the articulatory feature table of their Appendix A).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .spec import Arrays, DatasetError, DatasetSpec, FileSpec, Read

__all__ = ["NETTALK_FEATURES", "NETTALK_STRESS_UNITS", "NETTALK_SYMBOLS", "NETTALK_WINDOW", "PHONEME_CODES",
           "SPEC", "STRESS_CODES"]

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



_UCI_NETTALK = ("https://archive.ics.uci.edu/ml/machine-learning-databases/undocumented/connectionist-bench/"
                "nettalk/")

SPEC = DatasetSpec(
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
          "Output code: Sejnowski & Rosenberg (1987) Appendix A as transcribed (J and G share a code).")
