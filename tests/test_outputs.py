"""Outputs are checked before any work: a file where a folder is expected (or the reverse), or an unwritable
place, is one line on stderr with exit status 2, no traceback, and nothing written."""

import os

import pytest

from prunebench.cli import main


def _one_line_error(capsys, expected: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert expected in err, err


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "taken"
    path.write_text("x")
    return path


@pytest.mark.parametrize("argv", [
    ["reproduce", "obs-xor", "--quick", "--out", "{file}"],
    ["leaderboard", "run", "--task", "xor", "--method", "random", "--out", "{file}"],
    ["leaderboard", "run", "--task", "xor", "--method", "random", "--out", "{tmp}/board", "--work", "{file}"],
    ["report", "--results", "{tmp}", "--out", "{file}"],
    ["bench-report", "--out", "{file}"],
])
def test_a_file_where_a_folder_is_expected(argv, a_file, tmp_path, capsys):
    argv = [a.format(file=a_file, tmp=tmp_path) for a in argv]
    before = sorted(tmp_path.rglob("*"))
    assert main(argv) == 2
    option = argv[argv.index(str(a_file)) - 1]
    _one_line_error(capsys, f"{option} {a_file} is a file; expected a folder (pass another {option})")
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("argv", [
    ["train", "--task", "xor", "--json", "{dir}"],
    ["check-saliency", "--task", "xor", "--method", "random", "--json", "{dir}"],
    ["check-saliency", "--task", "xor", "--method", "random", "--plot", "{dir}"],
    ["report", "--results", "{tmp}", "--readme", "{dir}"],
])
def test_a_folder_where_a_file_is_expected(argv, tmp_path, capsys):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    argv = [a.format(tmp=tmp_path, dir=folder) for a in argv]
    assert main(argv) == 2
    option = argv[argv.index(str(folder)) - 1]
    _one_line_error(capsys, f"{option} {folder} is a folder; expected a file path (pass another {option})")


def test_a_folder_under_a_file_cannot_be_made(a_file, capsys):
    assert main(["train", "--task", "xor", "--json", str(a_file / "t.json")]) == 2
    _one_line_error(capsys, f"--json {a_file / 't.json'}: {a_file} is a file, so no folder can be made there")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere, so an unwritable folder cannot be made")
def test_an_unwritable_folder_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["reproduce", "obs-xor", "--quick", "--out", str(locked / "xor")]) == 2
    _one_line_error(capsys, f"--out {locked / 'xor'}: {locked} is not writable (pass another --out)")
