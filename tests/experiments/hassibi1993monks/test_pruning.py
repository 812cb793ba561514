"""The obs-monks pruning runs (prunebench.experiments.hassibi1993monks.pruning): the deletion sequence, the
recomputed and retrained loop, and their stopping rules (on XOR, cheap)."""

import pytest

from prunebench import methods, tasks
from prunebench.experiments.hassibi1993monks.pruning import prune_in_sequence, prune_stepwise
from prunebench.train import TrainConfig


def test_sequence_follows_the_accuracy_rule_and_runs_to_the_end():
    task = tasks.get("xor")
    model, data, _ = task.trained(0)
    out = prune_in_sequence(model, task, data, methods.get("magnitude"), "accuracy")
    remaining = [pt[0] for pt in out["curve"]]
    assert remaining == list(range(9, -1, -1))  # one deletion per step, down to no weights
    assert out["result"][1] == 100.0 and out["stopped"] == "accuracy"  # kept: the last net still at 100%
    kept = remaining.index(out["result"][0])
    assert out["curve"][kept + 1][1] < 100.0  # the next deletion lowered the training accuracy


def test_obs_stop_rule_ends_where_the_method_says():
    task = tasks.get("xor")
    model, data, _ = task.trained(0)
    out = prune_in_sequence(model, task, data, methods.get("obs", alpha=1e-4, stop_ratio=0.1), "method")
    assert out["stopped"] in ("stop-rule", "exhausted") and out["result"] == out["curve"][-1]


def test_retraining_loop_stops_at_the_first_drop():
    task = tasks.get("xor")
    model, data, _ = task.trained(0)
    out = prune_stepwise(model, task, data, methods.get("magnitude"), retrain=TrainConfig(epochs=20), seed=0)
    assert out["stopped"] == "accuracy" and out["result"] == out["curve"][-2]
    assert all(pt[1] == 100.0 for pt in out["curve"][:-1]) and out["curve"][-1][1] < 100.0


@pytest.mark.parametrize("ratio", [1e-12, 1e3])
def test_paper_stop_rule_compares_the_smallest_saliency_with_the_current_error(ratio):
    """A tiny ratio stops before the first deletion (every L_q > 0 exceeds it); a huge one never stops, so
    without the accuracy condition the net is pruned to nothing."""
    task = tasks.get("xor")
    model, data, _ = task.trained(0)
    method = methods.get("obs", alpha=1e-4)
    out = prune_stepwise(model, task, data, method, stop_ratio=ratio, accuracy=False)
    if ratio < 1:
        assert out["stopped"] == "stop-rule" and out["result"][0] == 9 and len(out["curve"]) == 1
    else:
        assert out["stopped"] == "exhausted" and out["result"][0] == 0
    # With the accuracy condition as well, whichever comes first: here the accuracy.
    both = prune_stepwise(model, task, data, method, stop_ratio=ratio, accuracy=True)
    assert both["result"][1] == 100.0 and (ratio < 1 or both["stopped"] == "accuracy")


def test_recomputing_the_inverse_is_the_downdated_sequence_for_the_first_deletion():
    """The first deletion does not depend on recomputing or downdating (the same inverse); later ones may."""
    task = tasks.get("xor")
    model, data, _ = task.trained(0)
    method = methods.get("obs", alpha=1e-4)
    recomputed = prune_stepwise(model, task, data, method, accuracy=False)
    downdated = prune_in_sequence(model, task, data, method, "method")
    assert recomputed["curve"][1] == pytest.approx(downdated["curve"][1], rel=1e-9)
