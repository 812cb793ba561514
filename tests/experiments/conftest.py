"""Fixtures of the experiment tests."""

import pytest

from prunebench import records
from prunebench.cli import main


@pytest.fixture
def reproduce_quick(tmp_path):
    """``reproduce_quick(name, *options)``: run ``prunebench reproduce NAME --quick`` into a fresh folder and
    return (its record, the folder)."""

    def run(name: str, *options: str):
        out = tmp_path / name
        assert main(["reproduce", name, "--quick", "--out", str(out), "--no-progress", *options]) == 0
        return records.read_record(out / "record.json"), out

    return run
