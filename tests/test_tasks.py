"""Tasks bind data, model, objective and recipe; trained models are cached and shared."""

import pytest
import torch

from prunebench import tasks


def test_unknown_task_lists_valid_names():
    with pytest.raises(ValueError, match=r"task must be one of \[.*'monks-1'.*\]; got 'monk-4'"):
        tasks.get("monk-4")


def test_target_coding():
    y = torch.tensor([0, 2])
    assert torch.equal(tasks.get("digits")._code(y)[1], torch.tensor([-1, -1, 1, -1, -1, -1, -1, -1, -1, -1.0],
                                                                      dtype=torch.float64))
    assert tasks.get("xor")._code(y).shape == (2, 1)
    assert torch.equal(tasks.get("mnist")._code(y), y)


def test_trained_model_is_cached_and_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNEBENCH_CACHE", str(tmp_path))
    task = tasks.get("xor")
    first, _, info1 = task.trained(seed=2)
    assert list((tmp_path / "models").glob("xor-seed2-*.pt"))
    second, _, info2 = task.trained(seed=2)
    assert info1 == info2
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)


def test_corrupt_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNEBENCH_CACHE", str(tmp_path))
    task = tasks.get("xor")
    task.trained(seed=1)
    (path,) = (tmp_path / "models").glob("xor-seed1-*.pt")
    path.write_bytes(b"garbage")
    model, _, info = task.trained(seed=1)
    assert info["train_accuracy"] == 1.0


def test_digits_task_shapes():
    d = tasks.get("digits").data()
    assert d.x_train.shape[1:] == (1, 8, 8) and d.t_train.shape[1] == 10
    assert d.x_train.dtype == torch.float64 and d.y_train.dtype == torch.int64
    assert d.x_train.shape[0] + d.x_test.shape[0] == 1797
