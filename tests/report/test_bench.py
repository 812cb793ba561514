"""``prunebench bench-report``: ratios, targets and the files a (tiny) run writes."""

import json
import re

import pytest

from prunebench import bench_report, records
from prunebench.cli import main


def _row(model, kind, method, backend, seconds, peak, P=100):
    return {"model": model, "P": P, "kind": kind, "method": method, "backend": backend, "seconds": seconds,
            "calls": 5, "peak_bytes": peak}


MiB = 2**20
ROWS = [
    _row("m", "gradient", "gradient", "autograd", 1e-3, 2 * MiB),
    _row("m", "diag", "exact", "native", 2e-3, 4 * MiB),
    _row("m", "diag", "exact", "backpack", 8e-3, 16 * MiB),
    _row("m", "diag", "lecun-lm", "native", 1.2e-3, 2 * MiB),
    _row("m", "diag", "ggn", "native", 4e-3, None),
    _row("m", "inverse", "cholesky", "native", 5e-2, 8 * MiB),
    _row("tiny", "gradient", "gradient", "autograd", 1e-4, 4096),
    _row("tiny", "diag", "exact", "native", 5e-4, 8192),
]


def test_ratio_rows_divide_by_the_same_models_gradient_and_backpack():
    rows = {(r["model"], r["method"], r["backend"]): r for r in bench_report.ratio_rows(ROWS)}
    exact = rows["m", "exact", "native"]
    assert exact["time_x_gradient"] == pytest.approx(2.0)
    assert exact["time_x_backpack"] == pytest.approx(0.25)
    assert exact["mem_x_gradient"] == pytest.approx(2.0)
    assert exact["mem_x_backpack"] == pytest.approx(0.25)
    assert rows["m", "gradient", "autograd"]["time_x_gradient"] == pytest.approx(1.0)
    # No BackPACK counterpart for OBD's approximation nor for inverses; unmeasured memory stays None.
    assert rows["m", "lecun-lm", "native"]["time_x_backpack"] is None
    assert rows["m", "cholesky", "native"]["time_x_backpack"] is None
    assert rows["m", "ggn", "native"]["mem_x_gradient"] is None
    # A gradient peak of one page is below the CPU measurement's resolution: no memory ratio.
    assert rows["tiny", "exact", "native"]["mem_x_gradient"] is None
    assert rows["tiny", "exact", "native"]["time_x_gradient"] == pytest.approx(5.0)


def test_default_targets():
    rate = {"P": 8000, "inverse_fraction": 0.6}
    targets = bench_report.check_targets(ROWS, rate)
    by = {(t["target"], t["model"]): t for t in targets}
    assert by["lecun-lm <= 1.5x a gradient", "m"]["met"]  # 1.2x
    assert not by["ggn <= 3x a gradient", "m"]["met"]  # 4x
    # "m" is neither an MLP nor the CNN of the exact-diagonal targets.
    assert not any(t["target"].startswith("exact diagonal") for t in targets)
    assert targets[-1]["met"] and targets[-1]["value"] == pytest.approx(0.6)


def test_ratio_table_has_the_documented_columns():
    lines = bench_report.ratio_table(ROWS).splitlines()
    assert lines[0] == "| " + " | ".join(bench_report.TABLE_COLUMNS) + " |"
    assert lines[3] == "| m | 100 | exact | native | 2.000 | 2.00 | 0.25 | 4.00 | 2.00 | 0.25 |"
    assert "| m | 100 | inverse cholesky | native | 50.000 | 50.00 | - | 8.00 | 4.00 | - |" in lines


def test_tiny_run_writes_table_figure_and_record(tmp_path, capsys):
    out = tmp_path / "bench"
    status = main(["bench-report", "--out", str(out), "--models", "monk-17-3-1", "--batch", "8",
                   "--repeats", "1", "--min-time", "0", "--inverse-size", "160", "--quiet"])
    assert status == 0
    printed = capsys.readouterr().out
    header = "| " + " | ".join(bench_report.TABLE_COLUMNS) + " |"
    assert header in printed
    table = [line.split(" | ") for line in printed.splitlines() if line.startswith("| monk-17-3-1 |")]
    cases = {(cells[2], cells[3]) for cells in table}
    for case in [("gradient", "autograd"), ("exact", "native"), ("lecun-lm", "native"), ("ggn", "native"),
                 ("exact", "backpack"), ("exact", "curvlinops"), ("exact", "torchfunc"),
                 ("inverse cholesky", "native")]:
        assert case in cases, f"no row for {case} in:\n{printed}"
    gradient = next(cells for cells in table if cells[2] == "gradient")
    assert gradient[5] == "1.00"
    exact_native = next(cells for cells in table if cells[2:4] == ["exact", "native"])
    assert float(exact_native[6]) > 0  # a ratio to BackPACK's DiagHessian
    assert "## Targets" in printed and "| inverse of a P = 160 curvature" in printed
    for name in ("bench-report.md", "bench-report.json", "bench-cost.png", "bench-cost.svg"):
        assert (out / name).stat().st_size > 0, name
    record = records.read_record(out / "bench-report.json")
    assert record["kind"] == "bench-report"
    assert record["provenance"]["threads"] == 1
    assert record["config"]["models"] == ["monk-17-3-1"]
    assert record["results"]["rate"]["P"] == 160
    assert json.loads((out / "bench-report.json").read_text())["results"]["rows"][0]["method"] == "gradient"


@pytest.mark.parametrize(("argv", "message"), [
    (["--models", "no-such-net"], r"models must be names from `prunebench models`; got \['no-such-net'\]"),
    (["--dtype", "float16"], r"--dtype must be float32 or float64; got 'float16'"),
    (["--threads", "0"], r"--threads must be a positive integer; got 0"),
    (["--clock", "gpu"], r"--clock must be one of \['cpu', 'wall'\]; got 'gpu'"),
    # without a GPU the CLI refuses --device cuda first; with one, bench-report refuses CPU time for GPU work
    (["--clock", "cpu", "--device", "cuda"], r"needs a CUDA GPU|--clock cpu measures CPU time"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    assert main(["bench-report", "--out", str(tmp_path), "--quiet", *argv]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_zoo_targets_split_mlps_and_cnns_and_say_why_a_target_is_missed():
    zoo = [
        _row("mlp-64-32-10", "gradient", "gradient", "autograd", 1e-3, 2 * MiB) | {"flops": 100},
        _row("mlp-64-32-10", "diag", "exact", "native", 3e-3, 4 * MiB) | {"flops": 150},
        _row("mlp-64-32-10", "diag", "lecun", "native", 1.4e-3, 8 * MiB) | {"flops": 110},
        _row("lenet1990", "gradient", "gradient", "autograd", 1e-3, 2 * MiB) | {"flops": 100},
        _row("lenet1990", "diag", "exact", "native", 9e-3, 4 * MiB) | {"flops": 1200},
        _row("lenet1990", "diag", "ggn", "native", 4e-3, 4 * MiB) | {"flops": 250},
    ]
    by = {(t["target"], t["model"]): t for t in bench_report.zoo_targets(zoo)}
    assert not by["exact diagonal <= 2x a gradient on the MLPs", "mlp-64-32-10"]["met"]  # 3x
    assert by["exact diagonal <= 10x a gradient on the CNNs", "lenet1990"]["met"]  # 9x
    assert not by["ggn <= 3x a gradient on the CNNs", "lenet1990"]["met"]  # 4x
    assert by["lecun <= 1.5x a gradient", "mlp-64-32-10"]["met"]
    assert not by["lecun: peak memory <= 3x a gradient's", "mlp-64-32-10"]["met"]  # 4x
    assert ("exact diagonal <= 2x a gradient on the MLPs", "lenet1990") not in by
    table = bench_report.ratio_table(zoo, zoo=True).splitlines()
    assert table[0] == "| " + " | ".join(bench_report.ZOO_COLUMNS) + " |"
    exact_mlp = next(line for line in table if line.startswith("| mlp-64-32-10 | 100 | exact |"))
    assert exact_mlp.endswith("| 1.50 | 1.50x over 2x (1.5x the gradient's FLOPs, less: the rest is memory traffic "
                              "and small kernels) |")
    ggn_cnn = next(line for line in table if line.startswith("| lenet1990 | 100 | ggn |"))
    assert "1.33x over 3x (2.5x the gradient's FLOPs, less: the rest is" in ggn_cnn
    exact_cnn = bench_report.ratio_table(zoo[:3] + [zoo[3], zoo[4] | {"seconds": 2e-2}], zoo=True)
    assert "2.00x over 10x (12.0x the gradient's FLOPs, more arithmetic than the target allows at the " \
           "gradient's rate)" in exact_cnn
    lecun = next(line for line in table if line.startswith("| mlp-64-32-10 | 100 | lecun |"))
    assert lecun.endswith("| memory 1.33x over its 3x |")


def test_the_asv_suite_times_the_same_zoo():
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).parents[1] / "benchmarks" / "common.py").read_text())
    assigned = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                    and any(getattr(t, "id", None) == "ZOO_MODELS" for t in node.targets))
    assert tuple(ast.literal_eval(assigned)) == bench_report.ZOO_MODELS


def test_tiny_zoo_run_counts_flops(tmp_path, capsys):
    out = tmp_path / "zoo"
    status = main(["bench-report", "--zoo", "--out", str(out), "--models", "mlp-64-32-10", "cnn-dilated",
                   "--batch", "4", "--repeats", "1", "--min-time", "0", "--no-peers", "--quiet"])
    assert status == 0
    record = records.read_record(out / "bench-report.json")
    assert record["config"]["zoo"] and record["config"]["loss"] == "ce" and record["config"]["batch"] == 4
    rows = record["results"]["rows"]
    assert {r["method"] for r in rows if r["kind"] == "diag"} == set(bench_report.ZOO_METHODS)
    assert all(r["flops"] > 0 for r in rows)
    assert any(t["target"] == "ggn <= 3x a gradient on the CNNs" for t in record["results"]["targets"])
    assert "Machine load" in (out / "bench-report.md").read_text()
    for name in ("bench-zoo.png", "bench-zoo.svg", "bench-cost.png"):
        assert (out / name).stat().st_size > 0, name
