"""prunebench.data.nettalk: windows and output code on a tiny dictionary, the code table, and the real set when
present (marked ``data``).
"""

from __future__ import annotations

import json

import pytest
import torch

from datafiles import register, require_files, write
from prunebench import data
from prunebench.data import nettalk

NETTALK_DATA = b"ab\t@b\t1<\t0\nboa\tbo-\t>1<\t0\nabc\txbk\t0>1\t2\n"
NETTALK_LIST = b"Note (by someone): a list.\n*****\n(BOA ZZZ)\n"


def test_nettalk_tiny(isolated, monkeypatch):
    files = {"nettalk.data": NETTALK_DATA, "nettalk.list": NETTALK_LIST}
    register(monkeypatch, "nettalk", files)
    write(isolated, "nettalk", files)
    s = data.load("nettalk", isolated, download=False)
    (x_tr, t_tr), (x_te, t_te) = s.train, s.test
    assert x_tr.shape == (3, 203) and t_tr.shape == (3, 26) and t_tr.dtype == torch.float32  # "boa"
    assert x_te.shape == (5, 203) and t_te.shape == (5, 26)  # "ab", "abc"
    assert x_tr.sum(dim=1).tolist() == [7.0] * 3  # one symbol per window position
    window = x_tr[1].reshape(7, 29).argmax(dim=1).tolist()  # centred on the "o" of "boa"
    assert "".join(data.NETTALK_SYMBOLS[i] for i in window) == "__boa__"
    assert t_tr[2].tolist() == [*map(float, data.PHONEME_CODES["-"]), *map(float, data.STRESS_CODES["<"])]
    assert s.meta["train_words"] == 1 and s.meta["list_words_missing_from_data"] == ["zzz"]
    assert s.meta["n_outputs"] == 26 and s.meta["input_shape"] == [203]
    json.dumps(s.meta)


def test_nettalk_rejects_unknown_symbols(isolated, monkeypatch):
    files = {"nettalk.data": b"ab\t@%\t1<\t0\n", "nettalk.list": NETTALK_LIST}
    register(monkeypatch, "nettalk", files)
    write(isolated, "nettalk", files)
    with pytest.raises(data.DatasetError, match=r"line 1 uses unknown symbols \['%'\]"):
        data.load("nettalk", isolated, download=False)


def test_nettalk_code_table():
    for symbol, features in nettalk._NETTALK_PHONEMES.items():  # every listed feature switches one unit on
        assert sum(data.PHONEME_CODES[symbol]) == len(features.split(", ")), symbol
    codes = {}
    for symbol, code in data.PHONEME_CODES.items():
        codes.setdefault(tuple(code), []).append(symbol)
    assert [s for s in codes.values() if len(s) > 1] == [["G", "J"]]  # as transcribed, see the datasheet
    assert len(data.NETTALK_FEATURES) == 21 and len(data.NETTALK_STRESS_UNITS) == 5
    assert len(data.NETTALK_SYMBOLS) == 29


@pytest.mark.data
def test_real_nettalk(data_root):
    require_files(data_root, "nettalk")
    s = data.load("nettalk", data_root, download=False)
    (x_tr, t_tr), (x_te, t_te) = s.train, s.test
    assert x_tr.shape == (5603, 203) and t_tr.shape == (5603, 26)
    assert x_te.shape == (141331, 203) and t_te.shape == (141331, 26)
    assert s.meta["train_words"] == 1000 and s.meta["train_entries"] == 1034
    assert s.meta["test_entries"] == 18973 and s.meta["list_words_missing_from_data"] == []
    assert x_tr.sum(dim=1).eq(7).all() and x_te.sum(dim=1).eq(7).all()
    assert t_te[:, 21:].sum(dim=1).ge(1).all()  # every letter carries a stress/syllable code
