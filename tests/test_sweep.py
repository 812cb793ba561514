"""The sweep: seeds, unit files with their provenance, resume, stale units, and the same results serially, with
joblib and on Dask.

A real reproduction (``obs-xor --quick``) runs in a real subprocess that is killed with SIGKILL once some
units are done; the resumed run must produce exactly the results of an uninterrupted run and leave no partial
file. The same experiment then runs on a local Dask cluster on loopback through joblib's Dask backend. A stale
unit (computed by other code or configuration) is computed again, or kept with ``--reuse-stale`` and listed as
stale.
"""

import argparse
import functools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prunebench import records, sweep
from prunebench.cli import main
from prunebench.experiments import base
from toy_experiment import Squares, toy_args

COMMIT = "0123456789abcdef" * 2 + "01234567"  # conftest's clean tree
OTHER = "fedcba9876543210" * 2 + "fedcba98"

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


def _state(commit=COMMIT, changed=()):
    return {"commit": commit, "dirty": bool(changed), "changed": list(changed),
            "diff_sha256": "d" * 64 if changed else None}


@pytest.fixture
def toy():
    Squares.calls = []
    return Squares()


def _units(out):
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "units").glob("*.json"))}


@pytest.mark.parametrize(("text", "expected"), [("3", [0, 1, 2]), ("0,5,7", [0, 5, 7]), (None, [0, 1, 2, 3])])
def test_parse_seeds(text, expected):
    assert sweep.parse_seeds(text, 4) == expected


@pytest.mark.parametrize("text", ["-1", "a,b", "0", "1,1", "1.5"])
def test_parse_seeds_rejects_bad_input(text):
    with pytest.raises(ValueError, match="--seeds must"):
        sweep.parse_seeds(text, 4)


def test_check_jobs():
    sweep.check_jobs(3)
    for bad in (0, -1, True, 2.0, "2"):
        with pytest.raises(ValueError, match=r"--jobs must be a positive integer; got "):
            sweep.check_jobs(bad)


def test_provenance_options_share_their_wording():
    parser = argparse.ArgumentParser()
    sweep.add_provenance_options(parser, dirty="the X is marked dirty", stale="the X lists them as stale")
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["allow_dirty"] == ("run although tracked source files differ from the commit; the X is marked "
                                    "dirty")
    assert helps["reuse_stale"] == ("reuse saved units computed by other code or configuration instead of "
                                    "computing them again (the X lists them as stale)")
    assert parser.parse_args(["--allow-dirty"]).allow_dirty and not parser.parse_args([]).reuse_stale


def test_torch_threads_restores_the_setting():
    import torch

    before = torch.get_num_threads()
    with sweep.torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before


def _cube(config, unit, offset):
    return {"value": unit["n"] ** 3 + offset}


def test_run_units_takes_a_plain_function_and_resumes(tmp_path):
    """What the leaderboard does: a picklable function, no experiment class; saved units are not recomputed."""
    compute = functools.partial(_cube, offset=1)
    units = [{"id": f"n={n}", "n": n} for n in range(3)]
    done = sweep.run_units("cubes", compute, {"k": 1}, units, tmp_path, progress=False)
    assert {k: v["result"]["value"] for k, v in done.items()} == {"n=0": 1, "n=1": 2, "n=2": 9}
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "units").iterdir()}
    assert sorted(stamps) == ["n=0.json", "n=1.json", "n=2.json"]
    again = sweep.run_units("cubes", functools.partial(_cube, offset=99), {"k": 1}, units, tmp_path, jobs=2)
    assert {k: v["result"] for k, v in again.items()} == {k: v["result"] for k, v in done.items()}
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "units").iterdir()} == stamps
    assert sweep.units_provenance({"k": 1}, list(again.values()), records.git_state())[0]["stale"] == 0


def test_run_units_refuses_bad_unit_ids(tmp_path):
    with pytest.raises(RuntimeError, match=r"experiment bad produced invalid or duplicate unit ids: \['a b'\]"):
        sweep.run_units("bad", _cube, {}, [{"id": "a b"}], tmp_path)
    with pytest.raises(RuntimeError, match=r"invalid or duplicate unit ids: \['x', 'x'\]"):
        sweep.run_units("bad", _cube, {}, [{"id": "x"}, {"id": "x"}], tmp_path)
    assert not list(tmp_path.iterdir())


def test_each_unit_file_carries_its_provenance(toy, tmp_path):
    record = records.read_record(base.execute(toy, toy_args(tmp_path)))
    for payload in _units(tmp_path).values():
        prov = payload["provenance"]
        assert prov["git_commit"] == COMMIT and prov["dirty"] is False and prov["prunebench"]
        config = json.loads((tmp_path / "config.json").read_text())
        assert prov["config_hash"] == records.config_hash({"config": config, "unit": payload["unit"]})
    assert record["provenance"]["git_commit"] == COMMIT and record["provenance"]["dirty"] is False
    assert record["provenance"]["units"] == [{"git_commit": COMMIT, "dirty": False,
                                              "prunebench": records.unit_provenance(_state(), {})["prunebench"],
                                              "units": 3, "stale": 0}]


def test_a_stale_unit_is_computed_again_on_resume(toy, tmp_path, caplog):
    base.execute(toy, toy_args(tmp_path))
    path = tmp_path / "units" / "seed=1.json"
    payload = json.loads(path.read_text())
    payload["provenance"]["git_commit"] = OTHER  # as if computed by older code
    payload["result"] = {"value": -1}
    path.write_text(json.dumps(payload))
    with caplog.at_level(logging.WARNING):
        record = records.read_record(base.execute(toy, toy_args(tmp_path)))
    assert Squares.calls[3:] == ["seed=1"]
    assert record["results"]["per_seed"]["seed=1"] == 1
    assert "toy-squares: 1 of 3 saved units were computed by other code or configuration (e.g. seed=1: commit " \
           "fedcba987654, prunebench" in caplog.text
    assert "computing them again (--reuse-stale keeps them)" in caplog.text
    assert _units(tmp_path)["seed=1"]["provenance"]["git_commit"] == COMMIT
    assert record["provenance"]["units"][0]["stale"] == 0


def test_units_of_another_commit_are_all_recomputed(toy, tmp_path, monkeypatch):
    base.execute(toy, toy_args(tmp_path))
    monkeypatch.setattr(records, "git_state", lambda outputs=(): _state(OTHER))
    record = records.read_record(base.execute(toy, toy_args(tmp_path)))
    assert Squares.calls == ["seed=0", "seed=1", "seed=2"] * 2
    assert record["provenance"]["units"][0]["git_commit"] == OTHER


def test_reuse_stale_keeps_them_and_the_record_says_so(toy, tmp_path, monkeypatch, caplog):
    base.execute(toy, toy_args(tmp_path))
    monkeypatch.setattr(records, "git_state", lambda outputs=(): _state(OTHER))
    with caplog.at_level(logging.WARNING):
        path = base.execute(toy, toy_args(tmp_path, reuse_stale=True))
    assert Squares.calls == ["seed=0", "seed=1", "seed=2"]
    assert "reusing them (--reuse-stale: the record says so)" in caplog.text
    prov = records.read_record(path)["provenance"]
    assert prov["units"] == [{"git_commit": COMMIT, "dirty": False, "prunebench": prov["prunebench"], "units": 3,
                              "stale": 3}]
    assert records.provenance_problems(prov, "r") == [
        "r: 3 unit(s) were computed by other code or configuration (--reuse-stale); regenerate it without "
        "--reuse-stale"]


def test_a_changed_unit_configuration_makes_it_stale(toy, tmp_path, monkeypatch):
    base.execute(toy, toy_args(tmp_path))
    monkeypatch.setattr(Squares, "units", lambda self, config: [{"id": f"seed={s}", "seed": s, "extra": 1}
                                                                for s in config["seeds"]])
    base.execute(toy, toy_args(tmp_path))
    assert len(Squares.calls) == 6


def test_torch_threads_restores_the_setting_even_after_an_error():
    import torch

    previous = torch.get_num_threads()
    try:
        with sweep.torch_threads(1):
            assert torch.get_num_threads() == 1
            raise KeyError("inside")
    except KeyError:
        pass
    assert torch.get_num_threads() == previous
