"""The check: a fresh board passes and re-runs; departures, tampering, staleness, misplaced files and dirty
entries are reported; the committed leaderboard passes."""

import json
import re
import shutil
import warnings
from pathlib import Path

import pytest

from prunebench import leaderboard as lb
from prunebench import records, tasks

REPO = Path(__file__).resolve().parents[2]
COMMIT = "0123456789abcdef" * 2 + "01234567"  # conftest's clean tree


def test_check_passes_on_a_fresh_board_and_reruns_it(board):
    assert lb.check(board, board / "README.md", allow_partial=True, rerun="all") == []


def test_check_reports_protocol_departures(board):
    problems = lb.check(board, board / "README.md", rerun="none")
    assert any("sparsities [0.25, 0.5] differ from the protocol's" in p for p in problems)
    assert any("2 seed(s); the protocol needs at least 5" in p for p in problems)
    assert any("task 'xor' is not a protocol task" in p for p in problems)


def test_check_catches_tampering_staleness_and_misplaced_files(board_copy):
    copy = board_copy
    path = copy / "entries" / "xor" / "obs-exact.json"
    entry = json.loads(path.read_text())
    entry["per_seed"][0]["one_shot"][1]["test_loss"] *= 1.01
    path.write_text(json.dumps(entry))
    (copy / "LEADERBOARD.md").write_text((copy / "LEADERBOARD.md").read_text() + "edited\n")
    shutil.copy(copy / "entries" / "xor" / "magnitude-global.json", copy / "entries" / "xor" / "other.json")
    problems = "\n".join(lb.check(copy, copy / "README.md", allow_partial=True, rerun="all", entries=["obs-exact"]))
    assert "aggregate/one_shot/1/test_loss/median" in problems and "never edited by hand" in problems
    assert "seed 0 one-shot @0.5 test_loss is" in problems and "(tolerance rtol 1e-06)" in problems
    assert "LEADERBOARD.md is stale or missing" in problems
    assert "it must be named entries/xor/magnitude-global.json" in problems


def _check_committed(**kwargs) -> None:
    """The committed leaderboard passes :func:`lb.check`; its re-runs are compared only on the CPU model the
    entries were made on (skipped, after the other checks pass, elsewhere)."""
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", lb.checker.RerunSkipped)
        problems = lb.check(REPO / "leaderboard", REPO / "README.md", **kwargs)
    assert problems == [], "\n".join(problems)
    skipped = [str(n.message) for n in notes if issubclass(n.category, lb.checker.RerunSkipped)]
    if skipped:
        pytest.skip(f"schema, protocol, provenance and rendering checked; re-runs not compared: {skipped[0]}")


def test_committed_leaderboard_passes_check_on_monk(data_root):
    """The committed entries follow the schema and the protocol, carry clean provenance, the page and README block
    are current, and every MONK-1 entry is reproduced (one seed at 90%, one-shot and retrained) within the stated
    tolerance."""
    _check_committed(tasks=["monks-1"], root=data_root)


@pytest.mark.slow
def test_committed_leaderboard_passes_check_on_every_cheap_task(data_root):
    _check_committed(root=data_root)


def test_entries_made_on_another_cpu_model_are_not_re_run(board_copy, monkeypatch):
    """A re-run on another CPU model cannot reproduce the stored numbers (their kernels round differently): such
    entries are left out of the comparison with one warning naming both CPUs, and everything else is checked."""
    path = board_copy / "entries" / "xor" / "obs-exact.json"
    entry = json.loads(path.read_text())
    entry["per_seed"][0]["one_shot"][1]["test_loss"] *= 1.01  # a re-run here would catch it
    path.write_text(json.dumps(entry))
    made_on = entry["provenance"]["cpu"]
    monkeypatch.setattr(records, "cpu_name", lambda: "Another CPU")
    with pytest.warns(lb.checker.RerunSkipped, match=re.escape(f"made on {made_on} and this machine is Another CPU")):
        problems = lb.check(board_copy, board_copy / "README.md", allow_partial=True, rerun="all",
                            entries=["obs-exact"])
    assert not [p for p in problems if "on re-run" in p]
    assert any("never edited by hand" in p for p in problems)  # the entry's own consistency is still checked


def _state(commit=COMMIT, changed=()):
    return {"commit": commit, "dirty": bool(changed), "changed": list(changed),
            "diff_sha256": "d" * 64 if changed else None}


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


def test_the_former_monk_task_names_are_deprecated_aliases(capsys):
    with pytest.warns(DeprecationWarning, match="task name 'monk-2' is deprecated; use 'monks-2'"):
        assert tasks.get("monk-2") is tasks.get("monks-2")
    assert tasks.get("monks-1").dataset == "monks-1"
    assert [t for t in lb.TASKS if t.startswith("monk")] == ["monks-1", "monks-2", "monks-3"]
    with pytest.warns(DeprecationWarning):
        assert lb.check("/nonexistent", None, tasks=["monk-1"], rerun="none") == [
            "/nonexistent/LEADERBOARD.md is stale or missing; run `prunebench leaderboard render`"]
