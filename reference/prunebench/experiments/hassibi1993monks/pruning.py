"""The MONK's reproduction's pruning runs: one weight at a time along a method's deletion sequence, or recomputed
(and optionally retrained) before every deletion, until a stopping rule."""

from __future__ import annotations

import itertools
from typing import Any

from ... import prune
from ...evaluate import evaluate
from ...methods.base import model_mask
from ...train import TrainConfig, fit
from .._common import masked_copy

__all__ = ["prune_in_sequence", "prune_stepwise"]


def _point(model, task, data) -> list:
    """[weights remaining, train accuracy %, test accuracy %, train loss] of ``model``."""
    ev = evaluate(model, task, data)
    return [ev.remaining_parameters, round(100 * ev.train_accuracy, 6),
            round(100 * ev.test_accuracy, 6), ev.loss]


def prune_in_sequence(model, task, data, method, rule: str) -> dict[str, Any]:
    """Follow ``method``'s deletion sequence on a copy of ``model`` without retraining.

    ``rule="accuracy"``: the result is the last network whose training accuracy is >= the dense one's, before
    the first deletion that lowers it; the sequence is still followed to its end for the curve.
    ``rule="method"``: the result is where the method's own sequence ends (OBS's stopping rule). Returns
    {"result": point, "stopped", "curve": [point, ...]}, points as in :func:`_point`.
    """
    net = masked_copy(model)
    curve = [_point(net, task, data)]
    deletions = prune.gradual(net, method, task.loss_fn(), data.x_train, data.t_train)
    result = None
    while True:
        try:
            next(deletions)
        except StopIteration as end:
            ended = end.value
            break
        curve.append(_point(net, task, data))
        if rule == "accuracy" and result is None and curve[-1][1] < curve[0][1]:
            result = curve[-2]
    if result is None:
        return {"result": curve[-1], "stopped": ended, "curve": curve}
    return {"result": result, "stopped": "accuracy", "curve": curve}


def prune_stepwise(model, task, data, method, *, retrain: TrainConfig | None = None, seed: int = 0,
                   stop_ratio: float | None = None, stop_error: str = "current",
                   accuracy: bool = True) -> dict[str, Any]:
    """Delete one weight at a time with the curvature recomputed at the current weights before every deletion
    (the paper's procedure: after the update, "go to step 2", compute H^-1 again), optionally retraining
    with the mask after each deletion (``retrain``, with ``seed``), until a rule stops it.

    ``accuracy``: stop before the first deletion that lowers the training accuracy below the dense net's
    (the result is the last net kept; the curve ends with the rejected deletion). ``stop_ratio``: the
    paper's rule, stop when the smallest saliency L_q exceeds ``stop_ratio`` times E, the training error
    (``task.loss_fn``, the data term) of the current net (``stop_error="current"``) or of the trained one
    (``"trained"``). With both, whichever comes first. Returns {"result", "stopped", "curve"}, points as in
    :func:`_point`.
    """
    x, t = data.x_train, data.t_train
    loss_fn = task.loss_fn()
    net = masked_copy(model)
    curve = [_point(net, task, data)]
    one_at_a_time = prune.stepwise(net, method, loss_fn, x, t, itertools.count(1))
    while curve[-1][0] > 0:
        if stop_ratio is not None:
            saliency, present = method.saliency(net, loss_fn, x, t), model_mask(net)
            smallest = min(float(saliency[k][m].min()) for k, m in present.items() if m.any())
            error = curve[-1 if stop_error == "current" else 0][3]
            if smallest > stop_ratio * error:
                return {"result": curve[-1], "stopped": "stop-rule", "curve": curve}
        next(one_at_a_time)
        if retrain is not None:
            fit(net, loss_fn, x, t, retrain, seed=seed)
        curve.append(_point(net, task, data))
        if accuracy and curve[-1][1] < curve[0][1]:
            return {"result": curve[-2], "stopped": "accuracy", "curve": curve}
    return {"result": curve[-1], "stopped": "exhausted", "curve": curve}
