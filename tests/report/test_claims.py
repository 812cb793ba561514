"""Claims decided by bootstrap intervals (:mod:`prunebench.report.claims`), and the statistics they rest on."""

import pytest

from prunebench import report, stats
from prunebench.report import claims
from report_cases import toy_claim, toy_record


def test_bootstrap_is_deterministic_and_brackets_the_median():
    values = [0.1, 0.5, 0.2, 0.9, 0.4, 0.3, 0.7]
    first = report.bootstrap_ci(values)
    assert first == report.bootstrap_ci(list(values))
    # Golden: numpy default_rng(0), 10,000 resamples; the percentiles land on data values for n = 7.
    assert first == (0.4, 0.2, 0.7)
    median, low, high = report.bootstrap_ci([1.0, 2.0])
    assert low <= median <= high and median == 1.5


def test_bootstrap_of_one_seed_is_the_point():
    assert report.bootstrap_ci([0.93]) == (0.93, 0.93, 0.93)


@pytest.mark.parametrize(("values", "kwargs", "match"), [
    ([], {}, r"values must be a non-empty list of numbers \(one per seed\); got \[\]"),
    ([1.0, float("nan")], {}, r"values must be finite numbers; got \[1.0, nan\]"),
    ([1.0, 2.0], {"level": 95}, r"level must be a float in \(0, 1\); got 95"),
], ids=["empty", "nan", "level-in-percent"])
def test_bootstrap_rejects_bad_input(values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        report.bootstrap_ci(values, **kwargs)


@pytest.mark.parametrize(("rule", "interval", "expected"), [
    ({"op": ">=", "threshold": 0.9}, (0.95, 0.92, 0.97), "reproduced"),
    ({"op": ">=", "threshold": 0.9}, (0.95, 0.85, 0.97), "partly"),
    ({"op": ">=", "threshold": 0.9}, (0.88, 0.85, 0.97), "not reproduced"),
    ({"op": "<=", "threshold": 10}, (8, 7, 10), "reproduced"),
    ({"op": "<=", "threshold": 10}, (9, 7, 11), "partly"),
    ({"op": "<", "threshold": 10}, (10, 9, 11), "not reproduced"),
    ({"op": ">", "threshold": 0}, (1, 0.5, 2), "reproduced"),
    ({"op": "within", "target": 14, "tolerance": 2}, (14, 12, 16), "reproduced"),
    ({"op": "within", "target": 14, "tolerance": 2}, (15, 13, 17), "partly"),
    ({"op": "within", "target": 14, "tolerance": 2}, (17, 16, 18), "not reproduced"),
], ids=lambda v: str(v) if isinstance(v, str) else None)
def test_verdict(rule, interval, expected):
    assert stats.ci_verdict(rule, *interval) == expected


@pytest.mark.parametrize(("values", "expected"), [
    ([14.0], "reproduced"), ([16.0], "not reproduced"),
    ([14.0, 14.0, 14.0, 14.5, 14.0], "reproduced"), ([13.0, 14.0, 14.0, 16.0, 17.0], "partly"),
], ids=["one-seed-in", "one-seed-out", "five-seeds-tight", "five-seeds-wide"])
def test_claim_verdict_from_values(values, expected):
    record = toy_record(claims=[toy_claim(values=values)])
    [claim] = report.evaluate_claims(record)
    assert claim.verdict == expected and claim.n == len(values)
    if len(values) == 1:
        assert claim.low == claim.estimate == claim.high == values[0]


def test_mean_aggregate_for_proportions():
    """An indicator per seed (1 = the network behaved as claimed): "in every case" needs the mean to be 1."""
    values = [1.0] * 9 + [0.0]
    [median_claim, mean_claim] = report.evaluate_claims(toy_record(claims=[
        toy_claim(values=values, rule={"op": ">=", "threshold": 1}),
        toy_claim(id="c2", values=values, rule={"op": ">=", "threshold": 1}, aggregate="mean")]))
    # The median of 9 ones and a zero is 1 in nearly every resample: it cannot see the one failure.
    assert (median_claim.estimate, median_claim.verdict) == (1.0, "reproduced")
    assert (mean_claim.statistic, mean_claim.estimate, mean_claim.verdict) == ("mean", 0.9, "not reproduced")
    assert claims._ours(mean_claim).endswith(" (mean)")
    with pytest.raises(ValueError, match=r"statistic must be one of \('median', 'mean'\); got 'mode'"):
        report.bootstrap_ci(values, statistic="mode")


@pytest.mark.parametrize(("rule", "match"), [
    ({"op": "=="}, r"rule must be \{'op': '>=' \| '<=' \| '>' \| '<', 'threshold': x\} or"),
    ({"op": ">="}, r"with op '>=' needs a number 'threshold'; got \{'op': '>='\}"),
    ({"op": "within", "target": 1, "tolerance": -1}, r"needs a non-negative tolerance; got -1"),
], ids=["unknown-op", "no-threshold", "negative-tolerance"])
def test_rule_validation(rule, match):
    with pytest.raises(ValueError, match=match):
        stats.satisfies(rule, 1.0)


def test_claim_without_values_names_the_claim():
    record = toy_record(claims=[{"id": "c9", "statement": "x", "rule": {"op": ">=", "threshold": 0}}])
    match = r"toy: claims\[0\] must have the keys id, statement, values and rule; missing \['values'\]"
    with pytest.raises(ValueError, match=match):
        report.evaluate_claims(record)
