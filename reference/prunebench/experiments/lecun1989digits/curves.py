"""OBD's deletion curves: parameters deleted in rounds (ranked once, or asked afresh each round and retrained),
the objective after each round, and Fig. 1b's prediction from the saliencies (LeCun, Denker & Solla 1990)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import torch

from ... import methods, prune, tasks
from ..._validation import integer, real
from ...evaluate import Evaluation, evaluate
from ...methods.base import candidate_mask, model_mask
from ...models import effective_params
from ...train import TrainConfig, fit

__all__ = ["deletion_counts", "deletion_curve", "predicted_objective", "rank_once_curve", "to_db"]


def to_db(mse: float) -> float:
    """The paper's objective axis: 10 log10(MSE). ``mse`` must be positive."""
    if not mse > 0:
        raise ValueError(f"mse must be a positive float to be shown in dB; got {mse!r}")
    return 10.0 * math.log10(mse)


def predicted_objective(e0: float, saliency_sums: list[float]) -> list[float]:
    """OBD's Fig. 1b prediction after each round: ``E0 + sum of the saliencies deleted so far``.

    ``saliency_sums[k]`` is the sum of the saliencies of the parameters deleted in round k+1, each evaluated
    when it was ranked. Returns one value per round (without the starting point E0).
    """
    out, total = [], float(e0)
    for s in saliency_sums:
        total += float(s)
        out.append(total)
    return out


def deletion_counts(total: int, step: float, max_fraction: float) -> list[int]:
    """Cumulative numbers of deleted parameters after each round: ``floor(k * step * total)`` for every k with
    ``k * step <= max_fraction`` (on the decimals as written, so 20 x 0.05 is exactly 1)."""
    integer("total", total, 1, expected="a positive integer number of parameters")
    real("step", step, above=0, below=1, expected="a fraction in (0, 1), e.g. 0.05 for 5% per round")
    real("max_fraction", max_fraction, at_least=step, below=1, expected="in [step, 1), e.g. 0.95")
    s, end = Fraction(repr(float(step))), Fraction(repr(float(max_fraction)))
    return [math.floor(k * s * total) for k in range(1, math.floor(end / s) + 1)]


def _point(ev: Evaluation, saliency_sum: float, loss_before: float, absent: int = 0) -> dict[str, Any]:
    """One point of a deletion curve; ``absent``: entries the dense net already lacks (a fixed connection
    table), which are no deletions."""
    return {"deleted": ev.deleted_parameters - absent,
            "remaining": ev.remaining_parameters, "loss": ev.loss, "test_loss": ev.test_loss,
            "train_accuracy": ev.train_accuracy, "test_accuracy": ev.test_accuracy,
            "saliency_sum": float(saliency_sum), "loss_before": float(loss_before)}


def deletion_curve(model, task: tasks.Task, data: tasks.TaskData, method: methods.PruningMethod,
                   counts: list[int], *, retrain: TrainConfig | None = None,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Delete parameters of a copy of ``model`` in rounds up to the cumulative ``counts``, recomputing the
    method's saliencies every round, and retraining after each when ``retrain`` is given.

    Returns one point per round, the trained network first (``deleted`` 0): ``deleted``, ``remaining`` (free
    parameters), ``loss``/``test_loss`` (the task's MSE; after retraining when ``retrain``), accuracies,
    ``saliency_sum`` (the round's predicted increase of E), ``loss_before`` (E when the round started); with
    ``retrain`` also ``loss_pruned``/``test_loss_pruned`` (before retraining) and what the retraining reached:
    ``retrain_iterations``, ``retrain_grad_rms`` and ``retrain_stop`` (:class:`~prunebench.train.FitReport`).
    """
    loss_fn = task.loss_fn()
    x, t = data.x_train, data.t_train
    net = prune.clone(model)
    ev = evaluate(net, task, data)
    absent = ev.deleted_parameters
    points = [_point(ev, 0.0, ev.loss, absent)]
    for result in prune.stepwise(net, method, loss_fn, x, t, counts):
        before = points[-1]["loss"]
        ev = evaluate(net, task, data)
        point = _point(ev, result.predicted_change, before, absent)
        if retrain is not None:
            fitted = fit(net, loss_fn, x, t, retrain, seed=seed)
            after = evaluate(net, task, data)
            point.update(loss_pruned=ev.loss, test_loss_pruned=ev.test_loss, loss=after.loss,
                         test_loss=after.test_loss, train_accuracy=after.train_accuracy,
                         test_accuracy=after.test_accuracy, retrain_iterations=fitted.iterations,
                         retrain_grad_rms=fitted.grad_rms, retrain_stop=fitted.stop)
        points.append(point)
    return points


def rank_once_curve(model, task: tasks.Task, data: tasks.TaskData, method: methods.PruningMethod,
                    counts: list[int]) -> list[dict[str, Any]]:
    """Rank the parameters of ``model`` once by ``method`` and delete them in that order, up to each of the
    cumulative ``counts`` (on copies; no retraining): the schedule of the paper's Figs. 1a and 1b.

    Points as :func:`deletion_curve`; ``saliency_sum`` sums the dense net's saliencies of the round's
    parameters, so that E0 plus their running sum is Fig. 1b's prediction, and ``gradient_term`` is the
    first-order term the prediction leaves out, ``-sum g_k u_k`` over every parameter deleted so far, with the
    dense net's gradient ``g`` and weights ``u`` (zero at an exact minimum: the extremal approximation).
    The method must not move the surviving weights (OBD, magnitude, random).
    """
    loss_fn = task.loss_fn()
    x, t = data.x_train, data.t_train
    names = prune.prunable_names(model)
    mask = model_mask(model)
    order = method.select(model, loss_fn, x, t, count=counts[-1], mask=mask,
                          candidates=candidate_mask(model, mask, names))
    if order.delta is not None:
        raise ValueError(f"rank_once_curve needs a method that does not move the weights; {method} does")
    weights = {n: w.detach() for n, w in effective_params(model).items()}
    loss = loss_fn(model(x), t)
    grads = dict(zip(weights, torch.autograd.grad(loss, list(dict(model.named_parameters()).values())),
                     strict=True))
    first_order = [-float(grads[d.name].reshape(-1)[d.index] * weights[d.name].reshape(-1)[d.index])
                   for d in order.deletions]
    ev = evaluate(model, task, data)
    absent = ev.deleted_parameters
    points = [{**_point(ev, 0.0, ev.loss, absent), "gradient_term": 0.0}]
    done = 0
    for count, net in zip(counts, prune.prefixes(model, order, counts), strict=True):
        count = min(count, len(order.deletions))
        ev = evaluate(net, task, data)
        chunk = order.deletions[done:count]
        points.append({**_point(ev, sum(d.saliency for d in chunk), points[-1]["loss"], absent),
                       "gradient_term": math.fsum(first_order[:count])})
        done = count
    return points


def _at(points: list[dict], fraction: float, total: int) -> dict:
    """The point whose deleted fraction is closest to ``fraction`` (the earlier one on a tie)."""
    return min(points, key=lambda p: (abs(p["deleted"] / total - fraction), p["deleted"]))


def _predicted_db(points: list[dict]) -> list[float]:
    """dB of the Fig. 1b prediction at every point (the first is E0 itself)."""
    e0 = points[0]["loss"]
    sums = [p["saliency_sum"] for p in points[1:]]
    return [to_db(e0)] + [to_db(v) for v in predicted_objective(e0, sums)]


def _db_at(points: list[dict], fraction: float, total: int, key: str = "loss") -> float:
    return to_db(_at(points, fraction, total)[key])
