"""``prunebench report --check``: stale outputs and records not from a clean commit
(:mod:`prunebench.report.staleness`)."""

import json
from pathlib import Path

import pytest

from prunebench import records, report
from prunebench.cli import main
from report_cases import COMMIT, README, snapshot, toy_record, write_record

REPO = Path(__file__).resolve().parents[2]


def test_check_names_every_stale_file(rendered, tmp_path, capsys):
    root = tmp_path / "stale"
    for rel, data in snapshot(rendered).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    results = root / "results"
    claims_md = results / "toy" / "tables" / "claims.md"
    claims_md.write_text(claims_md.read_text().replace("reproduced", "reproduced!", 1))
    (results / "toy" / "tables" / "t1.csv").unlink()
    (results / "toy" / "figures" / "f1.svg").unlink()
    (results / "toy" / "tables" / "old.md").write_text("gone")
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace("| reproduced |", "| partly |", 1))
    status = main(["report", "--results", str(results), "--readme", str(readme), "--check"])
    err = capsys.readouterr().err
    assert status == 1
    assert f"{claims_md} (differs from what the records generate)" in err
    assert f"{results / 'toy' / 'tables' / 't1.csv'} (missing)" in err
    assert f"{results / 'toy' / 'figures' / 'f1.svg'} (missing)" in err
    assert f"{results / 'toy' / 'tables' / 'old.md'} (no record generates it)" in err
    assert f"{readme} (its generated sections differ" in err
    assert "t1.md" not in err  # untouched files are not named
    # A changed record makes its tables stale too.
    record = json.loads((results / "toy" / "record.json").read_text())
    record["results"]["claims"][0]["values"] = [20.0, 20.0, 20.0]
    records.atomic_write_json(results / "toy" / "record.json", record)
    stale = report.check(results, results)
    assert f"{results / 'toy' / 'tables' / 'claims.tex'} (differs from what the records generate)" in stale
    # Regenerating fixes everything (and removes the orphan).
    assert main(["report", "--results", str(results), "--readme", str(readme), "--no-figures"]) == 0
    assert report.check(results, results, readme) == [f"{results / 'toy' / 'figures' / 'f1.svg'} (missing)"]
    assert not (results / "toy" / "tables" / "old.md").exists()


def test_committed_results_are_up_to_date():
    results = REPO / "results"
    if not list(results.glob("*/record.json")):
        pytest.skip("no records committed under results/ yet (run `make reproduce-all`, commit results/)")
    # Every committed record was made from a clean commit with fresh units (the rules: fixtures below).
    stale = report.check(results, results, REPO / "README.md")
    assert not stale, ("committed tables or README sections are stale; run `prunebench report --results "
                       "results --out results` and commit:\n" + "\n".join(stale))


@pytest.mark.parametrize("change, expected", [
    ({"dirty": True}, "made from a dirty source tree (0123456789ab-dirty)"),
    ({"git_commit": COMMIT + "-dirty", "dirty": None}, "made from a dirty source tree (0123456789ab-dirty)"),
    ({"git_commit": "0123456789ab"}, "commit '0123456789ab' is not a full 40-hex hash"),
    ({"units": None}, "its units carry no provenance"),
    ({"units": [{"git_commit": "f" * 40, "dirty": False, "prunebench": "0.0.9", "units": 3, "stale": 3}]},
     "3 unit(s) were computed by other code or configuration (--reuse-stale)"),
    ({"units": [{"git_commit": COMMIT, "dirty": True, "prunebench": "0.1.0", "units": 3, "stale": 0}]},
     "3 unit(s) were computed from a dirty source tree"),
])
def test_check_fails_on_records_not_from_a_clean_commit(tmp_path, capsys, change, expected):
    record = toy_record(tables=[], figures=[], curves=[])
    for key, value in change.items():
        if value is None:
            record["provenance"].pop(key)
        else:
            record["provenance"][key] = value
    write_record(tmp_path / "results", record)
    (tmp_path / "README.md").write_text(README)
    args = ["report", "--results", str(tmp_path / "results"), "--readme", str(tmp_path / "README.md")]
    assert main(args) == 0
    section = (tmp_path / "README.md").read_text()
    assert "**Provenance**: " in section  # the mark is shown where the record is summarised
    if "dirty source tree (" in expected:
        assert "0123456789ab-dirty" in section
    assert main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'results' / 'toy' / 'record.json'}: {expected}" in err
    assert report.check(tmp_path / "results", tmp_path / "results", tmp_path / "README.md", provenance=False) == []
