"""prunebench.data.monks: the parser and one-hot code on tiny files, the target concepts, and the real sets when
present (marked ``data``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datafiles import MONKS_TEST, MONKS_TRAIN, monks_bytes, register, require_files, write
from prunebench import data


def test_monks_tiny_one_hot_and_attributes(isolated, monkeypatch):
    files = {"monks-2.train": monks_bytes(MONKS_TRAIN), "monks-2.test": monks_bytes(MONKS_TEST)}
    register(monkeypatch, "monks-2", files)
    write(isolated, "monks", files)
    s = data.load("monks-2", isolated, download=False)
    assert s.train[0].shape == (3, 17) and s.test[0].shape == (2, 17)
    assert s.train[1].tolist() == [1, 0, 1] and s.test[1].tolist() == [0, 1]
    # (a1..a6) = (3, 2, 2, 3, 4, 2): units 2 | 3+1 | 6+1 | 8+2 | 11+3 | 15+1
    assert torch.nonzero(s.train[0][1]).flatten().tolist() == [2, 4, 7, 10, 14, 16]
    assert s.train[0].sum(dim=1).tolist() == [6.0] * 3
    train_attrs, test_attrs = data.monk_attributes(2, isolated, download=False)
    assert train_attrs.tolist() == [list(r[1:]) for r in MONKS_TRAIN]
    assert test_attrs.dtype == np.int64 and test_attrs.tolist() == [list(r[1:]) for r in MONKS_TEST]


@pytest.mark.parametrize(("line", "message"), [
    (b" 1 1 1 1 1 3\n", r"row 1 has 6 fields; expected 8 \(class, a1..a6, id\)"),
    (b" 2 1 1 1 1 3 1 data_1\n", r"class labels must be 0 or 1; got \[2\]"),
    (b" 1 1 1 3 1 3 1 data_1\n", r"a3 must be in 1..2; got 3 in row 0\. Replace the file"),
])
def test_monks_malformed_rows(isolated, monkeypatch, line, message):
    files = {"monks-1.train": line, "monks-1.test": monks_bytes(MONKS_TEST)}
    register(monkeypatch, "monks-1", files)
    write(isolated, "monks", files)
    with pytest.raises(data.DatasetError, match=message):
        data.load("monks-1", isolated, download=False)


def test_monk_rules_on_hand_checked_vectors():
    attrs = np.array([[1, 1, 1, 1, 3, 1], [1, 2, 1, 2, 4, 2], [3, 3, 2, 1, 3, 2], [2, 1, 2, 3, 1, 2]])
    assert data.monk_rule(1, attrs).tolist() == [True, False, True, True]
    assert data.monk_rule(2, attrs).tolist() == [False, True, False, True]
    assert data.monk_rule(3, attrs).tolist() == [True, False, True, True]


@pytest.mark.parametrize(("problem", "attrs", "message"), [
    (4, [[1] * 6], r"problem must be 1, 2 or 3 \(MONK-1, -2, -3\); got 4"),
    (True, [[1] * 6], r"problem must be 1, 2 or 3 \(MONK-1, -2, -3\); got True"),
    (1, [[1] * 5], r"attrs must be an integer array of shape \(N, 6\) holding a1..a6; got dtype int64 and "
                   r"shape \(1, 5\)"),
    (1, [[1.0] * 6], r"attrs must be an integer array .* got dtype float64"),
    (1, [[1, 1, 1, 1, 5, 1]], r"a5 must be in 1..4; got 5 in row 0"),
    (1, [[0, 1, 1, 1, 1, 1]], r"a1 must be in 1..3; got 0 in row 0"),
])
def test_monk_rule_validation(problem, attrs, message):
    with pytest.raises(ValueError, match=message):
        data.monk_rule(problem, attrs)


@pytest.mark.data
@pytest.mark.parametrize(("problem", "n_train", "train_pos", "test_pos"),
                         [(1, 124, 62, 216), (2, 169, 64, 142), (3, 122, 60, 228)])
def test_real_monks(data_root, problem, n_train, train_pos, test_pos):
    require_files(data_root, f"monks-{problem}")
    s = data.load(f"monks-{problem}", data_root, download=False)
    assert s.train[0].shape == (n_train, 17) and s.test[0].shape == (432, 17)
    assert int(s.train[1].sum()) == train_pos and int(s.test[1].sum()) == test_pos
    assert s.train[0].sum(dim=1).eq(6).all() and s.test[0].sum(dim=1).eq(6).all()
    assert len({tuple(r) for r in s.test[0].tolist()}) == 432  # every attribute vector once


@pytest.mark.data
def test_real_monk_labels_follow_the_rules_except_six_noisy_ones(data_root):
    disagree = {}
    for problem in (1, 2, 3):
        require_files(data_root, f"monks-{problem}")
        s = data.load(f"monks-{problem}", data_root, download=False)
        for part, attrs in zip(("train", "test"), data.monk_attributes(problem, data_root), strict=True):
            labels = getattr(s, part)[1].numpy().astype(bool)
            wrong = data.monk_rule(problem, attrs) != labels
            disagree[f"monks-{problem}.{part}"] = attrs[wrong].tolist()
    assert {k: v for k, v in disagree.items() if v} == {"monks-3.train": [
        [1, 1, 1, 1, 3, 1], [1, 2, 1, 2, 3, 1], [2, 2, 1, 2, 2, 1],
        [2, 2, 1, 3, 3, 1], [2, 2, 1, 3, 3, 2], [3, 3, 1, 1, 4, 1]]}
