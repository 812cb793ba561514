"""Provenance: every unit file says which code and configuration computed it, a stale unit is computed again (or
kept with --reuse-stale and listed as stale), a dirty source tree is refused unless --allow-dirty marks the
record, and the checks of the committed tables fail on dirty or stale records."""

import json
import logging
import subprocess

import pytest

from prunebench import leaderboard as lb
from prunebench import records, report, tasks
from prunebench.cli import main
from prunebench.experiments import base
from test_experiments_base import Squares, _args

COMMIT = "0123456789abcdef" * 2 + "01234567"  # conftest's clean tree
OTHER = "fedcba9876543210" * 2 + "fedcba98"


def _state(commit=COMMIT, changed=()):
    return {"commit": commit, "dirty": bool(changed), "changed": list(changed),
            "diff_sha256": "d" * 64 if changed else None}


@pytest.fixture
def toy():
    Squares.calls = []
    return Squares()


def _units(out):
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "units").glob("*.json"))}


def test_each_unit_file_carries_its_provenance(toy, tmp_path):
    record = records.read_record(base.execute(toy, _args(tmp_path)))
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
    base.execute(toy, _args(tmp_path))
    path = tmp_path / "units" / "seed=1.json"
    payload = json.loads(path.read_text())
    payload["provenance"]["git_commit"] = OTHER  # as if computed by older code
    payload["result"] = {"value": -1}
    path.write_text(json.dumps(payload))
    with caplog.at_level(logging.WARNING):
        record = records.read_record(base.execute(toy, _args(tmp_path)))
    assert Squares.calls[3:] == ["seed=1"]
    assert record["results"]["per_seed"]["seed=1"] == 1
    assert "toy-squares: 1 of 3 saved units were computed by other code or configuration (e.g. seed=1: commit " \
           "fedcba987654, prunebench" in caplog.text
    assert "computing them again (--reuse-stale keeps them)" in caplog.text
    assert _units(tmp_path)["seed=1"]["provenance"]["git_commit"] == COMMIT
    assert record["provenance"]["units"][0]["stale"] == 0


def test_units_of_another_commit_are_all_recomputed(toy, tmp_path, monkeypatch):
    base.execute(toy, _args(tmp_path))
    monkeypatch.setattr(records, "git_state", lambda outputs=(): _state(OTHER))
    record = records.read_record(base.execute(toy, _args(tmp_path)))
    assert Squares.calls == ["seed=0", "seed=1", "seed=2"] * 2
    assert record["provenance"]["units"][0]["git_commit"] == OTHER


def test_reuse_stale_keeps_them_and_the_record_says_so(toy, tmp_path, monkeypatch, caplog):
    base.execute(toy, _args(tmp_path))
    monkeypatch.setattr(records, "git_state", lambda outputs=(): _state(OTHER))
    with caplog.at_level(logging.WARNING):
        path = base.execute(toy, _args(tmp_path, reuse_stale=True))
    assert Squares.calls == ["seed=0", "seed=1", "seed=2"]
    assert "reusing them (--reuse-stale: the record says so)" in caplog.text
    prov = records.read_record(path)["provenance"]
    assert prov["units"] == [{"git_commit": COMMIT, "dirty": False, "prunebench": prov["prunebench"], "units": 3,
                              "stale": 3}]
    assert records.provenance_problems(prov, "r") == [
        "r: 3 unit(s) were computed by other code or configuration (--reuse-stale); regenerate it without "
        "--reuse-stale"]


def test_a_changed_unit_configuration_makes_it_stale(toy, tmp_path, monkeypatch):
    base.execute(toy, _args(tmp_path))
    monkeypatch.setattr(Squares, "units", lambda self, config: [{"id": f"seed={s}", "seed": s, "extra": 1}
                                                                for s in config["seeds"]])
    base.execute(toy, _args(tmp_path))
    assert len(Squares.calls) == 6


def test_a_dirty_tree_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(records, "git_state",
                        lambda outputs=(): _state(changed=["reference/prunebench/prune.py", "Makefile"]))
    out = tmp_path / "xor"
    assert main(["reproduce", "obs-xor", "--quick", "--seeds", "1", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: 2 tracked source file(s) differ from commit 0123456789ab (reference/prunebench/prune.py, "
                   "Makefile); commit them first, or pass --allow-dirty to write a record marked dirty\n")
    assert not out.exists()
    assert main(["leaderboard", "run", "--task", "xor", "--method", "random", "--seeds", "1", "--out",
                 str(tmp_path / "board"), "--no-progress"]) == 2
    assert "--allow-dirty" in capsys.readouterr().err and not (tmp_path / "board").exists()
    assert main(["train", "--task", "xor", "--json", str(tmp_path / "t.json")]) == 2
    assert "--allow-dirty" in capsys.readouterr().err and not (tmp_path / "t.json").exists()


def test_allow_dirty_marks_the_record_and_the_checks_fail(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(records, "git_state", lambda outputs=(): _state(changed=["reference/prunebench/prune.py"]))
    results = tmp_path / "results"
    path = base.execute(toy, _args(results / "toy", allow_dirty=True))
    prov = records.read_record(path)["provenance"]
    assert prov["git_commit"] == COMMIT and prov["dirty"] is True and prov["units"][0]["dirty"] is True
    problems = records.provenance_problems(prov, "toy")
    assert problems[0] == "toy: made from a dirty source tree (0123456789ab-dirty); commit the code, then regenerate it"
    report.write(results, results, None, figures=False)
    assert report.check(results, results, None) == [f"{path}: {p.removeprefix('toy: ')}" for p in problems]


def test_dirty_leaderboard_entries_fail_check(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(records, "git_state", lambda outputs=(): _state(changed=["reference/prunebench/prune.py"]))
    lb.run(["xor"], lb.resolve_methods(["random"]), seeds=[0], sparsities=[0.5], out=tmp_path, progress=False,
           allow_dirty=True)
    entry = json.loads((tmp_path / "entries" / "xor" / "random.json").read_text())
    assert entry["provenance"]["dirty"] is True
    lb.render(tmp_path, None, with_figures=False)
    problems = lb.check(tmp_path, None, rerun="none", allow_partial=True)
    assert "xor/random: made from a dirty source tree (0123456789ab-dirty); commit the code, then regenerate it" \
        in problems
    assert not [p for p in lb.check(tmp_path, None, rerun="none", allow_partial=True, provenance=False)
                if "dirty source" in p]


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_git_state_ignores_the_outputs_being_written(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    for rel in ("src/a.py", "results/x/record.json", "leaderboard/entries/t/e.json", "README.md", "mine/out.json"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text("1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x")
    monkeypatch.setattr(records, "_toplevel", lambda: repo)
    git_state = records.real_git_state
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert git_state() == {"commit": head, "dirty": False, "changed": [], "diff_sha256": None}
    for rel in ("results/x/record.json", "leaderboard/entries/t/e.json", "README.md", "mine/out.json"):
        (repo / rel).write_text("2\n")
    (repo / "untracked.py").write_text("new\n")
    monkeypatch.chdir(repo)
    assert git_state(["mine"])["dirty"] is False
    assert git_state()["changed"] == ["mine/out.json"]
    (repo / "src" / "a.py").write_text("2\n")
    state = git_state(["mine"])
    assert state["dirty"] is True and state["changed"] == ["src/a.py"] and len(state["diff_sha256"]) == 64
    with pytest.raises(records.DirtySourceError, match=r"^1 tracked source file\(s\) differ from commit "):
        records.require_clean(state, allow_dirty=False)
    records.require_clean(state, allow_dirty=True)


def test_commit_labels_keep_the_dirty_mark():
    assert records.commit_label({"git_commit": COMMIT, "dirty": True}, 12) == "0123456789ab-dirty"
    assert records.commit_label({"git_commit": COMMIT + "-dirty"}) == COMMIT + "-dirty"
    assert records.commit_label({"git_commit": COMMIT, "dirty": False}) == COMMIT


def test_the_former_monk_task_names_are_deprecated_aliases(capsys):
    with pytest.warns(DeprecationWarning, match="task name 'monk-2' is deprecated; use 'monks-2'"):
        assert tasks.get("monk-2") is tasks.get("monks-2")
    assert tasks.get("monks-1").dataset == "monks-1"
    assert [t for t in lb.TASKS if t.startswith("monk")] == ["monks-1", "monks-2", "monks-3"]
    with pytest.warns(DeprecationWarning):
        assert lb.check("/nonexistent", None, tasks=["monk-1"], rerun="none") == [
            "/nonexistent/LEADERBOARD.md is stale or missing; run `prunebench leaderboard render`"]


def test_an_entry_made_under_a_former_task_name_is_read(tmp_path):
    lb.run(["xor"], lb.resolve_methods(["random"]), seeds=[0], sparsities=[0.5], out=tmp_path, progress=False)
    entry = json.loads((tmp_path / "entries" / "xor" / "random.json").read_text())
    entry["task"] = "monk-1"
    (tmp_path / "entries" / "monks-1").mkdir()
    (tmp_path / "entries" / "monks-1" / "random.json").write_text(json.dumps(entry))
    assert lb.read_entry(tmp_path / "entries" / "monks-1" / "random.json")["task"] == "monks-1"
