"""OBD's deletion curves (prunebench.experiments.lecun1989digits.curves): the objective in dB, the rounds, and
the predicted objective of Fig. 1b on a case with a closed form."""

import math

import pytest
import torch
from torch import nn

from helpers import assert_close
from prunebench import methods, tasks
from prunebench.experiments.lecun1989digits import curves as obd
from prunebench.models import Net
from prunebench.train import TrainConfig


def test_db_and_cumulative_prediction():
    assert obd.to_db(0.01) == pytest.approx(-20.0, abs=1e-12)
    assert obd.to_db(1.0) == 0.0
    assert obd.predicted_objective(0.5, [0.25, 0.0, 1.0]) == [0.75, 0.75, 1.75]
    assert obd.predicted_objective(0.5, []) == []


def test_to_db_rejects_non_positive():
    with pytest.raises(ValueError, match=r"mse must be a positive float to be shown in dB; got 0.0"):
        obd.to_db(0.0)


def test_deletion_counts_follow_the_decimal_step():
    assert obd.deletion_counts(100, 0.05, 0.95) == list(range(5, 96, 5))
    assert obd.deletion_counts(666, 0.05, 0.95)[:3] == [33, 66, 99]
    assert obd.deletion_counts(666, 0.1, 0.9)[-1] == 599


@pytest.mark.parametrize(("args", "message"), [
    ((0, 0.05, 0.95), "total must be a positive integer"),
    ((10, 1.5, 0.95), r"step must be a fraction in \(0, 1\)"),
    ((10, 0.5, 0.2), r"max_fraction must be in \[step, 1\)"),
])
def test_deletion_counts_reject_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        obd.deletion_counts(*args)


def _orthogonal_problem():
    """A linear net y = W x (4 inputs, 2 outputs, no bias) at the least-squares minimum, with X^T X = N I.

    Then E = MSE (mean over N samples and C = 2 outputs) has the diagonal Hessian 2/C for every weight and no
    cross terms, so deleting weight w costs exactly w^2 / C, OBD.s saliency with the exact diagonal, however
    many were deleted before. The predicted objective E0 + sum of saliencies must equal the actual one.
    """
    g = torch.Generator().manual_seed(0)
    n = 40
    q, _ = torch.linalg.qr(torch.randn(n, 4, generator=g, dtype=torch.float64))
    x = q * math.sqrt(n)
    t = torch.randn(n, 2, generator=g, dtype=torch.float64)
    model = Net("Linear(4-2, no bias)", (4,), nn.Linear(4, 2, bias=False)).double()
    with torch.no_grad():
        model[0].weight.copy_((x.T @ t / n).T)
    y = t.argmax(dim=1)
    task = tasks.Task("tiny", "digits", "lenet-digits", "mse", "pm1", TrainConfig(), dtype=torch.float64)
    return model, task, tasks.TaskData(x, t, y, x, t, y)


@pytest.mark.parametrize("curvature", ["exact", "lecun-lm"])
def test_predicted_objective_equals_actual_on_a_quadratic_with_diagonal_hessian(curvature):
    model, task, data = _orthogonal_problem()
    points = obd.deletion_curve(model, task, data, methods.get("obd", curvature=curvature), [2, 3, 6, 8])
    assert [p["deleted"] for p in points] == [0, 2, 3, 6, 8]
    assert [p["remaining"] for p in points] == [8, 6, 5, 2, 0]
    predicted = obd.predicted_objective(points[0]["loss"], [p["saliency_sum"] for p in points[1:]])
    # Exact in exact arithmetic; float64 sums of a few terms of size ~1: 1e-12 relative.
    assert_close(predicted, [p["loss"] for p in points[1:]], rtol=1e-12, atol=0.0, name="predicted objective")
    # Nothing left: the net outputs 0, so E is the mean square of the targets.
    assert points[-1]["loss"] == pytest.approx(float((data.t_train**2).mean()), rel=1e-12)
    dbs = obd._predicted_db(points)
    assert dbs[0] == obd.to_db(points[0]["loss"]) and dbs[-1] == pytest.approx(obd.to_db(points[-1]["loss"]))
    assert model[0].weight.abs().min() > 0, "deletion_curve must work on a copy"


def test_retraining_keeps_deleted_parameters_at_zero():
    model, task, data = _orthogonal_problem()
    with torch.no_grad():
        model[0].weight.add_(0.1)  # away from the minimum, so retraining has something to do
    points = obd.deletion_curve(model, task, data, methods.get("magnitude"), [3, 5],
                                retrain=TrainConfig(epochs=20))
    assert [p["remaining"] for p in points] == [8, 5, 3]
    for p in points[1:]:
        assert p["loss"] <= p["loss_pruned"] + 1e-15
        assert p["test_loss_pruned"] == p["loss_pruned"]  # same data for both splits here


def test_rank_once_curve_predicts_exactly_on_a_quadratic_with_the_gradient_term():
    """Away from the minimum E is still exactly quadratic with Hessian (2/C) I, so deleting a set D costs
    exactly sum_D (h u_k^2 / 2 - g_k u_k): the saliencies of the dense net plus the recorded gradient term."""
    model, task, data = _orthogonal_problem()
    with torch.no_grad():
        model[0].weight.add_(0.3)
    points = obd.rank_once_curve(model, task, data, methods.get("obd", curvature="exact"), [2, 5, 8])
    assert [p["deleted"] for p in points] == [0, 2, 5, 8]
    predicted = obd.predicted_objective(points[0]["loss"], [p["saliency_sum"] for p in points[1:]])
    actual = [p["loss"] - p["gradient_term"] for p in points[1:]]
    assert_close(predicted, actual, rtol=1e-12, atol=0.0, name="E0 + saliencies + gradient term")
    assert abs(points[1]["gradient_term"]) > 1e-3, "the net is away from its minimum: the term must show"
    # Ranked once: the order is the dense net's ascending saliency, so each round's sum grows.
    sums = [p["saliency_sum"] / (b["deleted"] - a["deleted"]) for a, b, p in
            zip(points[:-1], points[1:], points[1:], strict=True)]
    assert sums == sorted(sums)
    assert model[0].weight.abs().min() > 0, "rank_once_curve must work on copies"


def test_curves_start_from_a_net_with_a_fixed_connection_table():
    """Entries absent from the dense net (a connection table, as in the 1990 net) are no deletions, and a
    net whose pruned weight carries an autograd graph can still be copied."""
    model, task, data = _orthogonal_problem()
    table = torch.ones(2, 4, dtype=torch.float64)
    table[1, 3] = 0
    torch.nn.utils.prune.custom_from_mask(model[0], "weight", table)
    model(data.x_train).sum().backward()  # leaves model[0].weight with a graph, as a checkpoint load does
    for points in (obd.rank_once_curve(model, task, data, methods.get("magnitude"), [2, 4]),
                   obd.deletion_curve(model, task, data, methods.get("magnitude"), [2, 4])):
        assert [p["deleted"] for p in points] == [0, 2, 4]
        assert [p["remaining"] for p in points] == [7, 5, 3]
