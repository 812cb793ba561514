"""prunebench.data.usps: the parser on tiny files, and the real set when present (marked ``data``)."""

from __future__ import annotations

import gzip
import json

import pytest
import torch

from datafiles import register, require_files, usps_bytes, write
from prunebench import data


def test_usps_tiny(isolated, monkeypatch):
    files = {"zip.train.gz": usps_bytes([6, 0, 9]), "zip.test.gz": usps_bytes([4, 4], seed=1)}
    register(monkeypatch, "usps", files)
    write(isolated, "usps", files)
    s = data.load("usps", isolated, download=False)
    assert s.train[0].shape == (3, 1, 16, 16) and s.test[0].shape == (2, 1, 16, 16)
    assert s.train[1].tolist() == [6, 0, 9] and s.test[1].tolist() == [4, 4]
    first = gzip.decompress(files["zip.train.gz"]).split(b"\n")[0].split()
    expected = torch.tensor([float(v) for v in first[1:]], dtype=torch.float32).reshape(16, 16)
    assert torch.equal(s.train[0][0, 0], expected)  # row-major 16x16, values as in the file
    assert s.meta["class_counts"]["train"][6] == 1 and s.meta["pixel_range"] == [-1.0, 1.0]
    again = data.load("usps", isolated, download=False)
    assert torch.equal(again.train[0], s.train[0]) and torch.equal(again.test[1], s.test[1])
    json.dumps(s.meta)


def test_usps_malformed_line_with_matching_digest(isolated, monkeypatch):
    files = {"zip.train.gz": gzip.compress(b"1 0.5 0.5\n"), "zip.test.gz": usps_bytes([1])}
    register(monkeypatch, "usps", files)
    write(isolated, "usps", files)
    with pytest.raises(data.DatasetError, match=r"line 1 has 3 fields; expected 257"):
        data.load("usps", isolated, download=False)


@pytest.mark.data
def test_real_usps(data_root):
    require_files(data_root, "usps")
    s = data.load("usps", data_root, download=False)
    assert s.train[0].shape == (7291, 1, 16, 16) and s.test[0].shape == (2007, 1, 16, 16)
    assert s.meta["class_counts"]["train"] == [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
    assert s.meta["class_counts"]["test"] == [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]
    assert s.train[0].min() == -1.0 and s.train[0].max() == 1.0
