"""``prunebench bench-report``'s command line: the files a (tiny) run writes and its argument errors
(:mod:`prunebench.report.bench_cli`)."""

import json
import re

import pytest

from prunebench import records
from prunebench.cli import main
from prunebench.report import bench_tables


def test_tiny_run_writes_table_figure_and_record(tmp_path, capsys):
    out = tmp_path / "bench"
    status = main(["bench-report", "--out", str(out), "--models", "monk-17-3-1", "--batch", "8",
                   "--repeats", "1", "--min-time", "0", "--inverse-size", "160", "--quiet"])
    assert status == 0
    printed = capsys.readouterr().out
    header = "| " + " | ".join(bench_tables.TABLE_COLUMNS) + " |"
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
