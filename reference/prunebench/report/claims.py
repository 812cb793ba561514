"""A record's claims decided: the estimate over seeds with its 95% bootstrap CI and the verdict of the claim's
rule (:mod:`prunebench.stats`), and the text that shows them in tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import stats
from ..stats import VERDICTS, bootstrap_ci, check_rule
from .formatting import _csv_value, _fmt, _with_unit

__all__ = ["ClaimResult", "evaluate_claims"]


@dataclass(frozen=True)
class ClaimResult:
    """One claim of a record, decided: the record's fields plus the estimate (``statistic`` over seeds), its
    interval, the seed count and the verdict."""

    id: str
    statement: str
    source: str
    paper_value: Any
    metric: str
    unit: str
    rule: dict
    tolerance_note: str
    statistic: str
    estimate: float
    low: float
    high: float
    n: int
    verdict: str
    verdict_rule: str = "population"
    single: stats.SingleNetwork | None = None


def evaluate_claims(record: Mapping) -> list[ClaimResult]:
    """Every claim in ``record["results"]["claims"]``, with its estimate, 95% CI and verdict."""
    out = []
    for i, claim in enumerate(record["results"].get("claims", [])):
        where = f"{record['kind']}: claims[{i}]"
        missing = [k for k in ("id", "statement", "values", "rule") if k not in claim]
        if missing:
            raise ValueError(f"{where} must have the keys id, statement, values and rule; missing {missing}. "
                             "See docs/record-schema.md")
        rule = check_rule(claim["rule"], f"{where} ({claim['id']}) rule")
        kind = stats.verdict_rule(claim, f"{where} ({claim['id']})")
        statistic = claim.get("aggregate", "median")
        try:
            estimate, low, high = bootstrap_ci(claim["values"], statistic=statistic)
        except ValueError as exc:
            raise ValueError(f"{where} ({claim['id']}): {exc}") from None
        single = stats.single_network(rule, claim["values"]) if kind == "single-network" else None
        out.append(ClaimResult(
            id=str(claim["id"]), statement=str(claim["statement"]), source=str(claim.get("source", "")),
            paper_value=claim.get("paper_value"), metric=str(claim.get("metric", "")),
            unit=str(claim.get("unit") or ""), rule=rule, tolerance_note=str(claim.get("tolerance_note", "")),
            statistic=statistic, estimate=estimate, low=low, high=high, n=len(claim["values"]),
            verdict=single.verdict if single else stats.ci_verdict(rule, estimate, low, high),
            verdict_rule=kind, single=single))
    return out


def _ours(c: ClaimResult) -> str:
    """The estimate with its CI and, for a single-network claim, the seeds at least as good as the paper's
    network and the prediction interval: ``"21 [16, 26.5] weights; 1/10 seeds as good, PI [14, 28] (82%)"``."""
    text = _with_unit(f"{_fmt(c.estimate)} [{_fmt(c.low)}, {_fmt(c.high)}]", c.unit)
    text = text if c.statistic == "median" else f"{text} ({c.statistic})"
    if c.single is None:
        return text
    s = c.single
    return (f"{text}; {s.as_good}/{s.n} seeds as good, PI [{_fmt(s.low)}, {_fmt(s.high)}] "
            f"({round(100 * s.level)}%)")


def _verdict_rule_text(c: ClaimResult) -> str:
    return "one network: within our seeds' PI" if c.single else "population: 95% CI"


def _rule_text(rule: Mapping, unit: str = "") -> str:
    """``"≥ 95%"``, ``"1500 ± 150 params"`` (Unicode; :func:`~prunebench.report.formatting._tex` turns the
    symbols into LaTeX math)."""
    if rule["op"] == "within":
        return _with_unit(f"{_fmt(rule['target'])} ± {_fmt(rule['tolerance'])}", unit)
    symbol = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}[rule["op"]]
    return _with_unit(f"{symbol} {_fmt(rule['threshold'])}", unit)


def _rule_csv(rule: Mapping) -> str:
    if rule["op"] == "within":
        return f"within {_csv_value(float(rule['target']))} +- {_csv_value(float(rule['tolerance']))}"
    return f"{rule['op']} {_csv_value(float(rule['threshold']))}"


def _metric(c: ClaimResult) -> str:
    return f"{c.metric} ({c.unit})" if c.unit else c.metric


def _tally(claims: Sequence[ClaimResult]) -> str:
    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no claims"
