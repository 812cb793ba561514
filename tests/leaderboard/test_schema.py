"""The entry format: schema violations are named, an entry made under a former task name is read."""

import json

from prunebench import leaderboard as lb


def test_check_reports_schema_violations(board_copy):
    copy = board_copy
    path = copy / "entries" / "xor" / "magnitude-global.json"
    entry = json.loads(path.read_text())
    del entry["provenance"]
    path.write_text(json.dumps(entry))
    problems = lb.check(copy, None, allow_partial=True, rerun="none")
    assert any("does not follow prunebench.leaderboard-entry/1: at (top level): 'provenance' is a required property"
               in p for p in problems)


def test_an_entry_made_under_a_former_task_name_is_read(tmp_path):
    lb.run(["xor"], lb.resolve_methods(["random"]), seeds=[0], sparsities=[0.5], out=tmp_path, progress=False)
    entry = json.loads((tmp_path / "entries" / "xor" / "random.json").read_text())
    entry["task"] = "monk-1"
    (tmp_path / "entries" / "monks-1").mkdir()
    (tmp_path / "entries" / "monks-1" / "random.json").write_text(json.dumps(entry))
    assert lb.read_entry(tmp_path / "entries" / "monks-1" / "random.json")["task"] == "monks-1"
