"""``prunebench.bench_report``: the old home of ``prunebench bench-report``, now a deprecated re-export."""

import importlib
import sys

import pytest

from prunebench.report import bench, bench_cli, bench_figures, bench_tables


def test_old_module_warns_and_reexports_the_new_names(monkeypatch):
    monkeypatch.delitem(sys.modules, "prunebench.bench_report", raising=False)
    with pytest.warns(DeprecationWarning, match=r"prunebench.bench_report is deprecated; import from "
                                                r"prunebench.report.bench"):
        old = importlib.import_module("prunebench.bench_report")
    new = {name: getattr(module, name) for module in (bench, bench_tables, bench_figures, bench_cli)
           for name in module.__all__}
    assert set(old.__all__) == set(new)
    assert all(getattr(old, name) is value for name, value in new.items())
