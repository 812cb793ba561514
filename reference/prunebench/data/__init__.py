"""The datasets of the pruning papers, loaded by name, their bytes verified by sha256.

One entry point, :func:`load`, returns a :class:`Splits` (train and test tensors plus a JSON-ready ``meta``).
Every dataset is defined once, in :data:`SPECS`: its files with size, sha256 and the URLs of the original
sources, its citation and license, and the parser that turns its files into arrays. The bytes themselves
live outside the package, in ``<data root>/<folder>/<file>``; :func:`data_roots` says where roots are sought,
and a missing file is downloaded and verified (:mod:`prunebench.data.fetch`).

Datasets (inputs are float32, labels int64 class indices unless said otherwise), one module each:

- ``digits`` (:mod:`~prunebench.data.digits`): scikit-learn's ``load_digits``, 8x8, always available offline;
  a fixed stratified split, 1198 train / 599 test.
- ``usps`` (:mod:`~prunebench.data.usps`): the 16x16 zip-code digits, 7291 train / 2007 test, in [-1, 1].
- ``mnist`` (:mod:`~prunebench.data.mnist`): the original IDX files, 60000 / 10000, flattened to 784 in [0, 1].
- ``monks-1``, ``monks-2``, ``monks-3`` (:mod:`~prunebench.data.monks`): the MONK's problems, original
  train/test files, 17-unit one-hot inputs, labels 0/1; :func:`monk_rule` gives the target concepts.
- ``xor`` (:mod:`~prunebench.data.xor`): the four XOR patterns; train and test are the same four.
- ``nettalk`` (:mod:`~prunebench.data.nettalk`): one sample per letter, a 7-letter window (203 inputs) and
  **float** targets (N, 26) in {0, 1}: 21 articulatory features plus 5 stress/syllable units.

The rest of the subpackage: :mod:`~prunebench.data.spec` (what a dataset is), :mod:`~prunebench.data.registry`
(:data:`SPECS`), :mod:`~prunebench.data.loader` (:func:`load`), :mod:`~prunebench.data.inventory`
(:func:`status`).
"""

from .fetch import DOWNLOAD_TIMEOUT, ENV_VAR, data_roots
from .inventory import DatasetStatus, format_status, status
from .loader import Splits, load, monk_attributes, require
from .monks import monk_rule
from .nettalk import (
    NETTALK_FEATURES,
    NETTALK_STRESS_UNITS,
    NETTALK_SYMBOLS,
    NETTALK_WINDOW,
    PHONEME_CODES,
    STRESS_CODES,
)
from .registry import SPECS, names
from .spec import DatasetError, DatasetSpec, FileSpec

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
    "require",
    "status",
]
