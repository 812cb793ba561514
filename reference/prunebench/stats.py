"""Verdict rules: how a claim of a paper is decided from our values over seeds (pure Python, no torch).

A claim's ``rule`` says what a value must satisfy (``>=``, ``<=``, ``>``, ``<`` a threshold, or within a target
plus or minus a tolerance). Which *verdict rule* applies depends on what the paper reports:

- ``"population"`` (the default): the paper states something about the method in general ("OBS removes more
  weights than OBD"), so our estimate over seeds (the median, or the mean) must satisfy the rule, and with
  its 95% bootstrap confidence interval: *reproduced* when the whole interval satisfies it, *partly* when
  only the estimate does, *not reproduced* otherwise (:func:`ci_verdict`).
- ``"single-network"``: the paper reports the value of ONE trained network (Hassibi & Stork's MONK weight
  counts, NETtalk's 1,560 weights). A median over seeds answers a different question; the question here is
  whether the paper's network is within what our seeds produce. The distribution-free prediction interval
  for one more seed is ``[min, max]`` of our ``n`` values (it covers a new draw with probability
  ``(n - 1) / (n + 1)``: 82% for 10 seeds; :func:`prediction_interval`). *reproduced* when some seed is at
  least as good as the paper's network (the rule holds for it: the paper's value is inside the interval or
  beyond it on the claim's side), *not reproduced* when none is (the paper's value lies beyond our best
  seed). The fraction of seeds at least as good is printed beside the verdict (:func:`single_network`).

The interval behind the population rule is the percentile bootstrap of :func:`bootstrap_ci` (scipy, seeded).
Imports no torch; scipy only when an interval is computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CI_LEVEL", "OPS", "RESAMPLES", "STATISTICS", "VERDICT_RULES", "VERDICTS", "SingleNetwork",
           "bootstrap_ci", "check_rule", "ci_verdict", "prediction_interval", "satisfies", "single_network",
           "verdict_rule"]

CI_LEVEL = 0.95
RESAMPLES = 10_000
STATISTICS = ("median", "mean")
VERDICTS = ("reproduced", "partly", "not reproduced")
VERDICT_RULES = ("population", "single-network")
OPS = (">=", "<=", ">", "<", "within")


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
    """A copy of ``rule`` after checking its shape; a clear error otherwise."""
    if not isinstance(rule, Mapping) or rule.get("op") not in OPS:
        raise ValueError(f"{where} must be {{'op': '>=' | '<=' | '>' | '<', 'threshold': x}} or "
                         f"{{'op': 'within', 'target': x, 'tolerance': t}}; got {rule!r}")
    keys = ("target", "tolerance") if rule["op"] == "within" else ("threshold",)
    for key in keys:
        if isinstance(rule.get(key), bool) or not isinstance(rule.get(key), (int, float)):
            raise ValueError(f"{where} with op {rule['op']!r} needs a number {key!r}; got {rule!r}")
    if rule["op"] == "within" and rule["tolerance"] < 0:
        raise ValueError(f"{where} needs a non-negative tolerance; got {rule['tolerance']!r}")
    return dict(rule)


def verdict_rule(claim: Mapping, where: str = "claim") -> str:
    """The claim's ``verdict_rule`` (default ``"population"``), checked."""
    name = claim.get("verdict_rule", "population")
    if name not in VERDICT_RULES:
        raise ValueError(f"{where} verdict_rule must be one of {VERDICT_RULES}; got {name!r}")
    return name


def satisfies(rule: Mapping, value: float) -> bool:
    """Whether ``value`` meets ``rule``: ``>=``, ``<=``, ``>`` or ``<`` a threshold, or within a target
    plus or minus a tolerance."""
    rule = check_rule(rule)
    op = rule["op"]
    if op == "within":
        return abs(value - rule["target"]) <= rule["tolerance"]
    t = rule["threshold"]
    return {">=": value >= t, "<=": value <= t, ">": value > t, "<": value < t}[op]


def ci_verdict(rule: Mapping, estimate: float, low: float, high: float) -> str:
    """The population rule: ``"reproduced"`` when all of ``[low, high]`` meets ``rule``, ``"partly"`` when
    only ``estimate`` does, ``"not reproduced"`` otherwise. Every rule accepts an interval of values, so
    checking both ends suffices."""
    if not low <= estimate <= high:
        raise ValueError(f"the interval must contain the estimate: low <= estimate <= high; got {low}, "
                         f"{estimate}, {high}")
    if satisfies(rule, low) and satisfies(rule, high):
        return "reproduced"
    if satisfies(rule, estimate):
        return "partly"
    return "not reproduced"


def prediction_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """``(low, high, level)``: the distribution-free prediction interval ``[min, max]`` for one more seed
    and its coverage ``(n - 1) / (n + 1)`` (0 for one value: one seed predicts nothing)."""
    if not values:
        raise ValueError("values must be a non-empty list of numbers (one per seed); got []")
    n = len(values)
    return float(min(values)), float(max(values)), (n - 1) / (n + 1)


@dataclass(frozen=True)
class SingleNetwork:
    """The single-network rule's result: the prediction interval, how many of the ``n`` seeds are at least as
    good as the paper's network (``as_good``), and the verdict."""

    low: float
    high: float
    level: float
    as_good: int
    n: int
    verdict: str


def single_network(rule: Mapping, values: Sequence[float]) -> SingleNetwork:
    """The single-network rule (module docstring): *reproduced* when at least one seed satisfies ``rule``
    (whose threshold, or target, is the paper's value), *not reproduced* otherwise."""
    low, high, level = prediction_interval(values)
    as_good = sum(satisfies(rule, v) for v in values)
    return SingleNetwork(low, high, level, as_good, len(values),
                         "reproduced" if as_good else "not reproduced")
