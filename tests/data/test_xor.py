"""prunebench.data.xor: the four patterns."""

from __future__ import annotations

import torch

from prunebench import data


def test_xor():
    s = data.load("xor")
    assert s.train[0].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert s.train[1].tolist() == [0, 1, 1, 0]
    assert s.train[0].dtype == torch.float32 and s.train[1].dtype == torch.int64
    assert torch.equal(s.test[0], s.train[0]) and torch.equal(s.test[1], s.train[1])
    assert s.meta["n_classes"] == 2 and s.meta["input_shape"] == [2]
