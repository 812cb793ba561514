"""Verdict rules: the population (CI) rule lives in test_report.py's table; here the single-network rule, its
prediction interval and how the claims table prints it."""

import copy
import re

import pytest

from prunebench import records, report, stats

PROVENANCE = {"command": "prunebench reproduce toy", "prunebench": "0.1.0", "git_commit": "abc", "python": "3",
              "torch": "2", "numpy": "2", "device": "cpu", "device_name": "x86_64", "dtype": "float64",
              "seeds": list(range(10)), "wall_time_s": 1.0, "created": "2026-01-01T00:00:00Z"}
MONK1 = [21.0, 14.0, 16.0, 22.0, 25.0, 28.0, 19.0, 20.0, 26.0, 18.0]  # one seed reaches the paper's 14


@pytest.mark.parametrize(("values", "expected"), [
    ([3.0, 1.0, 2.0], (1.0, 3.0, 0.5)),  # (n - 1) / (n + 1) for n = 3
    (MONK1, (14.0, 28.0, 9 / 11)),
    ([5.0], (5.0, 5.0, 0.0)),  # one seed predicts nothing
])
def test_prediction_interval_is_the_range_with_its_distribution_free_coverage(values, expected):
    assert stats.prediction_interval(values) == pytest.approx(expected)


def test_prediction_interval_needs_values():
    with pytest.raises(ValueError, match="values must be a non-empty list"):
        stats.prediction_interval([])


@pytest.mark.parametrize(("rule", "values", "as_good", "verdict"), [
    ({"op": "<=", "threshold": 14}, MONK1, 1, "reproduced"),  # the paper's value is the edge of our range
    ({"op": "<=", "threshold": 13}, MONK1, 0, "not reproduced"),  # beyond our best seed
    ({"op": "<=", "threshold": 30}, MONK1, 10, "reproduced"),  # every seed at least as good
    ({"op": ">", "threshold": 0}, [-1.0, -0.5, 0.2], 1, "reproduced"),
    ({"op": ">", "threshold": 0}, [-1.0, -0.5, 0.0], 0, "not reproduced"),
    ({"op": "within", "target": 14, "tolerance": 1}, [16.0, 15.0, 20.0], 1, "reproduced"),
])
def test_single_network_rule_counts_the_seeds_as_good_as_the_paper(rule, values, as_good, verdict):
    result = stats.single_network(rule, values)
    assert (result.as_good, result.n, result.verdict) == (as_good, len(values), verdict)


def test_single_network_verdict_differs_from_the_ci_rule_on_the_same_values():
    rule = {"op": "<=", "threshold": 14}
    # The median (20.5) and its CI are above 14: the population rule says not reproduced; one seed has 14.
    assert stats.ci_verdict(rule, *report.bootstrap_ci(MONK1)) == "not reproduced"
    assert stats.single_network(rule, MONK1).verdict == "reproduced"


def test_unknown_verdict_rule_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"verdict_rule must be one of \('population', 'single-network'\)"):
        stats.verdict_rule({"verdict_rule": "best-seed"})


def _record(kind: str) -> dict:
    claims = [{"id": "monks-1-weights", "statement": "OBS leaves 14 weights", "paper_value": 14, "unit": "weights",
               "values": MONK1, "rule": {"op": "<=", "threshold": 14}, "verdict_rule": kind}]
    body = {"title": "Toy", "paper": "hassibi1993obs", "claims": claims, "tables": [], "curves": [],
            "figures": []}
    return records.make_record("toy", {"quick": False, "seeds": list(range(10))}, body,
                               copy.deepcopy(PROVENANCE))


def test_claims_tables_print_the_rule_and_for_one_network_the_seeds_as_good():
    single, population = _record("single-network"), _record("population")
    [claim] = report.evaluate_claims(single)
    assert (claim.verdict_rule, claim.verdict) == ("single-network", "reproduced")
    markdown = report.claims_markdown(single)
    assert "1/10 seeds as good, PI [14, 28] (82%)" in markdown and "one network: within our seeds' PI" in markdown
    assert re.search(r"\| verdict rule +\|", markdown)
    csv_text = report.claims_csv(single)
    assert ",single-network,1,14,28,0.8181818182,reproduced" in csv_text
    [claim] = report.evaluate_claims(population)
    assert (claim.verdict_rule, claim.verdict, claim.single) == ("population", "not reproduced", None)
    assert "population: 95% CI" in report.claims_markdown(population)
    assert "seeds as good, PI" not in report.claims_markdown(population)
