"""prunebench.data.fetch: root resolution, sha256 checks, the missing-data message, downloads (offline, from a
local server, through a monkeypatched ``urlopen``), and the repository's data folder.

Tiny synthetic files (``datafiles``) are registered in ``data.SPECS`` with their own digests, so every failure
path runs offline in milliseconds.
"""

from __future__ import annotations

import functools
import io
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.error import URLError

import pytest

from datafiles import MONKS_TEST, MONKS_TRAIN, mnist_files, monks_bytes, register, sha, usps_bytes, write
from prunebench import data
from prunebench.data import fetch

REPO = Path(__file__).resolve().parents[2]


def test_root_must_be_a_path():
    with pytest.raises(TypeError, match=r"root must be a path \(str or os.PathLike\) or None; got int"):
        data.load("monks-1", root=5)


def test_roots_in_order_argument_env_checkout_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(fetch, "_find_checkout", lambda start: tmp_path / "checkout")
    expected = [tmp_path / "env", tmp_path / "checkout" / "datasets", tmp_path / "xdg" / "prunebench"]
    assert data.data_roots() == expected
    assert data.data_roots(tmp_path / "arg") == [tmp_path / "arg", *expected]
    assert data.data_roots(str(tmp_path / "env")) == expected  # duplicates collapse


def test_roots_default_cache_is_home_dot_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv(data.ENV_VAR, "")  # empty means unset
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(fetch, "_find_checkout", lambda start: None)
    assert data.data_roots() == [tmp_path / ".cache" / "prunebench"]


def test_checkout_detection(tmp_path):
    project = tmp_path / "proj"
    (project / "datasets").mkdir(parents=True)
    (project / "reference" / "prunebench").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "prunebench"\n')
    assert fetch._find_checkout(project / "reference" / "prunebench") == project
    (project / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    assert fetch._find_checkout(project / "reference" / "prunebench") is None
    assert fetch._find_checkout(REPO / "reference" / "prunebench") == REPO  # this checkout


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
               rf"{sha(good)}, got {sha(bad)}; expected {len(good)} bytes, got {len(bad)}\); it was not "
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

    monkeypatch.setattr(fetch, "urlopen", offline)
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

    monkeypatch.setattr(fetch, "urlopen", fake)
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
                                                rf"{sha(b'not the file')}\); discarded"):
        data.load("usps", isolated / "arg")
    assert not (isolated / "arg" / "usps" / "zip.train.gz").exists()


def test_download_stops_at_more_than_the_expected_size(isolated, monkeypatch):
    register(monkeypatch, "monks-1", {"monks-1.train": b"abc", "monks-1.test": b"def"})
    monkeypatch.setattr(fetch, "urlopen", lambda request, timeout: io.BytesIO(b"abcdef"))
    with pytest.raises(data.DatasetError, match=r"more than the expected 3 bytes"):
        data.load("monks-1", isolated / "arg")


def test_datasets_folder_holds_only_the_datasheet_and_no_code():
    folder = REPO / "datasets"
    assert (folder / "README.md").is_file()
    assert (folder / ".gitignore").read_text().splitlines()[1:] == ["*", "!.gitignore", "!README.md"]
    assert not list(folder.rglob("*.py"))
