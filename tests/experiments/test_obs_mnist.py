"""The obs-mnist experiment (prunebench.experiments.obs_mnist): one variant pruned to several sparsities.

Its configuration, units and summary are tested in tests/test_fullobs.py."""

import pytest
import torch

from prunebench import methods, prune, tasks
from prunebench.evaluate import evaluate
from prunebench.experiments._common import masked_copy
from prunebench.experiments.obs_mnist import run_variant
from prunebench.testing import tiny_problem
from prunebench.train import TrainConfig


@pytest.fixture(scope="module")
def problem():
    model, _, X, Y = tiny_problem(seed=0)
    y = (Y.reshape(-1) > 0.5).long()
    task = tasks.Task("tiny", "monks-1", "monk-17-3-1", "mse", "binary", TrainConfig())
    return model, task, tasks.TaskData(X, Y, y, X, Y, y)


SPARSITIES = [0.25, 0.75]
COUNTS = [14, 44]
"""round(s x 58) for the 58 weights of the tiny net: 14.5 -> 14 and 43.5 -> 44 (half to even)."""


def test_obs_variant_is_one_path_and_each_point_is_the_one_shot_net(problem):
    model, task, data = problem
    params = {"hessian": "fisher", "damping": 1e-3, "group_size": 1, "dtype": "float64"}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = run_variant(model, task, data, {"method": "obs-full", "params": params}, SPARSITIES, 0, None)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "the model was modified"
    assert out["stats"] is not None and out["wall_s"] > 0
    for s, count, point in zip(SPARSITIES, COUNTS, out["points"], strict=True):
        alone = masked_copy(model)
        result = prune.step(alone, methods.get("obs-full", seed=0, **params), task.loss_fn(), data.x_train,
                            data.t_train, count=count)
        ev = evaluate(alone, task, data)
        assert point["sparsity"] == s and point["achieved_sparsity"] == pytest.approx(count / 58, abs=1e-15)
        assert point["train_loss"] == pytest.approx(ev.loss, rel=1e-9)
        assert point["predicted_change"] == pytest.approx(result.predicted_change, rel=1e-9)


def test_a_variant_without_update_is_ranked_once_and_cut_at_each_sparsity(problem):
    model, task, data = problem
    out = run_variant(model, task, data, {"method": "magnitude", "params": {"scope": "global"}}, SPARSITIES, 0,
                      None)
    assert out["stats"] is None
    for count, point in zip(COUNTS, out["points"], strict=True):
        alone = masked_copy(model)
        prune.step(alone, methods.get("magnitude", scope="global"), task.loss_fn(), data.x_train, data.t_train,
                   count=count)
        assert point["achieved_sparsity"] == pytest.approx(count / 58, abs=1e-15)
        assert point["train_loss"] == pytest.approx(evaluate(alone, task, data).loss, rel=1e-12)
        assert point["predicted_change"] is None
