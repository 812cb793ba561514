"""The leaderboard's protocol (version :data:`PROTOCOL`; CONTRIBUTING.md explains it for contributors).

- tasks :data:`TASKS`: the dense model of (task, seed) is ``Task.trained(seed)``, cached and shared by every method;
- sparsities :data:`SPARSITIES` of the prunable entries (every free parameter, biases included, as in both papers);
  each sparsity is reached one-shot from a fresh copy of the dense model (``prune.one_shot_path``: a method with a
  deletion path, ``obs-full``, reaches all of them from one sequence, ending a group at each), evaluated, then
  retrained with the masks for a fixed budget (:data:`RETRAIN`: full-batch L-BFGS iterations for the tasks trained
  by L-BFGS alone, one Adam epoch for those trained by Adam; the task's weight decay) and evaluated again;
- :data:`SEEDS` seeds (0..4) at least; one torch thread (:data:`THREADS`), so results do not depend on ``--jobs``;
- metrics: test accuracy and loss (and train accuracy and loss) at each sparsity; the area under the test-accuracy
  -sparsity curve from the dense model (sparsity 0) to the largest sparsity, divided by that span (a mean accuracy,
  :func:`auc`); the cost of one saliency computation on the dense model: wall time and peak memory
  (:data:`MEMORY_MEASURE`), plus the wall time of the one-shot pruning to the largest sparsity.

The entries (:data:`PRESETS`, or any registered method through :func:`resolve_methods`), the published reference
numbers (:data:`PUBLISHED`) and what ``check`` re-runs and accepts (:data:`CHEAP_TASKS`, :data:`CHECK_SPARSITY`,
:data:`TOLERANCE`) belong to the protocol too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CHEAP_TASKS", "CHECK_SPARSITY", "CUDA_MEMORY_MEASURE", "MEMORY_MEASURE", "PRESETS", "PROTOCOL", "PUBLISHED",
           "PUBLISHED_MODEL_TASKS", "RETRAIN", "SEEDS", "SPARSITIES", "TASKS", "THREADS", "TOLERANCE", "auc",
           "resolve_methods", "retrain_budget", "seeds_needed"]

PROTOCOL = "1"
"""Version of the protocol below; an entry made under another version is rejected by ``check``."""

TASKS = ("digits", "usps", "monks-1", "monks-2", "monks-3", "mnist", "woodfisher-published")
"""Protocol tasks (``prunebench tasks``); USPS and MNIST need their files in the data root."""

PUBLISHED_MODEL_TASKS = ("woodfisher-published",)
"""Tasks whose dense model is a published checkpoint: one model, so one seed (0), not :data:`SEEDS`."""

SPARSITIES = (0.5, 0.75, 0.9, 0.95)
"""Target fractions of prunable entries deleted, each reached one-shot from the dense model."""

SEEDS = 5
"""Seeds every committed entry must have (0..4 by default)."""

THREADS = 1
"""torch threads inside a unit: summation order, hence the last bits, then do not depend on the worker count."""

RETRAIN: dict[str, dict[str, Any]] = {
    "lbfgs": {"optimizer": "lbfgs", "epochs": 50},
    "adam": {"optimizer": "adam", "epochs": 1, "lr": 1e-3, "batch_size": 128},
}
"""The fixed retraining budget after one-shot pruning, by the first optimiser of the task's recipe: 50 full-batch
L-BFGS iterations (digits, MONK), or one Adam epoch at lr 1e-3, batch 128 (USPS: 57 steps; MNIST: 469 steps); the
task's weight decay is added."""

CHEAP_TASKS = ("monks-1", "monks-2", "monks-3", "digits")
"""Tasks whose entries ``check`` re-runs by default (seconds per entry once the dense models are cached)."""

CHECK_SPARSITY = 0.9
"""The sparsity ``check`` re-runs (one-shot and retrained), for the first seed of an entry."""

TOLERANCE = {"loss_rtol": 1e-6, "accuracy_examples": 1}
"""What ``check`` accepts when it re-runs a stored number.

``loss_rtol``: relative difference of a loss. A re-run on the same machine and BLAS build is deterministic (one
thread, fixed seeds) and agrees bitwise. Changing only the summation order (2 threads instead of 1, a stand-in for
another BLAS build or CPU) moved the trained MONK-1 model by 6e-11 relative and its pruned losses by 3e-13 to 5e-11
(float64), and left the digits model bitwise unchanged, so 1e-6 leaves four orders of margin. The float32 tasks
(USPS, MNIST) are not re-run by default; across machines pass ``--rtol 1e-3``. ``accuracy_examples``: an accuracy
may differ by this many test examples (an example within rounding of the decision boundary may flip)."""

MEMORY_MEASURE = ("peak resident set size of the process during one saliency call minus its size just before "
                  "(Linux VmHWM after resetting it through /proc/self/clear_refs), in MiB; memory the allocator "
                  "kept from earlier work and reuses is not counted, so small values (a few MiB) are noise")
"""How ``saliency_peak_mib`` is measured on CPU (on CUDA: the increase of ``torch.cuda.max_memory_allocated``)."""

CUDA_MEMORY_MEASURE = "increase of torch.cuda.max_memory_allocated during one saliency call, in MiB"

PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "random": ("random", {}),
    "magnitude-global": ("magnitude", {"scope": "global"}),
    "magnitude-layer": ("magnitude", {"scope": "layer"}),
    "obd-lecun-lm": ("obd", {"curvature": "lecun-lm"}),
    "obd-lecun": ("obd", {"curvature": "lecun"}),
    "obd-exact": ("obd", {"curvature": "exact"}),
    "obd-ggn": ("obd", {"curvature": "ggn"}),
    "obd-fisher": ("obd", {"curvature": "fisher"}),
    "obd-hutchinson": ("obd", {"curvature": "hutchinson"}),
    "obs-recursion": ("obs", {"hessian": "recursion"}),
    "obs-exact": ("obs", {"hessian": "exact", "on_indefinite": "damp"}),
    "obs-ggn": ("obs", {"hessian": "ggn", "on_indefinite": "damp"}),
    "obs-fisher": ("obs", {"hessian": "fisher", "on_indefinite": "damp"}),
    "obs-block-diagonal": ("obs", {"hessian": "block-diagonal"}),
    "obs-full-fisher": ("obs-full", {"hessian": "fisher", "samples": 1000, "damping": 1e-5, "group_size": 64,
                                     "dtype": "float32"}),
    "obs-full-layer": ("obs-full", {"hessian": "fisher", "samples": 1000, "damping": 1e-5, "group_size": 64,
                                    "dtype": "float32", "blocks": "module"}),
    "woodfisher-block": ("obs-full", {"hessian": "fisher", "samples": 100, "damping": 1e-5, "blocks": "module",
                                      "procedure": "one-step", "dtype": "float32"}),
    "kfac": ("kfac", {"damping": 1e-5}),
}
"""The seeded entries: entry name -> (registered method, parameters). ``--method`` accepts these names or any
registered method (built in or plug-in). OBS with a Cholesky-inverted matrix (exact, GGN, Fisher) damps it until
it factorises: a trained net need not sit at an exact minimum, and a GGN or Fisher matrix of few samples or
saturated units is singular. ``obs-full-*`` is OBS at scale (:mod:`prunebench.methods.fullobs`) with the
WoodFisher repository's settings (empirical Fisher of 1,000 training points, damping 1e-5, float32 inverse),
64 weights per group; ``-layer`` inverts one block per layer (WoodFisher's blockwise OBS). It is the only OBS
that fits MNIST's 32,360 weights (``obs-*`` build their inverse by the paper's recursion or a dense matrix).
``woodfisher-block`` is WoodFisher's own blockwise procedure (layer blocks, 100 gradients, one ranking, the
sum of single-weight updates); ``kfac`` OBS under the K-FAC Fisher (:mod:`prunebench.methods.martens2015kfac`)
from all the training points given."""

PUBLISHED: dict[str, dict[str, Any]] = {
    "woodfisher-published": {
        "source": ("WoodFisher repository (Singh & Alistarh, NeurIPS 2020), regression test of MLP 784-40-20-10 "
                   "(ReLU, no biases): one-shot to 95% sparsity, no fine-tuning; the test file says the numbers "
                   "depend on the PyTorch version (PAPERS.md section 4, secondary)"),
        "dense": 0.9397,
        "rows": [("WoodFisher (blockwise OBS, empirical Fisher)", 0.95, 0.8418),
                 ("K-FAC", 0.95, 0.8126),
                 ("diagonal Fisher (OBD-like)", 0.95, 0.1988)],
    },
}
"""Published numbers shown beside our entries as reference rows marked "published, not run here", under the
task of the model they were measured on (the published checkpoint, not our trained ``mnist`` models)."""

_ENTRY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")


def auc(sparsities: Sequence[float], accuracies: Sequence[float], dense_accuracy: float) -> float:
    """Area under test accuracy vs sparsity, from the dense model (0, ``dense_accuracy``) through each
    ``(sparsity, accuracy)`` (trapezoids), divided by the largest sparsity: a mean accuracy in [0, 1].

    >>> auc([0.25, 0.5], [1.0, 0.0], dense_accuracy=1.0)  # (0.25 * 1 + 0.25 * 0.5) / 0.5
    0.75
    """
    xs = [0.0, *map(float, sparsities)]
    ys = [float(dense_accuracy), *map(float, accuracies)]
    if len(xs) != len(ys) or any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
        raise ValueError(f"sparsities must increase from above 0 and match the accuracies one to one; got "
                         f"{list(sparsities)} and {list(accuracies)}")
    area = sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:], strict=False))
    return area / xs[-1]


def seeds_needed(task: str) -> int:
    """Seeds an entry of ``task`` needs: :data:`SEEDS`, or one for a published model."""
    return 1 if task in PUBLISHED_MODEL_TASKS else SEEDS


def retrain_budget(task) -> dict[str, Any]:
    """The fixed retraining budget (:data:`RETRAIN`) of ``task`` (a :class:`prunebench.tasks.Task`), with its
    weight decay."""
    budget = RETRAIN["lbfgs" if task.recipe.optimizer == "lbfgs" else "adam"]
    return {**budget, "weight_decay": task.recipe.weight_decay}


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _entry_name(method: str, params: Mapping[str, Any]) -> str:
    name = "-".join([method, *(str(v) for v in params.values())]).lower()
    return re.sub(r"[^a-z0-9_.+-]+", "-", name).strip("-")


def resolve_methods(methods: Sequence[str] | None, params: Sequence[str] = (), name: str | None = None
                    ) -> list[tuple[str, str, dict[str, Any]]]:
    """``(entry name, registered method, parameters)`` for each ``--method`` value: a :data:`PRESETS` name or a
    registered method (built in or plug-in). ``params`` (``KEY=VALUE``, the value parsed as JSON when it can be)
    and ``name`` apply to a single method. ``None`` means every preset."""
    if not methods:
        if params or name:
            raise ValueError("--param and --name need exactly one --method; got none")
        return [(entry, method, dict(p)) for entry, (method, p) in PRESETS.items()]
    if (params or name) and len(methods) != 1:
        raise ValueError(f"--param and --name need exactly one --method; got {len(methods)}: {list(methods)}")
    extra: dict[str, Any] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param must look like KEY=VALUE (e.g. curvature=ggn or alpha=1e-6); got {item!r}")
        extra[key.strip()] = _parse_value(value)
    from ..methods import registry

    out = []
    for method in methods:
        if method in PRESETS:
            registered, preset = PRESETS[method]
            merged = {**preset, **extra}
            entry = name or (method if not extra else _entry_name(registered, merged))
        elif method in registry.available():
            registered, merged = method, extra
            entry = name or _entry_name(method, extra)
        else:
            raise ValueError(f"--method must be a leaderboard preset {sorted(PRESETS)} or a registered method "
                             f"{registry.available()}; got {method!r}. Install the plug-in that provides it "
                             "(`prunebench methods` lists what is installed)")
        if not _ENTRY_NAME.match(entry):
            raise ValueError(f"--name must be lower-case letters, digits and _.+- (starting with a letter or digit); "
                             f"got {entry!r}")
        out.append((entry, registered, merged))
    return out
