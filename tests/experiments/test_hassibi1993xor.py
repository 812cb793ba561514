"""The obs-xor reproduction (prunebench.experiments.hassibi1993xor): removability, the first deletion of each
method, and a smoke run through the CLI."""

import pytest
import torch

from prunebench import models
from prunebench.cli import main
from prunebench.experiments.hassibi1993xor import BIASES, WEIGHT_LABELS, delete_entry, wilson_interval

XOR_X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
XOR_Y = torch.tensor([0, 1, 1, 0])


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


def test_obs_xor_quick_run(reproduce_quick):
    record, out = reproduce_quick("obs-xor", "--seeds", "2", "--perturbations", "0")
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
