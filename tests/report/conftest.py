"""The fixture of the report tests that write and check a results folder."""

import pytest

from prunebench.cli import main
from report_cases import README, toy_record, write_record


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """A results folder with two records, rendered once with figures, and a README with both sections."""
    root = tmp_path_factory.mktemp("report")
    write_record(root / "results", toy_record())
    write_record(root / "results", toy_record(kind="other", paper=["lecun1990obd", "thrun1991monks"], tables=[],
                                              figures=[], curves=[]))
    (root / "README.md").write_text(README)
    assert main(["report", "--results", str(root / "results"), "--readme", str(root / "README.md")]) == 0
    return root
