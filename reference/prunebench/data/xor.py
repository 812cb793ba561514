"""``xor``: the four XOR patterns, inputs (4, 2) float32 in {0, 1}, labels int64 0/1; test = train.

Reference:
    Rumelhart, Hinton & Williams (1986), "Learning internal representations by error propagation", in
    Parallel Distributed Processing, vol. 1, MIT Press.
"""

from __future__ import annotations

import numpy as np

from .spec import DatasetSpec, Read

__all__ = ["SPEC"]


def _read_xor() -> Read:
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return (x, y), (x.copy(), y.copy()), {}


SPEC = DatasetSpec(
    name="xor", folder=None, files=(), reader=_read_xor, homepage="",
    citation="D. E. Rumelhart, G. E. Hinton and R. J. Williams (1986), Learning internal representations "
             "by error propagation, in Parallel Distributed Processing, vol. 1, MIT Press.",
    license="None needed (four patterns defined in code)", n_classes=2, input_shape=(2,),
    notes="Inputs in {0, 1}^2, label = x1 xor x2; train and test are the same four patterns.")
