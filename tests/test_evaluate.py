"""evaluate: objective (and in dB), accuracy, sparsity and remaining parameters, predicted vs actual dE."""

import json
import math

import pytest
import torch

from prunebench import prune, tasks
from prunebench.evaluate import evaluate
from prunebench.methods import Magnitude
from prunebench.models import build
from prunebench.tasks import Task, TaskData
from prunebench.train import TrainConfig


@pytest.fixture(scope="module")
def xor():
    task = tasks.get("xor")
    model, data, _ = task.trained(0)
    return task, model, data


def test_evaluate_a_dense_model(xor):
    task, model, data = xor
    out = evaluate(model, task, data)
    assert out.train_accuracy == 1.0
    assert out.loss_db == pytest.approx(10 * math.log10(out.loss))
    assert out.total_parameters == out.remaining_parameters == 9 and out.sparsity == 0.0
    assert out.actual_change is None and out.predicted_change is None
    assert "actual_change" not in out.as_dict() and "predicted_change" not in out.as_dict()
    assert out.deleted_parameters == 0
    json.dumps(out.as_dict(), allow_nan=False)


def test_evaluate_a_pruned_model_with_predicted_and_actual_change(xor):
    task, model, data = xor
    import copy

    pruned = copy.deepcopy(model)
    loss_fn = task.loss_fn()
    with torch.no_grad():
        before = float(loss_fn(pruned(data.x_train), data.t_train))
    result = prune.one_shot(pruned, Magnitude(), loss_fn, data.x_train, data.t_train, 0.3)
    out = evaluate(pruned, task, data, baseline_loss=before, predicted_change=result.predicted_change)
    assert out.remaining_parameters == 7 and out.sparsity == pytest.approx(2 / 9)
    assert out.nonzero_parameters <= 7
    assert out.actual_change == pytest.approx(out.loss - before)
    assert out.predicted_change == result.predicted_change


def test_cross_entropy_tasks_have_no_decibel_objective():
    task = Task("toy-ce", "none", "mlp-64-32-10", "ce", "index", TrainConfig())
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(12, 64, generator=g), torch.randint(0, 10, (12,), generator=g)
    data = TaskData(x, y, y, x, y, y)
    out = evaluate(build("mlp-64-32-10", seed=0), task, data)
    assert out.loss_db is None and out.test_loss_db is None
    assert 0.0 <= out.test_accuracy <= 1.0
    json.dumps(out.as_dict(), allow_nan=False)
