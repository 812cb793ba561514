"""``benchmarks/planted_slowdown.py``: the planted 2x slowdown and the reading of asv's verdict.

The end-to-end run (two asv builds and benchmark runs, a few minutes) is opt-in: PRUNEBENCH_RUN_ASV=1.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "planted_slowdown.py"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


planted = _load("planted_slowdown", SCRIPT)


def test_plant_makes_the_exact_diagonal_run_twice_and_leaves_its_values(monkeypatch, tmp_path):
    import prunebench.curvature.diagonal as diagonal

    source = Path(diagonal.__file__).read_text()
    copy = tmp_path / "planted_diagonal.py"
    copy.write_text(planted.plant(source))
    # Load the planted source as a module of the same package, so its relative imports resolve.
    spec = importlib.util.spec_from_file_location("prunebench.curvature._planted_diagonal", copy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls = []
    original = module._unplanted_native
    monkeypatch.setattr(module, "_unplanted_native", lambda *a: calls.append(a[5]) or original(*a))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    slow = module.hessian_diag(net, nn.MSELoss(), X, y, method="exact")
    fast = diagonal.hessian_diag(net, nn.MSELoss(), X, y, method="exact")
    module.hessian_diag(net, nn.MSELoss(), X, y, method="ggn")
    assert calls == ["exact", "exact", "ggn"]
    assert all(torch.equal(slow[k], fast[k]) for k in fast)


def test_plant_refuses_a_source_without_the_entry_point():
    with pytest.raises(ValueError, match=r"has no `def _native\(model, params, loss_fn, inputs, targets, "
                                         r"method, \.\.\.\)` to wrap; update PLANT"):
        planted.plant("def hessian_diag():\n    pass\n")


REGRESSED = """\
| Change   | Before [584c5e6e] <main>   | After [1a2b3c4d] <planted>   |   Ratio | Benchmark (Parameter)
|----------|----------------------------|------------------------------|---------|----------------------
| +        | 1.02+-0.01ms               | 2.05+-0.02ms                 |    2.01 | curvature.HessianDiag\
onal.time_hessian_diag('exact', 'native', 'mlp-256-128-64-10', 'cpu', 'float32', 128)

SOME BENCHMARKS HAVE CHANGED SIGNIFICANTLY.
PERFORMANCE DECREASED.
"""


def test_flagged_reads_asv_continuous_output():
    assert planted.flagged(REGRESSED)
    assert not planted.flagged(REGRESSED.replace("| +  ", "| -  ").replace("DECREASED", "INCREASED"))
    assert not planted.flagged("BENCHMARKS NOT SIGNIFICANTLY CHANGED.\n")


def test_sample_summary_reads_asv_result_files(tmp_path):
    import json

    columns = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a", "stats_ci_99_b",
               "stats_q_25", "stats_q_75", "stats_number", "stats_repeat", "samples", "profile"]
    runs = (("aaaaaaaa11", [1.0e-3, 9.0e-3, 1.1e-3]), ("bbbbbbbb22", [2.0e-3, 9.5e-3, 2.2e-3]))
    for commit, samples in runs:
        # one benchmark, two parameter combinations: the first skipped (None), the second measured
        row = [[None, sorted(samples)[1]], [["'a'", "'b'"]], "v", 0, 1, *[None] * 6, [None, samples]]
        result = {"commit_hash": commit, "result_columns": columns,
                  "results": {"curvature.HessianDiagonal.time_hessian_diag": row}}
        (tmp_path / "vm").mkdir(exist_ok=True)
        (tmp_path / "vm" / f"{commit[:8]}-env.json").write_text(json.dumps(result))
    (tmp_path / "vm" / "machine.json").write_text("{}")
    summary = planted.sample_summary(tmp_path)
    assert summary["aaaaaaaa"] == {"value": 1.1e-3, "fastest": 1.0e-3, "samples": 3}
    assert summary["bbbbbbbb"]["fastest"] / summary["aaaaaaaa"]["fastest"] == pytest.approx(2.0)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("PRUNEBENCH_RUN_ASV") != "1",
                    reason="end-to-end asv run takes minutes: set PRUNEBENCH_RUN_ASV=1 (needs asv and git)")
def test_asv_continuous_flags_the_planted_slowdown():
    done = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "PERFORMANCE DECREASED." in done.stdout
