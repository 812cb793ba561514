"""Reading and checking the records a report is made from (:mod:`prunebench.report.load`)."""

import copy

import pytest

from prunebench import records, report
from report_cases import PROVENANCE, toy_record, write_record


def test_table_with_ragged_rows_is_refused(tmp_path):
    record = toy_record(tables=[{"id": "t", "columns": ["a", "b"], "rows": [[1, 2], [3]]}])
    write_record(tmp_path, record)
    with pytest.raises(ValueError, match=r"toy: tables\[0\] \(t\): every row needs 2 cells, one per column; "
                                         r"rows \[1\] differ"):
        report.load_records(tmp_path)


def test_unknown_paper_key_is_refused(tmp_path):
    write_record(tmp_path, toy_record(paper="nobody2024"))
    with pytest.raises(ValueError, match=r"record toy cites \['nobody2024'\], not in prunebench.report.BIB"):
        report.load_records(tmp_path)


def test_records_without_report_content_are_skipped(tmp_path):
    write_record(tmp_path, records.make_record("train", {}, {"fit": {}}, copy.deepcopy(PROVENANCE)))
    assert report.load_records(tmp_path) == []
