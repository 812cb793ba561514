"""Interrupted runs lose nothing, and sweeps give the same record serially, with joblib and on Dask.

A real reproduction (``obs-xor --quick``) runs in a real subprocess that is killed with SIGKILL once some
units are done; the resumed run must produce exactly the results of an uninterrupted run and leave no partial
file. The same experiment then runs on a local Dask cluster on loopback through joblib's Dask backend.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prunebench import records
from prunebench.cli import main

ARGS = ["reproduce", "obs-xor", "--quick", "--seeds", "4", "--no-progress"]


def _results(out: Path) -> dict:
    return json.loads((out / "record.json").read_text())["results"]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    assert main([*ARGS, "--out", str(out)]) == 0
    return out


def test_killed_run_resumes_to_the_same_record(serial, tmp_path, monkeypatch):
    # Both runs see the real source tree (clean in CI; marked dirty, with the same diff, in a working copy).
    monkeypatch.setattr(records, "git_state", records.real_git_state)
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "prunebench", *ARGS, "--out", str(out), "--allow-dirty"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "units").glob("*.json"))) >= 1:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"the run finished before it could be killed: {proc.stderr.read().decode()[-500:]}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in (out / "units").glob("*.json")}
    assert 1 <= len(done_before) < 4 and not (out / "record.json").exists()
    for path in (out / "units").glob("*.json"):
        json.loads(path.read_text())  # every unit file on disk is complete JSON

    assert main([*ARGS, "--out", str(out), "--allow-dirty"]) == 0
    assert _results(out) == _results(serial)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    for name, mtime in done_before.items():  # finished units were reused, not recomputed
        assert (out / "units" / name).stat().st_mtime_ns == mtime


def test_joblib_workers_give_the_serial_record(serial, tmp_path):
    assert main([*ARGS, "--out", str(tmp_path), "--jobs", "2"]) == 0
    assert _results(tmp_path) == _results(serial)


def test_dask_cluster_gives_the_serial_record(serial, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=50) as cluster:
        assert main([*ARGS, "--out", str(tmp_path), "--scheduler", cluster.scheduler_address]) == 0
    assert _results(tmp_path) == _results(serial)
