"""Speed of Optimal Brain Surgeon's deletions and accuracy of every pruning method at fixed sparsities.

``OBSDeletion.time_deletion_step`` is one step of OBS's sequence on an inverse built in ``setup``: the
smallest saliency, the eq. (5) update and the O(P^2) downdate. ``OBSSequence.time_sequence`` is the whole
procedure from the dense model: the inverse (eq. 17 recursion) and every deletion down to 90% sparsity.
``PruningAccuracy.track_test_accuracy`` prunes the trained MONK-1 net once, without retraining, with each
registered method and reports its test accuracy: a change here is a change of what a method deletes.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from . import common
from .common import DEVICES

OBS_MODELS = ["monk-17-3-1", "monk-17-2-1", "mlp-64-32-10", "lenet-usps"]
"""Anchor models whose dense inverse fits (P <= 8,000)."""

SEQUENCE_LIMIT = 2500
"""Largest P whose full OBS sequence is timed (P deletions, each O(P^2))."""

OBS_BATCH = 128


_SEQUENCES: dict[tuple[str, str], object] = {}


class OBSDeletion:
    """One OBS deletion step on the recursion inverse (float64), built once per process and not timed.

    asv runs ``setup`` before every timed call; the sequence (and its inverse) is kept across those calls, so
    each sample times the next deletion of the same run (at most 20 of the at least 39 weights).
    """

    param_names = ["model", "device"]
    params = [OBS_MODELS, DEVICES]
    number = 1
    warmup_time = 0.0
    repeat = (3, 10, 30.0)
    timeout = 600

    def setup(self, model, device):
        methods = common.require("methods")
        self.problem = p = common.problem(model, device, "float64", OBS_BATCH)
        if (model, device) not in _SEQUENCES:
            steps = methods.get("obs").sequence(p.model, p.loss_fn, p.inputs, p.targets)
            next(steps)
            _SEQUENCES[model, device] = steps
        self.steps = _SEQUENCES[model, device]

    def time_deletion_step(self, model, device):
        next(self.steps)
        self.problem.sync()


class OBSSequence:
    """OBS from the dense model to 90% sparsity: inverse, then one deletion at a time."""

    param_names = ["model", "device"]
    params = [OBS_MODELS, DEVICES]
    number = 1
    warmup_time = 0.0
    repeat = (1, 3, 60.0)
    timeout = 900

    def setup(self, model, device):
        if common.parameter_count(model) > SEQUENCE_LIMIT:
            size = common.parameter_count(model)
            common.skip(f"{model} has {size} > {SEQUENCE_LIMIT} parameters: its full "
                        "OBS sequence takes minutes")
        methods = common.require("methods")
        self.prune = common.require("prune")
        self.problem = common.problem(model, device, "float64", OBS_BATCH)
        self.obs = methods.get("obs")

    def time_sequence(self, model, device):
        p = self.problem
        self.prune.one_shot(copy.deepcopy(p.model), self.obs, p.loss_fn, p.inputs, p.targets, 0.9)
        p.sync()


def _data_root() -> str | None:
    """``PRUNEBENCH_DATA``, else ``datasets/`` of the checkout asv runs from, else the package's default."""
    if os.environ.get("PRUNEBENCH_DATA"):
        return os.environ["PRUNEBENCH_DATA"]
    here = Path(os.environ.get("ASV_CONF_DIR", Path(__file__).resolve().parents[1])) / "datasets"
    return str(here) if here.is_dir() else None


class PruningAccuracy:
    """Test accuracy of the trained MONK-1 net (17-3-1, 58 weights) after one-shot pruning, no retraining."""

    param_names = ["method", "sparsity"]
    params = [["random", "magnitude", "obd", "obs"], [0.5, 0.8, 0.9]]
    timeout = 600

    def setup_cache(self):
        """Train once per commit (the commit's own training code, seed 0); None when it cannot (skipped)."""
        try:
            from prunebench import tasks

            task = tasks.get("monks-1")
            model, data, _ = task.trained(0, _data_root(), cache=False)
        except (ImportError, AttributeError, ValueError, FileNotFoundError) as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            return f"{type(exc).__name__}: {first_line} (set PRUNEBENCH_DATA to a data root with monks/)"
        return model, data

    def setup(self, cache, method, sparsity):
        if isinstance(cache, str):
            common.skip(f"no trained MONK-1 model: {cache}")
        methods = common.require("methods")
        if method not in methods.available():
            common.skip(f"method {method!r} is not registered in this commit")
        self.prune = common.require("prune")
        self.tasks = common.require("tasks")
        self.method = methods.get(method)

    def track_test_accuracy(self, cache, method, sparsity):
        model, data = cache
        model = copy.deepcopy(model)
        task = self.tasks.get("monks-1")
        self.prune.one_shot(model, self.method, task.loss_fn(), data.x_train, data.t_train, sparsity)
        return task.accuracy(model, data.x_test, data.y_test)

    track_test_accuracy.unit = "fraction"
