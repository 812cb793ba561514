"""``prunebench bench-report``: ratios, targets and tables (:mod:`prunebench.report.bench_tables`)."""

import pytest

from prunebench.report import bench_tables


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
    rows = {(r["model"], r["method"], r["backend"]): r for r in bench_tables.ratio_rows(ROWS)}
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
    targets = bench_tables.check_targets(ROWS, rate)
    by = {(t["target"], t["model"]): t for t in targets}
    assert by["lecun-lm <= 1.5x a gradient", "m"]["met"]  # 1.2x
    assert not by["ggn <= 3x a gradient", "m"]["met"]  # 4x
    # "m" is neither an MLP nor the CNN of the exact-diagonal targets.
    assert not any(t["target"].startswith("exact diagonal") for t in targets)
    assert targets[-1]["met"] and targets[-1]["value"] == pytest.approx(0.6)


def test_ratio_table_has_the_documented_columns():
    lines = bench_tables.ratio_table(ROWS).splitlines()
    assert lines[0] == "| " + " | ".join(bench_tables.TABLE_COLUMNS) + " |"
    assert lines[3] == "| m | 100 | exact | native | 2.000 | 2.00 | 0.25 | 4.00 | 2.00 | 0.25 |"
    assert "| m | 100 | inverse cholesky | native | 50.000 | 50.00 | - | 8.00 | 4.00 | - |" in lines


def test_zoo_targets_split_mlps_and_cnns_and_say_why_a_target_is_missed():
    zoo = [
        _row("mlp-64-32-10", "gradient", "gradient", "autograd", 1e-3, 2 * MiB) | {"flops": 100},
        _row("mlp-64-32-10", "diag", "exact", "native", 3e-3, 4 * MiB) | {"flops": 150},
        _row("mlp-64-32-10", "diag", "lecun", "native", 1.4e-3, 8 * MiB) | {"flops": 110},
        _row("lenet1990", "gradient", "gradient", "autograd", 1e-3, 2 * MiB) | {"flops": 100},
        _row("lenet1990", "diag", "exact", "native", 9e-3, 4 * MiB) | {"flops": 1200},
        _row("lenet1990", "diag", "ggn", "native", 4e-3, 4 * MiB) | {"flops": 250},
    ]
    by = {(t["target"], t["model"]): t for t in bench_tables.zoo_targets(zoo)}
    assert not by["exact diagonal <= 2x a gradient on the MLPs", "mlp-64-32-10"]["met"]  # 3x
    assert by["exact diagonal <= 10x a gradient on the CNNs", "lenet1990"]["met"]  # 9x
    assert not by["ggn <= 3x a gradient on the CNNs", "lenet1990"]["met"]  # 4x
    assert by["lecun <= 1.5x a gradient", "mlp-64-32-10"]["met"]
    assert not by["lecun: peak memory <= 3x a gradient's", "mlp-64-32-10"]["met"]  # 4x
    assert ("exact diagonal <= 2x a gradient on the MLPs", "lenet1990") not in by
    table = bench_tables.ratio_table(zoo, zoo=True).splitlines()
    assert table[0] == "| " + " | ".join(bench_tables.ZOO_COLUMNS) + " |"
    exact_mlp = next(line for line in table if line.startswith("| mlp-64-32-10 | 100 | exact |"))
    assert exact_mlp.endswith("| 1.50 | 1.50x over 2x (1.5x the gradient's FLOPs, less: the rest is memory traffic "
                              "and small kernels) |")
    ggn_cnn = next(line for line in table if line.startswith("| lenet1990 | 100 | ggn |"))
    assert "1.33x over 3x (2.5x the gradient's FLOPs, less: the rest is" in ggn_cnn
    exact_cnn = bench_tables.ratio_table(zoo[:3] + [zoo[3], zoo[4] | {"seconds": 2e-2}], zoo=True)
    assert "2.00x over 10x (12.0x the gradient's FLOPs, more arithmetic than the target allows at the " \
           "gradient's rate)" in exact_cnn
    lecun = next(line for line in table if line.startswith("| mlp-64-32-10 | 100 | lecun |"))
    assert lecun.endswith("| memory 1.33x over its 3x |")
    ggn_mlp = _row("mlp-64-32-10", "diag", "ggn", "native", 2e-3, 10 * MiB) | {"flops": 150,
                                                                            "column_bytes": 7 * MiB}
    table = bench_tables.ratio_table([*zoo, ggn_mlp], zoo=True)
    assert "memory 1.67x over its 3x (the factor columns alone 3.5x the gradient's peak, more than the target " \
           "allows)" in table
    table = bench_tables.ratio_table([*zoo, ggn_mlp | {"column_bytes": 2 * MiB}], zoo=True)
    assert "(the factor columns alone 1.0x the gradient's peak, the rest is the forward trace and " \
           "temporaries)" in table
