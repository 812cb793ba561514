"""The obs-nettalk reproduction (prunebench.experiments.hassibi1993nettalk): following a deletion sequence, the
phoneme accuracy, and a smoke run through the CLI."""

import pytest
import torch

from prunebench import methods, tasks
from prunebench.experiments.hassibi1993nettalk import follow_sequence


def test_follow_sequence_records_every_step_and_the_checkpoints():
    task = tasks.get("xor")
    model, data, _ = task.trained(0)
    method = methods.get("obs", alpha=1e-4)
    out = follow_sequence(model, task, data, method, checkpoints=(1.0, 0.5), tolerance=0.0)
    assert [pt[0] for pt in out["train"]] == [9, 8, 7, 6, 5, 4]  # down to the smallest checkpoint, round(4.5)
    assert [pt[0] for pt in out["test"]] == [9, 4] and out["stopped"] == "floor"
    # tolerance 0: the rule keeps the last net at the dense training accuracy (100% on XOR).
    assert out["accuracy_rule"][1] == 100.0


@pytest.mark.slow
@pytest.mark.data
def test_obs_nettalk_quick_run(reproduce_quick, data_root):
    """Trains the reduced NETtalk net (about a minute on 2 cores), then prunes 10% of it with each method."""
    if not (data_root / "nettalk").is_dir():
        pytest.skip("dataset folder 'nettalk' not found under the data root; set PRUNEBENCH_DATA")
    record, _ = reproduce_quick("obs-nettalk", "--root", str(data_root))
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
