"""Deprecated: ``prunebench bench-report`` lives in :mod:`prunebench.report` now. This module re-exports its
names from :mod:`prunebench.report.bench` (measuring), :mod:`prunebench.report.bench_tables` (ratios, targets,
Markdown), :mod:`prunebench.report.bench_figures` (figures) and :mod:`prunebench.report.bench_cli` (the
command); import them from there."""

import warnings

from .report.bench import (
    BACKENDS,
    CLOCKS,
    DEFAULT_MODELS,
    DENSE_LIMIT,
    DIAG_METHODS,
    HEAVY,
    HEAVY_ZOO,
    HUTCHINSON_PROBES,
    INVERSE_LIMIT,
    INVERSE_METHODS,
    RATE_SIZE,
    ZOO_METHODS,
    ZOO_MODELS,
    flop_count,
    measure,
    measure_rate,
    peak_memory,
    problem,
    run,
)
from .report.bench_cli import register_cli, write
from .report.bench_figures import COLORS, STYLES, plot, plot_zoo
from .report.bench_tables import (
    CNN_MODELS,
    MEMORY_FLOOR,
    MLP_MODELS,
    RATE_TARGET,
    TABLE_COLUMNS,
    TARGETS,
    ZOO_COLUMNS,
    ZOO_MEMORY_TARGET,
    ZOO_TARGETS,
    check_targets,
    markdown,
    rate_table,
    ratio_rows,
    ratio_table,
    targets_table,
    zoo_targets,
)

__all__ = ["BACKENDS", "CLOCKS", "CNN_MODELS", "COLORS", "DEFAULT_MODELS", "DENSE_LIMIT", "DIAG_METHODS", "HEAVY",
           "HEAVY_ZOO", "HUTCHINSON_PROBES", "INVERSE_LIMIT", "INVERSE_METHODS", "MEMORY_FLOOR", "MLP_MODELS",
           "RATE_SIZE", "RATE_TARGET", "STYLES", "TABLE_COLUMNS", "TARGETS", "ZOO_COLUMNS", "ZOO_MEMORY_TARGET",
           "ZOO_METHODS", "ZOO_MODELS", "ZOO_TARGETS", "check_targets", "flop_count", "markdown", "measure",
           "measure_rate", "peak_memory", "plot", "plot_zoo", "problem", "rate_table", "ratio_rows", "ratio_table",
           "register_cli", "run", "targets_table", "write", "zoo_targets"]

warnings.warn("prunebench.bench_report is deprecated; import from prunebench.report.bench (measuring), "
              "prunebench.report.bench_tables, prunebench.report.bench_figures or prunebench.report.bench_cli",
              DeprecationWarning, stacklevel=2)
