"""Statistics of results over seeds: the percentile-bootstrap confidence interval and the verdict rules of claims.

Imports no torch; scipy only when an interval is computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["CI_LEVEL", "RESAMPLES", "STATISTICS", "VERDICTS", "bootstrap_ci", "check_rule", "satisfies", "verdict"]

CI_LEVEL = 0.95
RESAMPLES = 10_000
STATISTICS = ("median", "mean")
VERDICTS = ("reproduced", "partly", "not reproduced")
_OPS = (">=", "<=", ">", "<", "within")


def bootstrap_ci(values: Sequence[float], *, statistic: str = "median", level: float = CI_LEVEL,
                 resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """``(estimate, low, high)``: the median (or mean) of ``values`` (one per seed) and its
    percentile-bootstrap interval (:func:`scipy.stats.bootstrap`, ``method="percentile"``).

    ``resamples`` resamples drawn by ``numpy.random.default_rng(seed)``; the interval is the ``(1 - level) / 2``
    and ``(1 + level) / 2`` percentiles of the resampled statistic, widened to contain the estimate if it does
    not. One value gives ``(v, v, v)``. Deterministic: the same values give the same three floats on every run.
    """
    from scipy import stats

    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}; got {statistic!r}")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"values must be a non-empty list of numbers (one per seed); got {list(values)!r}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"values must be finite numbers; got {x.tolist()!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be a float in (0, 1); got {level!r}")
    reduce = np.median if statistic == "median" else np.mean
    estimate = float(reduce(x))
    if x.size == 1:
        return estimate, estimate, estimate
    ci = stats.bootstrap((x,), reduce, n_resamples=resamples, confidence_level=level, method="percentile",
                         vectorized=True, rng=np.random.default_rng(seed)).confidence_interval
    # A percentile interval can miss the point estimate in skewed cases; widen it to contain the estimate.
    return estimate, min(float(ci.low), estimate), max(float(ci.high), estimate)


def check_rule(rule: Any, where: str = "rule") -> dict:
    """``rule`` as a dict, after checking it is ``{'op': '>=' | '<=' | '>' | '<', 'threshold': x}`` or
    ``{'op': 'within', 'target': x, 'tolerance': t}``; a ValueError naming ``where`` otherwise."""
    if not isinstance(rule, Mapping) or rule.get("op") not in _OPS:
        raise ValueError(f"{where} must be {{'op': '>=' | '<=' | '>' | '<', 'threshold': x}} or "
                         f"{{'op': 'within', 'target': x, 'tolerance': t}}; got {rule!r}")
    keys = ("target", "tolerance") if rule["op"] == "within" else ("threshold",)
    for key in keys:
        if isinstance(rule.get(key), bool) or not isinstance(rule.get(key), (int, float)):
            raise ValueError(f"{where} with op {rule['op']!r} needs a number {key!r}; got {rule!r}")
    if rule["op"] == "within" and rule["tolerance"] < 0:
        raise ValueError(f"{where} needs a non-negative tolerance; got {rule['tolerance']!r}")
    return dict(rule)


def satisfies(rule: Mapping, value: float) -> bool:
    """Whether ``value`` meets ``rule``: ``>=``, ``<=``, ``>`` or ``<`` a threshold, or within a target
    plus or minus a tolerance."""
    rule = check_rule(rule)
    op = rule["op"]
    if op == "within":
        return abs(value - rule["target"]) <= rule["tolerance"]
    t = rule["threshold"]
    return {">=": value >= t, "<=": value <= t, ">": value > t, "<": value < t}[op]


def verdict(rule: Mapping, estimate: float, low: float, high: float) -> str:
    """``"reproduced"`` when all of ``[low, high]`` meets ``rule``, ``"partly"`` when only ``estimate``
    does, ``"not reproduced"`` otherwise. Every rule accepts an interval of values, so checking both ends
    suffices."""
    if not low <= estimate <= high:
        raise ValueError(f"the interval must contain the estimate: low <= estimate <= high; got {low}, "
                         f"{estimate}, {high}")
    if satisfies(rule, low) and satisfies(rule, high):
        return "reproduced"
    if satisfies(rule, estimate):
        return "partly"
    return "not reproduced"
