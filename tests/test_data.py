"""prunebench.data: parsing, sha256 checks, root resolution, downloads, and the real datasets when present.

Tiny synthetic files are written to tmp_path and registered by monkeypatching ``data.SPECS`` with their own
digests, so every parser and every failure path runs offline in milliseconds. Tests marked ``data`` read the
verified copies through conftest's ``data_root`` (``PRUNEBENCH_DATA``, else ``<repo>/../shared/datasets``) and
skip with a reason when they are absent.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import json
import socket
import struct
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from prunebench import data

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ helpers


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No environment root, no checkout root, a private cache: only what a test writes is found."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_find_checkout", lambda start: None)
    return tmp_path


def register(monkeypatch, name: str, files: dict[str, bytes], urls: tuple[str, ...] = ()) -> None:
    """Point SPECS[name] at tiny files: their sizes and digests, served from ``urls`` (base URLs)."""
    spec = data.SPECS[name]
    specs = tuple(data.FileSpec(n, len(b), _sha(b), tuple(u + n for u in urls) or (f"https://example.org/{n}",))
                  for n, b in files.items())
    monkeypatch.setitem(data.SPECS, name, dataclasses.replace(spec, files=specs))


def write(root: Path, folder: str, files: dict[str, bytes]) -> Path:
    target = root / folder
    target.mkdir(parents=True, exist_ok=True)
    for n, b in files.items():
        (target / n).write_bytes(b)
    return target


def usps_bytes(labels: list[int], seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    lines = [" ".join([f"{lab}.0000", *(f"{v:.4f}" for v in rng.uniform(-1, 1, 256))]) + " "
             for lab in labels]
    return gzip.compress(("\n".join(lines) + "\n").encode())


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x800 + array.ndim  # unsigned bytes: 2049 for labels, 2051 for images
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def mnist_files(n_train: int = 3, n_test: int = 2) -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    return {
        "train-images-idx3-ubyte.gz": idx_bytes(rng.integers(0, 256, (n_train, 28, 28))),
        "train-labels-idx1-ubyte.gz": idx_bytes(np.arange(n_train) % 10),
        "t10k-images-idx3-ubyte.gz": idx_bytes(rng.integers(0, 256, (n_test, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": idx_bytes(np.arange(n_test) % 10),
    }


def monks_bytes(rows: list[tuple[int, ...]]) -> bytes:
    return "".join(" " + " ".join(map(str, r)) + f" data_{i + 1}\n" for i, r in enumerate(rows)).encode()


MONKS_TRAIN = [(1, 1, 1, 1, 1, 3, 1), (0, 3, 2, 2, 3, 4, 2), (1, 2, 2, 1, 1, 2, 1)]
MONKS_TEST = [(0, 1, 2, 1, 2, 2, 2), (1, 3, 3, 2, 3, 1, 2)]
NETTALK_DATA = b"ab\t@b\t1<\t0\nboa\tbo-\t>1<\t0\nabc\txbk\t0>1\t2\n"
NETTALK_LIST = b"Note (by someone): a list.\n*****\n(BOA ZZZ)\n"


# ----------------------------------------------------------------------------------- names, errors


def test_names_are_sorted_and_complete():
    assert data.names() == ["digits", "mnist", "monks-1", "monks-2", "monks-3", "nettalk", "usps", "xor"]


@pytest.mark.parametrize("bad", ["mnsit", "", 3, None])
def test_unknown_name_lists_the_valid_ones(bad):
    with pytest.raises(data.DatasetError, match=r"unknown dataset .*; expected one of: digits, mnist, "
                                                r"monks-1, monks-2, monks-3, nettalk, usps, xor"):
        data.load(bad)


def test_root_must_be_a_path():
    with pytest.raises(TypeError, match=r"root must be a path \(str or os.PathLike\) or None; got int"):
        data.load("monks-1", root=5)


# ---------------------------------------------------------------------------------- root resolution


def test_roots_in_order_argument_env_checkout_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(data, "_find_checkout", lambda start: tmp_path / "checkout")
    expected = [tmp_path / "env", tmp_path / "checkout" / "datasets", tmp_path / "xdg" / "prunebench"]
    assert data.data_roots() == expected
    assert data.data_roots(tmp_path / "arg") == [tmp_path / "arg", *expected]
    assert data.data_roots(str(tmp_path / "env")) == expected  # duplicates collapse


def test_roots_default_cache_is_home_dot_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv(data.ENV_VAR, "")  # empty means unset
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(data, "_find_checkout", lambda start: None)
    assert data.data_roots() == [tmp_path / ".cache" / "prunebench"]


def test_checkout_detection(tmp_path):
    project = tmp_path / "proj"
    (project / "datasets").mkdir(parents=True)
    (project / "reference" / "prunebench").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "prunebench"\n')
    assert data._find_checkout(project / "reference" / "prunebench") == project
    (project / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    assert data._find_checkout(project / "reference" / "prunebench") is None
    assert data._find_checkout(REPO / "reference" / "prunebench") == REPO  # this checkout


def test_first_root_holding_every_file_is_used(isolated, monkeypatch):
    files = {"zip.train.gz": usps_bytes([1, 2]), "zip.test.gz": usps_bytes([3])}
    register(monkeypatch, "usps", files)
    write(isolated / "arg", "usps", {"zip.train.gz": files["zip.train.gz"]})  # incomplete: skipped
    write(isolated / "env", "usps", files)
    write(isolated / "cache" / "prunebench", "usps", files)
    monkeypatch.setenv(data.ENV_VAR, str(isolated / "env"))
    splits = data.load("usps", root=isolated / "arg", download=False)
    assert {f["path"] for f in splits.meta["files"]} == {str(isolated / "env" / "usps" / n) for n in files}
    monkeypatch.delenv(data.ENV_VAR)
    splits = data.load("usps", root=isolated / "arg", download=False)
    assert splits.meta["files"][0]["path"].startswith(str(isolated / "cache" / "prunebench"))


# ------------------------------------------------------------------------------------ builtin sets


def test_xor():
    s = data.load("xor")
    assert s.train[0].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert s.train[1].tolist() == [0, 1, 1, 0]
    assert s.train[0].dtype == torch.float32 and s.train[1].dtype == torch.int64
    assert torch.equal(s.test[0], s.train[0]) and torch.equal(s.test[1], s.train[1])
    assert s.meta["n_classes"] == 2 and s.meta["input_shape"] == [2]


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
    mask = data._stratified_test_mask(labels, fraction=0.5, seed=0)
    assert [int(mask[labels == c].sum()) for c in range(3)] == [2, 2, 1]
    assert np.array_equal(mask, data._stratified_test_mask(labels, fraction=0.5, seed=0))


# ------------------------------------------------------------------------ parsers on tiny files


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


def test_usps_malformed_line_with_matching_digest(isolated, monkeypatch):
    files = {"zip.train.gz": gzip.compress(b"1 0.5 0.5\n"), "zip.test.gz": usps_bytes([1])}
    register(monkeypatch, "usps", files)
    write(isolated, "usps", files)
    with pytest.raises(data.DatasetError, match=r"line 1 has 3 fields; expected 257"):
        data.load("usps", isolated, download=False)


def test_nettalk_code_table():
    for symbol, features in data._NETTALK_PHONEMES.items():  # every listed feature switches one unit on
        assert sum(data.PHONEME_CODES[symbol]) == len(features.split(", ")), symbol
    codes = {}
    for symbol, code in data.PHONEME_CODES.items():
        codes.setdefault(tuple(code), []).append(symbol)
    assert [s for s in codes.values() if len(s) > 1] == [["G", "J"]]  # as transcribed, see the datasheet
    assert len(data.NETTALK_FEATURES) == 21 and len(data.NETTALK_STRESS_UNITS) == 5
    assert len(data.NETTALK_SYMBOLS) == 29


# ---------------------------------------------------------------------------- integrity (sha256)


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "appended"])
def test_damaged_file_is_rejected(isolated, monkeypatch, damage):
    files = {"zip.train.gz": usps_bytes([1, 2, 3]), "zip.test.gz": usps_bytes([4])}
    register(monkeypatch, "usps", files)
    folder = write(isolated, "usps", files)
    good = files["zip.train.gz"]
    bad = {"truncated": good[: len(good) // 2], "flipped byte": good[:-5] + bytes([good[-5] ^ 1]) + good[-4:],
           "appended": good + b"\0"}[damage]
    (folder / "zip.train.gz").write_bytes(bad)
    message = (rf"dataset 'usps': file {folder / 'zip.train.gz'} does not match its sha256 \(expected "
               rf"{_sha(good)}, got {_sha(bad)}; expected {len(good)} bytes, got {len(bad)}\); it was not "
               rf"used\. Delete it \(the next run downloads it again\), or replace it with the "
               rf"original from https://example.org/zip.train.gz")
    with pytest.raises(data.DatasetError, match=message):
        data.load("usps", isolated, download=True)  # a present but corrupt file is never replaced silently
    assert (folder / "zip.train.gz").read_bytes() == bad


def test_missing_error_names_every_place_and_the_fix(isolated, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(isolated / "env"))
    roots = data.data_roots(isolated / "arg")
    with pytest.raises(data.DatasetError) as info:
        data.load("monks-3", isolated / "arg", download=False)
    message = str(info.value)
    lines = message.splitlines()
    assert len(lines) == 3, message
    assert lines[0] == ("dataset 'monks-3' not found: monks-3.train, monks-3.test must be in a folder 'monks' under "
                        "a data root; looked in " + ", ".join(str(root / "monks") for root in roots))
    assert lines[1] == "Downloading was disabled (download=False)."
    assert lines[2].startswith("To fix: set PRUNEBENCH_DATA (or pass --root PATH, root=PATH to load()) to a folder "
                               "holding monks/, or download by hand into <root>/monks/: ")
    assert ("https://archive.ics.uci.edu/ml/machine-learning-databases/monks-problems/monks-3.train (sha256 "
            "726f258f80be06af4bb2d8831789514a663f5813e47429211fe19dcd367966f8)") in lines[2]


# -------------------------------------------------------------------------------------- downloads


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_download_fails_fast_and_leaves_nothing(isolated, monkeypatch):
    files = {"zip.train.gz": usps_bytes([1]), "zip.test.gz": usps_bytes([2])}
    base = f"http://127.0.0.1:{_closed_port()}/"
    register(monkeypatch, "usps", files, urls=(base,))
    start = time.perf_counter()
    with pytest.raises(data.DatasetError) as info:
        data.load("usps", isolated / "arg")
    assert time.perf_counter() - start < 5  # connection refused: no waiting on DOWNLOAD_TIMEOUT
    message = str(info.value)
    assert len(message.splitlines()) == 3, message
    assert f"Downloading into {isolated / 'arg' / 'usps'} failed (offline?): {base}zip.train.gz: " in message
    assert f"; {base}zip.test.gz: " in message
    assert not (isolated / "arg").exists()  # no partial or temporary file, no empty folder left


def test_download_errors_from_urlopen_are_reported(isolated, monkeypatch):
    register(monkeypatch, "monks-1", {"monks-1.train": b"x", "monks-1.test": b"y"})

    def offline(request, timeout):
        assert timeout == data.DOWNLOAD_TIMEOUT
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(data, "urlopen", offline)
    with pytest.raises(data.DatasetError, match=r"example.org/monks-1.train: <urlopen error \[Errno -2\]"):
        data.load("monks-1", isolated / "arg")


def test_download_with_monkeypatched_urlopen(isolated, monkeypatch):
    files = {"monks-1.train": monks_bytes(MONKS_TRAIN), "monks-1.test": monks_bytes(MONKS_TEST)}
    register(monkeypatch, "monks-1", files)
    asked = []

    def fake(request, timeout):
        asked.append(request.full_url)
        assert request.get_header("User-agent").startswith("prunebench/")
        return io.BytesIO(files[request.full_url.rsplit("/", 1)[1]])

    monkeypatch.setattr(data, "urlopen", fake)
    s = data.load("monks-1", isolated / "arg")
    assert asked == ["https://example.org/monks-1.train", "https://example.org/monks-1.test"]
    assert (isolated / "arg" / "monks" / "monks-1.train").read_bytes() == files["monks-1.train"]
    assert s.train[1].tolist() == [1, 0, 1]
    data.load("monks-1", isolated / "arg")  # now found locally: no further request
    assert len(asked) == 2


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server over tmp_path/served: (folder, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_from_a_server_skips_a_bad_mirror(isolated, monkeypatch, http_server):
    served, base = http_server
    files = mnist_files()
    (served / "bad").mkdir()
    for n, b in files.items():
        (served / n).write_bytes(b)
        (served / "bad" / n).write_bytes(b[:-1] + b"\0")  # same size, wrong digest
    register(monkeypatch, "mnist", files, urls=(base + "bad/", base + "missing/", base))
    (isolated / "a-file").write_text("")  # a root that cannot hold folders: skipped as unwritable
    monkeypatch.setenv(data.ENV_VAR, str(isolated / "env"))
    s = data.load("mnist", isolated / "a-file")
    assert s.train[0].shape == (3, 784)
    for n, b in files.items():
        assert (isolated / "env" / "mnist" / n).read_bytes() == b
    assert sorted(p.name for p in (isolated / "env" / "mnist").iterdir()) == sorted(files)


def test_download_needs_a_writable_root(isolated, monkeypatch):
    (isolated / "a-file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(isolated / "a-file"))
    with pytest.raises(data.DatasetError, match=r"(?s)dataset 'usps' not found.*No data root is writable: "
                                                r"nothing was downloaded\."):
        data.load("usps", isolated / "a-file")


def test_download_with_only_wrong_bytes_keeps_nothing(isolated, monkeypatch, http_server):
    served, base = http_server
    (served / "zip.train.gz").write_bytes(b"not the file")
    register(monkeypatch, "usps", {"zip.train.gz": usps_bytes([1]), "zip.test.gz": usps_bytes([2])},
             urls=(base,))
    with pytest.raises(data.DatasetError, match=r"zip.train.gz: sha256 mismatch \(expected [0-9a-f]{64}, got "
                                                rf"{_sha(b'not the file')}\); discarded"):
        data.load("usps", isolated / "arg")
    assert not (isolated / "arg" / "usps" / "zip.train.gz").exists()


def test_download_stops_at_more_than_the_expected_size(isolated, monkeypatch):
    register(monkeypatch, "monks-1", {"monks-1.train": b"abc", "monks-1.test": b"def"})
    monkeypatch.setattr(data, "urlopen", lambda request, timeout: io.BytesIO(b"abcdef"))
    with pytest.raises(data.DatasetError, match=r"more than the expected 3 bytes"):
        data.load("monks-1", isolated / "arg")


# ------------------------------------------------------------------------------------------ status


def test_status_states_and_table(isolated, monkeypatch):
    usps = {"zip.train.gz": usps_bytes([1]), "zip.test.gz": usps_bytes([2])}
    monks = {"monks-1.train": monks_bytes(MONKS_TRAIN), "monks-1.test": monks_bytes(MONKS_TEST)}
    register(monkeypatch, "usps", usps)
    register(monkeypatch, "monks-1", monks)
    write(isolated / "root", "usps", usps)
    write(isolated / "root", "monks", {**monks, "monks-1.test": b"damaged"})
    rows = {r.name: r for r in data.status(isolated / "root")}
    assert list(rows) == data.names()
    assert rows["usps"].state == "verified" and rows["usps"].paths == (str(isolated / "root" / "usps"),)
    assert rows["monks-1"].state == "corrupt" and "monks-1.test" in rows["monks-1"].detail
    assert rows["xor"].state == "builtin" and rows["digits"].state == "builtin"
    assert rows["mnist"].state == "missing"
    assert rows["mnist"].paths == tuple(str(r / "mnist") for r in data.data_roots(isolated / "root"))
    table = data.format_status(rows.values())
    assert table.splitlines()[0].split() == ["dataset", "state", "location", "detail"]
    for path in rows["mnist"].paths:
        assert path in table
    assert data.format_status([]).split() == ["dataset", "state", "location", "detail"]


# -------------------------------------------------------------------------------------- MONK rules


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


# --------------------------------------------------------------------------------- the repository


def test_datasets_folder_holds_only_the_datasheet_and_no_code():
    folder = REPO / "datasets"
    assert (folder / "README.md").is_file()
    assert (folder / ".gitignore").read_text().splitlines()[1:] == ["*", "!.gitignore", "!README.md"]
    assert not list(folder.rglob("*.py"))


# ----------------------------------------------------------------- the real datasets (when present)


def _require(root: Path, name: str) -> None:
    spec = data.SPECS[name]
    if not all((root / spec.folder / f.name).is_file() for f in spec.files):
        pytest.skip(f"{name} not found under {root}; set PRUNEBENCH_DATA")


@pytest.mark.data
def test_real_status(data_root):
    states = {r.name: r.state for r in data.status(data_root)}
    folders = {n: data.SPECS[n].folder for n in data.names()}
    present = {n for n, folder in folders.items() if folder and (data_root / folder).is_dir()}
    assert {n: states[n] for n in present} == dict.fromkeys(present, "verified")


@pytest.mark.data
def test_real_usps(data_root):
    _require(data_root, "usps")
    s = data.load("usps", data_root, download=False)
    assert s.train[0].shape == (7291, 1, 16, 16) and s.test[0].shape == (2007, 1, 16, 16)
    assert s.meta["class_counts"]["train"] == [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
    assert s.meta["class_counts"]["test"] == [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]
    assert s.train[0].min() == -1.0 and s.train[0].max() == 1.0


@pytest.mark.data
def test_real_mnist(data_root):
    _require(data_root, "mnist")
    mnist = data.load("mnist", data_root, download=False)
    assert mnist.train[0].shape == (60000, 784) and mnist.test[0].shape == (10000, 784)
    assert mnist.meta["class_counts"]["train"] == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert mnist.meta["class_counts"]["test"] == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.train[0].min() == 0.0 and mnist.train[0].max() == 1.0
    assert abs(mnist.train[0].mean().item() - 0.13066) < 1e-4  # the familiar normalisation mean


@pytest.mark.data
@pytest.mark.parametrize(("problem", "n_train", "train_pos", "test_pos"),
                         [(1, 124, 62, 216), (2, 169, 64, 142), (3, 122, 60, 228)])
def test_real_monks(data_root, problem, n_train, train_pos, test_pos):
    _require(data_root, f"monks-{problem}")
    s = data.load(f"monks-{problem}", data_root, download=False)
    assert s.train[0].shape == (n_train, 17) and s.test[0].shape == (432, 17)
    assert int(s.train[1].sum()) == train_pos and int(s.test[1].sum()) == test_pos
    assert s.train[0].sum(dim=1).eq(6).all() and s.test[0].sum(dim=1).eq(6).all()
    assert len({tuple(r) for r in s.test[0].tolist()}) == 432  # every attribute vector once


@pytest.mark.data
def test_real_monk_labels_follow_the_rules_except_six_noisy_ones(data_root):
    disagree = {}
    for problem in (1, 2, 3):
        _require(data_root, f"monks-{problem}")
        s = data.load(f"monks-{problem}", data_root, download=False)
        for part, attrs in zip(("train", "test"), data.monk_attributes(problem, data_root), strict=True):
            labels = getattr(s, part)[1].numpy().astype(bool)
            wrong = data.monk_rule(problem, attrs) != labels
            disagree[f"monks-{problem}.{part}"] = attrs[wrong].tolist()
    assert {k: v for k, v in disagree.items() if v} == {"monks-3.train": [
        [1, 1, 1, 1, 3, 1], [1, 2, 1, 2, 3, 1], [2, 2, 1, 2, 2, 1],
        [2, 2, 1, 3, 3, 1], [2, 2, 1, 3, 3, 2], [3, 3, 1, 1, 4, 1]]}


@pytest.mark.data
def test_real_nettalk(data_root):
    _require(data_root, "nettalk")
    s = data.load("nettalk", data_root, download=False)
    (x_tr, t_tr), (x_te, t_te) = s.train, s.test
    assert x_tr.shape == (5603, 203) and t_tr.shape == (5603, 26)
    assert x_te.shape == (141331, 203) and t_te.shape == (141331, 26)
    assert s.meta["train_words"] == 1000 and s.meta["train_entries"] == 1034
    assert s.meta["test_entries"] == 18973 and s.meta["list_words_missing_from_data"] == []
    assert x_tr.sum(dim=1).eq(7).all() and x_te.sum(dim=1).eq(7).all()
    assert t_te[:, 21:].sum(dim=1).ge(1).all()  # every letter carries a stress/syllable code
