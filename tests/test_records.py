"""Records: versioned schema, provenance, atomic writes; a dirty source tree is refused unless --allow-dirty marks
the record, and the checks of the committed tables fail on dirty records."""

import json
import subprocess

import pytest

from prunebench import records, report
from prunebench.cli import main
from prunebench.experiments import base
from toy_experiment import Squares, toy_args

COMMIT = "0123456789abcdef" * 2 + "01234567"  # conftest's clean tree


def _state(commit=COMMIT, changed=()):
    return {"commit": commit, "dirty": bool(changed), "changed": list(changed),
            "diff_sha256": "d" * 64 if changed else None}


def _record():
    return records.make_record("unit", {"a": 1}, {"per_seed": [1.0, 2.0]},
                               records.provenance(seeds=[0, 1], wall_time=0.5))


def test_provenance_has_every_required_field():
    prov = records.provenance(seeds=[3], wall_time=1.25, command="prunebench x")
    for key in ("command", "prunebench", "git_commit", "torch", "numpy", "device", "device_name", "dtype",
                "seeds", "wall_time_s"):
        assert key in prov
    assert prov["seeds"] == [3] and prov["command"] == "prunebench x"


def test_round_trip(tmp_path):
    rec = _record()
    path = records.atomic_write_json(tmp_path / "sub" / "r.json", rec)
    assert records.read_record(path) == rec
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_schema_violation_names_the_field(tmp_path):
    rec = _record()
    rec["provenance"]["seeds"] = ["zero"]
    with pytest.raises(records.RecordError, match="at provenance/seeds/0: 'zero' is not of type 'integer'"):
        records.validate_record(rec)
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(records.RecordError, match="is not valid JSON"):
        records.read_record(path)


def test_validate_json_names_the_place_and_the_remedy():
    """One validator for every packaged schema: the error class, the schema's name and the remedy are the caller's."""
    expected = r"^e does not follow S/1: at \(top level\): .* is a required property\. Fix it\.$"
    with pytest.raises(records.RecordError, match=expected):
        records.validate_json({}, "leaderboard-entry.schema.json", "S/1", "e", records.RecordError, "Fix it.")


def test_failed_write_leaves_old_file_intact(tmp_path):
    path = tmp_path / "r.json"
    records.atomic_write_json(path, {"v": 1})
    with pytest.raises(ValueError):
        records.atomic_write_json(path, {"v": float("nan")})  # NaN is not JSON: refused before the rename
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.fixture
def toy():
    Squares.calls = []
    return Squares()


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
    path = base.execute(toy, toy_args(results / "toy", allow_dirty=True))
    prov = records.read_record(path)["provenance"]
    assert prov["git_commit"] == COMMIT and prov["dirty"] is True and prov["units"][0]["dirty"] is True
    problems = records.provenance_problems(prov, "toy")
    assert problems[0] == "toy: made from a dirty source tree (0123456789ab-dirty); commit the code, then regenerate it"
    report.write(results, results, None, figures=False)
    assert report.check(results, results, None) == [f"{path}: {p.removeprefix('toy: ')}" for p in problems]


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
