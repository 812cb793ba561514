"""The format of a leaderboard entry: one JSON file ``entries/<task>/<entry>.json`` per (task, entry) following
``prunebench/schemas/leaderboard-entry.schema.json`` (:data:`SCHEMA`): the method and its parameters, per-seed
numbers, their :func:`aggregate` (median and 95% bootstrap CI) and provenance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import records
from .._validation import task_name

__all__ = ["METRICS", "SCHEMA", "LeaderboardError", "aggregate", "load_entries", "read_entry", "validate_entry"]

SCHEMA = "prunebench.leaderboard-entry/1"

METRICS = ("test_accuracy", "test_loss", "train_accuracy", "train_loss")


class LeaderboardError(ValueError):
    """An entry that is missing, unreadable, fails its schema, or contradicts itself."""


def _stat(values: Sequence[float]) -> dict[str, Any]:
    from ..stats import bootstrap_ci

    median, low, high = bootstrap_ci(list(values))
    return {"median": median, "low": low, "high": high, "n": len(values)}


def aggregate(per_seed: Sequence[Mapping]) -> dict[str, Any]:
    """Median and 95% bootstrap CI over seeds (:func:`prunebench.stats.bootstrap_ci`, seeded) of every number of
    ``per_seed`` (the entry's list of per-seed results)."""
    def over(get) -> dict[str, Any]:
        return _stat([get(row) for row in per_seed])

    sparsities = [r["sparsity"] for r in per_seed[0]["one_shot"]]
    out: dict[str, Any] = {"dense": {m: over(lambda r, m=m: r["dense"][m]) for m in METRICS}}
    for regime in ("one_shot", "retrained"):
        out[regime] = [{"sparsity": s, **{m: over(lambda r, i=i, m=m, g=regime: r[g][i][m]) for m in METRICS}}
                       for i, s in enumerate(sparsities)]
    out["auc"] = {g: over(lambda r, g=g: r["auc"][g]) for g in ("one_shot", "retrained")}
    peaks = [r["cost"]["saliency_peak_mib"] for r in per_seed]
    out["cost"] = {"saliency_time_s": over(lambda r: r["cost"]["saliency_time_s"]),
                   "saliency_peak_mib": None if any(p is None for p in peaks) else _stat(peaks),
                   "prune_time_s": over(lambda r: r["one_shot"][-1]["seconds"])}
    return out


def validate_entry(entry: Any, source: str = "entry") -> None:
    """Raise :class:`LeaderboardError` naming the first place where ``entry`` does not follow the schema."""
    records.validate_json(entry, "leaderboard-entry.schema.json", SCHEMA, source, LeaderboardError,
                          "Regenerate it with `prunebench leaderboard run` (the command is in its provenance)")


def read_entry(path: str | Path) -> dict:
    """Load one entry file and validate it, including that its path is ``<task>/<entry>.json``."""
    path = Path(path)
    try:
        entry = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LeaderboardError(f"{path} is not valid JSON ({exc}); regenerate it with `prunebench leaderboard "
                               "run`") from None
    validate_entry(entry, str(path))
    entry["task"] = task_name(entry["task"], warn=False)  # an entry made before its task was renamed
    if (path.parent.name, path.stem) != (entry["task"], entry["entry"]):
        raise LeaderboardError(f"{path} holds task {entry['task']!r}, entry {entry['entry']!r}; it must be named "
                               f"entries/{entry['task']}/{entry['entry']}.json")
    return entry


def load_entries(directory: str | Path) -> list[dict]:
    """Every entry under ``<directory>/entries``, validated, sorted by (task, entry)."""
    base = Path(directory) / "entries"
    return [read_entry(p) for p in sorted(base.glob("*/*.json"))]
