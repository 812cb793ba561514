"""prunebench.data.mnist: the IDX parser on tiny files, and the real set when present (marked ``data``)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from datafiles import mnist_files, register, require_files, write
from prunebench import data


def test_mnist_tiny(isolated, monkeypatch):
    files = mnist_files()
    register(monkeypatch, "mnist", files)
    write(isolated, "mnist", files)
    s = data.load("mnist", isolated, download=False)
    assert s.train[0].shape == (3, 784) and s.test[0].shape == (2, 784)
    raw = np.frombuffer(gzip.decompress(files["train-images-idx3-ubyte.gz"])[16:], dtype=np.uint8)
    assert torch.allclose(s.train[0].flatten(), torch.from_numpy(raw.astype(np.float32) / 255))
    assert s.train[1].tolist() == [0, 1, 2] and s.test[1].tolist() == [0, 1]


def test_mnist_rejects_a_bad_idx_header(isolated, monkeypatch):
    files = mnist_files()
    files["t10k-labels-idx1-ubyte.gz"] = gzip.compress(struct.pack(">II", 2049, 5) + b"\x01\x02")
    register(monkeypatch, "mnist", files)
    write(isolated, "mnist", files)
    with pytest.raises(data.DatasetError, match=r"header says \(5,\) = 5 bytes of data; the file has 2"):
        data.load("mnist", isolated, download=False)


@pytest.mark.data
def test_real_mnist(data_root):
    require_files(data_root, "mnist")
    mnist = data.load("mnist", data_root, download=False)
    assert mnist.train[0].shape == (60000, 784) and mnist.test[0].shape == (10000, 784)
    assert mnist.meta["class_counts"]["train"] == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert mnist.meta["class_counts"]["test"] == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.train[0].min() == 0.0 and mnist.train[0].max() == 1.0
    assert abs(mnist.train[0].mean().item() - 0.13066) < 1e-4  # the familiar normalisation mean
