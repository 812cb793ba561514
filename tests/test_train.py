"""Deterministic training to a minimum, and safe checkpoints."""

import pytest
import torch
from torch.nn.utils import prune

from prunebench import models, tasks, train
from prunebench.train import TrainConfig

XOR_X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64)
XOR_Y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float64)

# L-BFGS in float64 stops when the largest gradient entry is below 1e-9; the Euclidean norm over the 9 or 58
# weights is then at most sqrt(P) * 1e-9 (< 1e-8). We require 1e-7 to leave room for the last line search.
GRAD_TOL = 1e-7


def _weights(model):
    return [p.detach().clone() for p in model.parameters()]


def test_same_seed_gives_bitwise_identical_weights():
    runs = []
    for _ in range(2):
        net = models.build("monk-17-3-1", seed=3, dtype=torch.float64)
        x = torch.randn(40, 17, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        y = (x[:, :1] > 0).to(torch.float64)
        train.fit(net, torch.nn.MSELoss(), x, y, TrainConfig(optimizer="adam", lr=1e-2, epochs=30, batch_size=8,
                                                           finish_lbfgs=20), seed=3)
        runs.append(_weights(net))
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


def test_different_seed_gives_different_weights():
    a = models.build("xor-2-2-1", seed=0)
    b = models.build("xor-2-2-1", seed=1)
    assert not torch.equal(a[0].weight, b[0].weight)


def test_xor_trains_to_zero_error_at_a_minimum():
    task = tasks.get("xor")
    model, task_data, info = task.trained(seed=0, cache=False)
    assert info["train_accuracy"] == 1.0
    assert info["fit"]["objective_grad_norm"] < GRAD_TOL
    assert torch.equal(task_data.x_train, XOR_X)


def test_monk1_trains_to_full_training_accuracy_at_a_minimum(data_root):
    task = tasks.get("monks-1")
    model, task_data, info = task.trained(seed=0, root=data_root, cache=False)
    assert info["train_accuracy"] == 1.0
    assert info["fit"]["objective_grad_norm"] < GRAD_TOL


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"optimizer": "rmsprop"}, r"optimizer must be one of \('lbfgs', 'adam', 'sgd'\); got 'rmsprop'"),
    ({"epochs": -1}, "epochs must be a non-negative integer; got -1"),
    ({"lr": 0.0}, "lr must be a positive float; got 0.0"),
    ({"weight_decay": -1e-3}, "weight_decay must be a float >= 0; got -0.001"),
    ({"batch_size": 0}, "batch_size must be None"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_mismatched_samples_are_refused():
    net = models.build("xor-2-2-1", dtype=torch.float64)
    with pytest.raises(ValueError, match="same number of samples; got 4 and 3"):
        train.fit(net, torch.nn.MSELoss(), XOR_X, XOR_Y[:3], TrainConfig(epochs=1))


def test_nan_inputs_fail_clearly():
    net = models.build("xor-2-2-1", dtype=torch.float64)
    bad = XOR_X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN/inf"):
        train.fit(net, torch.nn.MSELoss(), bad, XOR_Y, TrainConfig(epochs=5))


def test_checkpoint_round_trip_keeps_masks(tmp_path):
    net = models.build("monk-17-2-1", seed=1, dtype=torch.float64)
    prune.l1_unstructured(net[0], "weight", amount=0.25)
    path = train.save_checkpoint(net, tmp_path / "m.pt", {"note": "x"})
    loaded, meta = train.load_checkpoint(path)
    assert meta == {"note": "x"}
    assert hasattr(loaded[0], "weight_mask")
    assert torch.equal(loaded[0].weight_mask, net[0].weight_mask)
    x = torch.randn(5, 17, dtype=torch.float64)
    torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)


def test_corrupt_checkpoint_is_reported(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read.*delete it"):
        train.load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        train.load_checkpoint(tmp_path / "missing.pt")
