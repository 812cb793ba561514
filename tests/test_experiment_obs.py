"""The Optimal Brain Surgeon reproductions: obs-xor, obs-monks, obs-nettalk (smoke runs through the CLI, and
the pieces they are built from)."""

import json

import pytest
import torch

from prunebench import methods, models, records, tasks
from prunebench.cli import main
from prunebench.experiments.hassibi1993monks import PAPER, describe, prune_in_sequence, prune_stepwise, variant_specs
from prunebench.experiments.hassibi1993nettalk import follow_sequence
from prunebench.experiments.hassibi1993xor import BIASES, WEIGHT_LABELS, delete_entry, wilson_interval
from prunebench.train import TrainConfig

XOR_X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
XOR_Y = torch.tensor([0, 1, 1, 0])


def _run(argv, tmp_path, name):
    out = tmp_path / name
    assert main(["reproduce", name, "--quick", "--out", str(out), "--no-progress", *argv]) == 0
    return records.read_record(out / "record.json"), out


@pytest.mark.parametrize(("k", "n", "expected"), [
    (5, 10, (0.2366, 0.7634)),  # symmetric case, textbook value
    (0, 10, (0.0, 0.2775)),
    (10, 10, (0.7225, 1.0)),
])
def test_wilson_interval_matches_textbook_values(k, n, expected):
    low, high = wilson_interval(k, n)
    # Tolerance: the expected values are printed to 4 decimals.
    assert low == pytest.approx(expected[0], abs=5e-5) and high == pytest.approx(expected[1], abs=5e-5)


@pytest.mark.parametrize(("k", "n"), [(3, 2), (-1, 4), (1, 0), (1.0, 2)])
def test_wilson_interval_rejects_impossible_counts(k, n):
    with pytest.raises(ValueError, match="a proportion needs integers 0 <= k <= n"):
        wilson_interval(k, n)


def _net(w1, b1, w2, b2):
    net = models.build("xor-2-2-1", dtype=torch.float64)
    with torch.no_grad():
        for p, v in zip(net.parameters(), (w1, b1, w2, b2), strict=True):
            p.copy_(torch.tensor(v, dtype=torch.float64).reshape(p.shape))
    return net


def _solves(net) -> bool:
    with torch.no_grad():
        return bool(((net(XOR_X).reshape(-1) > 0.5).long() == XOR_Y).all())


@pytest.mark.parametrize("params", [
    # no hidden bias on h2: h1 = AND, h2 = sigmoid(-k s) (0.5 at 00), y = sigmoid(0.25 - h1 - h2)
    ([[10, 10], [-10, -10]], [-15, 0], [[-1, -1]], [0.25]),
    # no output bias: h1 = sigmoid(10 (s - 0.5)), h2 = sigmoid(4 s - 4), y = sigmoid(h1 - 1.5 h2)
    ([[10, 10], [4, 4]], [-5, -4], [[1, -1.5]], [0.0]),
], ids=["without-b-h2", "without-b-y"])
def test_each_bias_is_removable_in_principle(params):
    """The constructions of the module docstring: 8-weight nets (one bias at zero) that solve XOR."""
    assert _solves(_net(*params))


def test_no_random_net_without_a_connection_weight_solves_xor():
    """The monotonicity argument of the module docstring, sampled: with any one of the six connection weights
    at zero, none of 20,000 random 2-2-1 nets solves XOR (while some with all 9 weights do)."""
    g = torch.Generator().manual_seed(0)
    theta = 10 * torch.randn(20_000, 9, generator=g, dtype=torch.float64)

    def solved(t):
        w1, b1, w2, b2 = t[:, :4].reshape(-1, 2, 2), t[:, 4:6], t[:, 6:8], t[:, 8]
        h = torch.sigmoid(torch.einsum("nji,pi->npj", w1, XOR_X) + b1[:, None, :])
        y = torch.sigmoid((h * w2[:, None, :]).sum(-1) + b2[:, None])
        return ((y > 0.5).long() == XOR_Y).all(dim=1)

    assert solved(theta).any()
    for q, label in enumerate(WEIGHT_LABELS):
        if label not in BIASES:
            cut = theta.clone()
            cut[:, q] = 0
            assert not solved(cut).any(), label


def test_delete_entry_zeroes_and_freezes_one_weight():
    net = delete_entry(models.build("xor-2-2-1", seed=0, dtype=torch.float64), ("2.bias", 0))
    assert float(net[2].bias.detach()) == 0.0 and float(net[2].bias_mask) == 0.0


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


def test_variant_descriptions_name_every_documented_setting():
    specs = variant_specs(1e-4, quick=False)
    d = describe(specs["obs-paper"])
    assert d == {"inverse": "eq. 17, alpha 0.0001", "update": "recomputed before every deletion",
                 "stop": "L_q <= 0.1 x E of the current net, training accuracy kept", "retrain": "none",
                 "bpwd": "as trained"}
    assert describe(specs["obs-paper-exact"])["inverse"] == "exact Hessian + 0.0001 I"
    assert describe(specs["obs-paper-E0"])["stop"] == "L_q <= 0.1 x E of the BPWD net"
    assert describe(specs["obs-stop-rule"])["stop"] == "L_q <= 0.1 x E predicted from the saliencies"
    assert describe(specs["obs-paper-short"])["bpwd"] == "lambda 0.0001, 300 L-BFGS iterations"
    assert describe(specs["obs+retrain"])["retrain"] == "after every deletion"


def test_follow_sequence_records_every_step_and_the_checkpoints():
    task = tasks.get("xor")
    model, data, _ = task.trained(0)
    method = methods.get("obs", alpha=1e-4)
    out = follow_sequence(model, task, data, method, checkpoints=(1.0, 0.5), tolerance=0.0)
    assert [pt[0] for pt in out["train"]] == [9, 8, 7, 6, 5, 4]  # down to the smallest checkpoint, round(4.5)
    assert [pt[0] for pt in out["test"]] == [9, 4] and out["stopped"] == "floor"
    # tolerance 0: the rule keeps the last net at the dense training accuracy (100% on XOR).
    assert out["accuracy_rule"][1] == 100.0


def test_obs_xor_quick_run(tmp_path):
    record, out = _run(["--seeds", "2", "--perturbations", "0"], tmp_path, "obs-xor")
    results = record["results"]
    assert {t["id"] for t in results["tables"]} == {"xor-first-deletion", "xor-first-deletion-counts"}
    assert {c["id"] for c in results["claims"]} == {"xor-obs-right", "xor-magnitude-not-always-right",
                                                    "xor-obd-not-always-right"}
    assert all(len(c["values"]) == 2 for c in results["claims"])
    labels = [row[0] for row in results["tables"][0]["rows"]]
    assert "obs-recursion" in labels and "magnitude" in labels and "obd-lecun-lm" in labels
    for unit in results["per_seed"]:
        # The brute force never finds a connection weight removable (the argument in the module docstring).
        assert not any(r for w, r in zip(WEIGHT_LABELS, unit["removable"], strict=True) if w not in BIASES)
        assert all(m["weight"] in WEIGHT_LABELS for m in unit["methods"].values())
    assert len(list((out / "units").glob("*.json"))) == 2


def test_obs_xor_refuses_a_negative_perturbation_count(tmp_path, capsys):
    assert main(["reproduce", "obs-xor", "--quick", "--perturbations", "-1", "--out", str(tmp_path)]) == 2
    assert "--perturbations must be a non-negative integer; got -1" in capsys.readouterr().err


@pytest.mark.data
def test_obs_monks_quick_run(tmp_path, data_root):
    record, _ = _run(["--seeds", "1", "--root", str(data_root)], tmp_path, "obs-monks")
    results = record["results"]
    assert [t["id"] for t in results["tables"]] == ["monks-bpwd", "monks-pruning"]
    ids = {c["id"] for c in results["claims"]}
    assert {f"{p}-obs-weights" for p in PAPER} <= ids and {f"{p}-obs-vs-obd" for p in PAPER} <= ids
    for seed in results["per_seed"]:
        dense = seed["dense"]
        assert dense[0] == PAPER[seed["problem"]]["bpwd_weights"]
        for label in ("obs", "obd", "magnitude"):
            left, train = seed["variants"][label]["result"][:2]
            assert left < dense[0] and train >= dense[1]  # the accuracy rule kept the training accuracy
    figures = {f["id"] for f in results["figures"]}
    assert figures == {row["figure"] for row in results["curves"]} == {"monks-train-accuracy"}
    json.dumps(record, allow_nan=False)


@pytest.mark.slow
@pytest.mark.data
def test_obs_nettalk_quick_run(tmp_path, data_root):
    """Trains the reduced NETtalk net (about a minute on 2 cores), then prunes 10% of it with each method."""
    if not (data_root / "nettalk").is_dir():
        pytest.skip("dataset folder 'nettalk' not found under the data root; set PRUNEBENCH_DATA")
    record, _ = _run(["--root", str(data_root)], tmp_path, "obs-nettalk")
    results = record["results"]
    assert [t["id"] for t in results["tables"]] == ["nettalk-trained", "nettalk-pruning"]
    rows = {row[0]: row for row in results["tables"][1]["rows"]}
    assert set(rows) == {f"{m}{r}" for m in ("obs", "obd", "magnitude") for r in ("", "+retrain")}
    assert rows["obs"][1] == 4626
    assert {c["id"] for c in results["claims"]} >= {"nettalk-obs-weights", "nettalk-obs-vs-obd",
                                                    "nettalk-obs-weights-retrained"}
    for unit in results["per_seed"]:
        dense = unit["dense"]
        assert 0 < dense["test_phonemes"] < 100 and dense["iterations"] > 0
        # The rule keeps a net within the tolerance of the dense training bit accuracy.
        assert unit["accuracy_rule"][1] >= dense["train"] - 0.5
        assert unit["retrained_rule"][1] >= dense["train"] - 0.5


def test_phoneme_accuracy_takes_the_code_at_the_smallest_angle():
    from prunebench.data import PHONEME_CODES
    from prunebench.experiments.hassibi1993nettalk import phoneme_accuracy

    codes = torch.tensor([PHONEME_CODES[p] for p in ("a", "b", "k")], dtype=torch.float64)
    targets = torch.cat([codes, torch.zeros(3, 5, dtype=torch.float64)], dim=1)  # 21 features + 5 stress units
    # Scaled codes keep their angle (a sigmoid output of 0.9 on every active unit is still that phoneme).
    assert phoneme_accuracy(0.9 * targets, targets) == 1.0
    # Swapping two letters' outputs makes both wrong; the third stays right.
    swapped = targets[[1, 0, 2]]
    assert phoneme_accuracy(swapped, targets) == pytest.approx(1 / 3)
    # The stress units do not count.
    noisy = targets.clone()
    noisy[:, 21:] = 1.0
    assert phoneme_accuracy(noisy, targets) == 1.0
