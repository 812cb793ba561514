"""prunebench.data.digits: the builtin set and its stratified split."""

from __future__ import annotations

import numpy as np
import torch

from prunebench import data
from prunebench.data import digits


def test_digits_stratified_deterministic_split():
    a, b = data.load("digits"), data.load("digits")
    for part in ("train", "test"):
        for ta, tb in zip(getattr(a, part), getattr(b, part), strict=True):
            assert torch.equal(ta, tb)
    (x_tr, y_tr), (x_te, y_te) = a.train, a.test
    assert x_tr.shape == (1198, 1, 8, 8) and x_te.shape == (599, 1, 8, 8)
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert 0.0 == min(x_tr.min(), x_te.min()) and max(x_tr.max(), x_te.max()) == 1.0
    totals = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert (torch.bincount(y_tr, minlength=10) + torch.bincount(y_te, minlength=10)).tolist() == totals
    assert torch.bincount(y_te, minlength=10).tolist() == [int(np.floor(n / 3 + 0.5)) for n in totals]
    assert a.meta["class_counts"]["test"] == torch.bincount(y_te, minlength=10).tolist()
    assert a.meta["files"][0]["name"] == "digits.csv.gz" and len(a.meta["files"][0]["sha256"]) == 64


def test_stratified_mask_rounds_half_up_per_class():
    labels = np.array([0] * 3 + [1] * 4 + [2] * 1)
    mask = digits._stratified_test_mask(labels, fraction=0.5, seed=0)
    assert [int(mask[labels == c].sum()) for c in range(3)] == [2, 2, 1]
    assert np.array_equal(mask, digits._stratified_test_mask(labels, fraction=0.5, seed=0))
