"""The leaderboard: a fixed protocol, one JSON entry per (task, method), a renderer and a checker.

``prunebench leaderboard run`` prunes the shared dense model of every (task, seed) with a method, one-shot and then
with a fixed retraining budget, at the protocol's sparsities, and writes ``leaderboard/entries/<task>/<entry>.json``
(schema ``prunebench/schemas/leaderboard-entry.schema.json``): the method and its parameters, per-seed numbers,
their median and 95% bootstrap CI, and provenance. ``render`` turns the entries into ``leaderboard/LEADERBOARD.md``,
the README block and the figures; ``check`` validates every entry, recomputes its aggregates, checks the rendering
is not stale and re-runs a cheap subset, failing when a stored number is not reproduced (see :data:`TOLERANCE`).

One module per job: :mod:`~prunebench.leaderboard.protocol` (tasks, sparsities, seeds, tolerances, presets),
:mod:`~prunebench.leaderboard.schema` (the entry format), :mod:`~prunebench.leaderboard.runner` (running entries),
:mod:`~prunebench.leaderboard.renderer` (the page, README block and figures), :mod:`~prunebench.leaderboard.checker`
and :mod:`~prunebench.leaderboard.cli`. Rendering imports no torch (entries are plain JSON); running and
re-running do.
"""

from .checker import check
from .cli import register_cli
from .protocol import (
    CHEAP_TASKS,
    CHECK_SPARSITY,
    MEMORY_MEASURE,
    PRESETS,
    PROTOCOL,
    PUBLISHED,
    PUBLISHED_MODEL_TASKS,
    RETRAIN,
    SEEDS,
    SPARSITIES,
    TASKS,
    THREADS,
    TOLERANCE,
    auc,
    resolve_methods,
)
from .renderer import README_BEGIN, README_END, figures, markdown, readme_block, render
from .runner import conformance, run, run_seed
from .schema import SCHEMA, LeaderboardError, aggregate, load_entries, read_entry, validate_entry

__all__ = ["CHEAP_TASKS", "CHECK_SPARSITY", "MEMORY_MEASURE", "PRESETS", "PROTOCOL", "PUBLISHED",
           "PUBLISHED_MODEL_TASKS", "README_BEGIN", "README_END", "RETRAIN", "SCHEMA", "SEEDS", "SPARSITIES", "TASKS",
           "THREADS", "TOLERANCE", "LeaderboardError", "aggregate", "auc", "check", "conformance", "figures",
           "load_entries", "markdown", "read_entry", "readme_block", "register_cli", "render", "resolve_methods", "run",
           "run_seed", "validate_entry"]
