"""``prunebench report``'s command line (:mod:`prunebench.report.cli`)."""

from prunebench.cli import main


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path / "absent")]) == 2
    assert "error: results folder not found:" in capsys.readouterr().err
    assert main(["report", "--results", str(tmp_path), "--no-readme"]) == 2
    assert f"error: no records under {tmp_path}" in capsys.readouterr().err
