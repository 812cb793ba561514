"""Evaluate a (pruned) model on its task: objective, objective in dB, accuracy, sparsity, and dE.

:func:`evaluate` returns an :class:`Evaluation`; its fields are plain Python numbers, and
:meth:`Evaluation.as_dict` gives them JSON-ready for a :mod:`prunebench.records` record:

- ``loss``, ``test_loss``: the task objective E (``task.loss_fn()``, reduction "mean") on each split;
- ``loss_db``, ``test_loss_db``: 10 log10(MSE), OBD's Fig. 1-2 axis (``None`` for cross-entropy tasks);
- ``train_accuracy``, ``test_accuracy``;
- ``total_parameters``: free parameters (shared weights once); ``remaining_parameters``: those not deleted
  (OBD's complexity measure, the number of non-zero free parameters, up to weights that are exactly zero by
  chance); ``nonzero_parameters``: those whose effective value is non-zero; ``sparsity`` = 1 - remaining /
  total;
- with ``baseline_loss`` (E before pruning): ``actual_change`` = loss - baseline_loss; with
  ``predicted_change`` (the sum of the deleted saliencies): it is echoed beside, so predicted and actual dE
  sit side by side.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from .methods.base import model_mask
from .models import effective_params
from .tasks import Task, TaskData

__all__ = ["Evaluation", "evaluate"]


def _db(mse: float) -> float | None:
    return 10.0 * math.log10(mse) if mse > 0 else None


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One model evaluated on its task's splits (fields: module docstring)."""

    loss: float
    loss_db: float | None
    test_loss: float
    test_loss_db: float | None
    train_accuracy: float
    test_accuracy: float
    total_parameters: int
    remaining_parameters: int
    nonzero_parameters: int
    sparsity: float
    baseline_loss: float | None = None
    actual_change: float | None = None
    predicted_change: float | None = None

    @property
    def deleted_parameters(self) -> int:
        """Free parameters deleted (``total_parameters - remaining_parameters``)."""
        return self.total_parameters - self.remaining_parameters

    def as_dict(self) -> dict:
        """The fields as a JSON-ready dict; the dE fields only when they were given."""
        out = dataclasses.asdict(self)
        for key in ("baseline_loss", "actual_change", "predicted_change"):
            if out[key] is None:
                del out[key]
        return out


def evaluate(model: nn.Module, task: Task, task_data: TaskData, *, baseline_loss: float | None = None,
             predicted_change: float | None = None) -> Evaluation:
    """The :class:`Evaluation` of ``model`` on ``task``'s data."""
    loss_fn = task.loss_fn()
    with torch.no_grad():
        loss = float(loss_fn(model(task_data.x_train), task_data.t_train))
        test_loss = float(loss_fn(model(task_data.x_test), task_data.t_test))
    mask = model_mask(model)
    total = sum(m.numel() for m in mask.values())
    remaining = sum(int(m.sum()) for m in mask.values())
    nonzero = sum(int((t.detach() != 0).sum()) for t in effective_params(model).values())
    mse = task.loss == "mse"
    return Evaluation(
        loss=loss,
        loss_db=_db(loss) if mse else None,
        test_loss=test_loss,
        test_loss_db=_db(test_loss) if mse else None,
        train_accuracy=task.accuracy(model, task_data.x_train, task_data.y_train),
        test_accuracy=task.accuracy(model, task_data.x_test, task_data.y_test),
        total_parameters=total,
        remaining_parameters=remaining,
        nonzero_parameters=nonzero,
        sparsity=1.0 - remaining / total if total else 0.0,
        baseline_loss=None if baseline_loss is None else float(baseline_loss),
        actual_change=None if baseline_loss is None else loss - float(baseline_loss),
        predicted_change=None if predicted_change is None else float(predicted_change),
    )
