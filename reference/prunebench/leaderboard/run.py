"""The leaderboard: a fixed protocol, one JSON entry per (task, method), a renderer and a checker.

``prunebench leaderboard run`` prunes the shared dense model of every (task, seed) with a method, one-shot and then
with a fixed retraining budget, at the protocol's sparsities, and writes ``leaderboard/entries/<task>/<entry>.json``
(schema ``prunebench/schemas/leaderboard-entry.schema.json``): the method and its parameters, per-seed numbers,
their median and 95% bootstrap CI, and provenance. ``render`` turns the entries into ``leaderboard/LEADERBOARD.md``,
the README block and the figures; ``check`` validates every entry, recomputes its aggregates, checks the rendering
is not stale and re-runs a cheap subset, failing when a stored number is not reproduced (see :data:`TOLERANCE`).

The protocol (version :data:`PROTOCOL`; CONTRIBUTING.md explains it for contributors):

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

Rendering imports no torch (entries are plain JSON); running and re-running do.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import importlib.metadata
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import records
from ._validation import output_folder, task_name
from .experiments.base import Experiment, parse_seeds, run_units, units_provenance
from .report import markdown_table

if TYPE_CHECKING:
    from .evaluate import Evaluation

__all__ = ["CHEAP_TASKS", "CHECK_SPARSITY", "MEMORY_MEASURE", "PRESETS", "PROTOCOL", "PUBLISHED",
           "PUBLISHED_MODEL_TASKS", "README_BEGIN", "README_END", "RETRAIN", "SCHEMA", "SEEDS", "SPARSITIES", "TASKS",
           "THREADS", "TOLERANCE", "LeaderboardError", "aggregate", "auc", "check", "conformance", "load_entries",
           "markdown",
           "readme_block", "register_cli", "render", "resolve_methods", "run", "run_seed", "validate_entry"]

log = logging.getLogger(__name__)

PROTOCOL = "1"
"""Version of the protocol below; an entry made under another version is rejected by ``check``."""

SCHEMA = "prunebench.leaderboard-entry/1"

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

_CUDA_MEMORY_MEASURE = "increase of torch.cuda.max_memory_allocated during one saliency call, in MiB"

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

README_BEGIN = "<!-- BEGIN leaderboard -->"
README_END = "<!-- END leaderboard -->"
_GENERATED = ("<!-- Generated by `prunebench leaderboard render` from leaderboard/entries; do not edit by hand "
              "(`prunebench leaderboard check` fails when it is stale). -->")
_ENTRY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")


class LeaderboardError(ValueError):
    """An entry that is missing, unreadable, fails its schema, or contradicts itself."""


# ---------------------------------------------------------------------------------------------- metrics


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


_METRICS = ("test_accuracy", "test_loss", "train_accuracy", "train_loss")


def _stat(values: Sequence[float]) -> dict[str, Any]:
    from .stats import bootstrap_ci

    median, low, high = bootstrap_ci(list(values))
    return {"median": median, "low": low, "high": high, "n": len(values)}


def aggregate(per_seed: Sequence[Mapping]) -> dict[str, Any]:
    """Median and 95% bootstrap CI over seeds (:func:`prunebench.stats.bootstrap_ci`, seeded) of every number of
    ``per_seed`` (the entry's list of per-seed results)."""
    def over(get) -> dict[str, Any]:
        return _stat([get(row) for row in per_seed])

    sparsities = [r["sparsity"] for r in per_seed[0]["one_shot"]]
    out: dict[str, Any] = {"dense": {m: over(lambda r, m=m: r["dense"][m]) for m in _METRICS}}
    for regime in ("one_shot", "retrained"):
        out[regime] = [{"sparsity": s, **{m: over(lambda r, i=i, m=m, g=regime: r[g][i][m]) for m in _METRICS}}
                       for i, s in enumerate(sparsities)]
    out["auc"] = {g: over(lambda r, g=g: r["auc"][g]) for g in ("one_shot", "retrained")}
    peaks = [r["cost"]["saliency_peak_mib"] for r in per_seed]
    out["cost"] = {"saliency_time_s": over(lambda r: r["cost"]["saliency_time_s"]),
                   "saliency_peak_mib": None if any(p is None for p in peaks) else _stat(peaks),
                   "prune_time_s": over(lambda r: r["one_shot"][-1]["seconds"])}
    return out


# ---------------------------------------------------------------------------------------------- methods


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
    from .methods import registry

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


def _distribution(method: str, cls: type) -> dict[str, str]:
    """The installed distribution providing ``cls`` (pip install NAME==VERSION reproduces the entry)."""
    from . import __version__
    from .methods.registry import ENTRY_POINT_GROUP

    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == method and ep.dist is not None:
            return {"name": ep.dist.metadata["Name"], "version": ep.dist.version}
    top = cls.__module__.partition(".")[0]
    if top == "prunebench":
        return {"name": "prunebench", "version": __version__}
    return {"name": top, "version": "unknown"}


def _method_info(method: str, instance) -> dict[str, Any]:
    from .methods import registry

    cls = type(instance)
    about = registry.describe(method)
    return {"name": method, "params": _jsonable(instance.params), "class": about["class"],
            "citation": cls.citation, "curvature": cls.curvature, "moves_weights": cls.moves_weights,
            "distribution": _distribution(method, cls)}


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=repr))


# ---------------------------------------------------------------------------------------------- running


def _retrain(task) -> dict[str, Any]:
    budget = RETRAIN["lbfgs" if task.recipe.optimizer == "lbfgs" else "adam"]
    return {**budget, "weight_decay": task.recipe.weight_decay}


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {key}")


def _reset_peak_rss() -> int | None:
    """Reset the kernel's peak-RSS mark of this process; the RSS now (bytes), or None where that is impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_bytes("VmRSS")
    except OSError:
        return None


def _saliency_cost(method, model, loss_fn, inputs, targets, device: str) -> dict[str, Any]:
    """Wall time and peak memory (:data:`MEMORY_MEASURE`) of one ``method.saliency`` call on ``model``."""
    import torch

    from .methods.base import check_tensors, guest, model_mask

    mask = model_mask(model)
    gc.collect()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    else:
        before = _reset_peak_rss()
    start = time.perf_counter()
    with guest(method):
        saliency = method.saliency(model, loss_fn, inputs, targets, mask=mask)
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if cuda:
        peak = (torch.cuda.max_memory_allocated(device) - before) / 2**20
    else:
        peak = None if before is None else max(_status_bytes("VmHWM") - before, 0) / 2**20
    check_tensors(method, "saliency", saliency, model)
    return {"saliency_time_s": seconds, "saliency_peak_mib": peak}


def _metrics(result: Evaluation) -> dict[str, float]:
    return {m: float(getattr(result, m if m != "train_loss" else "loss")) for m in _METRICS}


def run_seed(task: str, method: str, params: Mapping[str, Any], seed: int, *,
             sparsities: Sequence[float] = SPARSITIES, root=None, device: str = "cpu",
             measure_cost: bool = True) -> dict[str, Any]:
    """One unit of the protocol: the shared dense model of (``task``, ``seed``) pruned by ``method`` at each of
    ``sparsities``, one-shot and retrained. Deterministic: the same arguments give the same numbers (one thread),
    except the times. ``measure_cost=False`` (``check``) skips the separate saliency timing (``"cost": None``)."""
    from . import methods, prune, tasks
    from .evaluate import evaluate
    from .train import TrainConfig, fit

    spec = tasks.get(task)
    instance = methods.get(method, **params)
    start = time.perf_counter()
    with _threads(THREADS):
        dense, data, info = spec.trained(seed, root, device=device)
        loss_fn = spec.loss_fn()
        x, t = data.x_train, data.t_train
        cost = _saliency_cost(instance, copy.deepcopy(dense), loss_fn, x, t, device) if measure_cost else None
        dense_metrics = _metrics(evaluate(dense, spec, data))
        budget = TrainConfig(**_retrain(spec))
        one_shot, retrained = [], []
        path, pruning = prune.one_shot_path(dense, instance, loss_fn, x, t, sparsities), 0.0
        for s in sparsities:
            began = time.perf_counter()
            model, result = next(path)
            # From the dense model to this sparsity: a method with a deletion path continues one sequence.
            elapsed = time.perf_counter() - began
            pruning = pruning + elapsed if prune.has_path(instance) else elapsed
            pruned = evaluate(model, spec, data)
            one_shot.append({"sparsity": float(s), "achieved_sparsity": pruned.sparsity,
                             "seconds": pruning, "stopped": result.stopped, **_metrics(pruned)})
            began = time.perf_counter()
            fit(model, loss_fn, x, t, budget, seed=seed)
            again = evaluate(model, spec, data)
            retrained.append({"sparsity": float(s), "achieved_sparsity": again.sparsity,
                              "seconds": time.perf_counter() - began, **_metrics(again)})
    dense_acc = dense_metrics["test_accuracy"]
    fit_info = info.get("fit", {})
    return {
        "seed": seed,
        "dense": dense_metrics,
        "dense_fit": {"iterations": fit_info.get("iterations"), "objective_grad_norm": fit_info.get(
            "objective_grad_norm"), "restarts": info.get("restarts"), "recipe_digest": spec.recipe_digest()},
        "cost": cost,
        "one_shot": one_shot,
        "retrained": retrained,
        "auc": {g: auc(sparsities, [r["test_accuracy"] for r in rows], dense_acc)
                for g, rows in (("one_shot", one_shot), ("retrained", retrained))},
        "wall_time_s": time.perf_counter() - start,
    }


class _EntryUnits(Experiment):
    """One (task, entry) of the leaderboard as units of the experiment harness, one per seed."""

    name = "leaderboard"
    title = "prunebench leaderboard"
    paper = ""

    def __init__(self, label: str, root=None):
        self.name = label
        self.root = None if root is None else str(root)

    def run_unit(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        return run_seed(config["task"], config["method"], config["params"], unit["seed"],
                        sparsities=config["sparsities"], root=self.root, device=config["device"])


def conformance(instance) -> list[str]:
    """Run the conformance checks of :func:`prunebench.testing.check_method` on a method instance (seconds, on a
    tiny problem); returns the checks passed, or raises :class:`prunebench.methods.base.MethodError` naming the
    method and the check it fails."""
    from .methods.base import MethodError, guest, method_name
    from .testing import check_method

    try:
        with guest(instance):
            return check_method(instance)
    except MethodError as exc:
        if isinstance(exc.__cause__, AssertionError):
            raise MethodError(f"method {method_name(instance)!r} fails the conformance checks of "
                              f"prunebench.testing: {' '.join(str(exc.__cause__).split())}") from exc.__cause__
        raise


def _task_info(spec, root) -> dict[str, Any]:
    from .models import build

    data = spec.data(root)
    return {"description": spec.description, "model": spec.model,
            "free_parameters": build(spec.model).free_parameters(), "n_train": int(data.x_train.shape[0]),
            "n_test": int(data.x_test.shape[0]), "dtype": str(spec.dtype).removeprefix("torch.")}


def run(tasks: Sequence[str], entries: Sequence[tuple[str, str, dict[str, Any]]], *, seeds: Sequence[int],
        sparsities: Sequence[float] = SPARSITIES, out: str | Path = "leaderboard", work: str | Path | None = None,
        jobs: int = 1, scheduler: str | None = None, device: str = "cpu", root=None, progress: bool = True,
        allow_dirty: bool = False, reuse_stale: bool = False) -> list[Path]:
    """Run (or resume) every ``(task, entry)`` and write ``<out>/entries/<task>/<entry>.json``; returns the paths.

    Units (one per seed) are saved under ``<work>/<task>/<entry>/units`` (default ``<out>/.work``, git-ignored)
    and skipped when run again, unless computed by other code or configuration (``reuse_stale`` keeps those).
    ``entries`` come from :func:`resolve_methods`. The source tree must be clean (tracked files equal to the
    commit, outputs aside) unless ``allow_dirty``, which marks the entries dirty."""
    from . import methods
    from . import tasks as task_registry

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be a positive integer; got {jobs!r}")
    sparsities = [float(s) for s in sparsities]
    if not sparsities or any(not 0 < s < 1 for s in sparsities) or sorted(set(sparsities)) != sparsities:
        raise ValueError(f"sparsities must be increasing, distinct and in (0, 1), e.g. 0.5,0.75,0.9,0.95; got "
                         f"{sparsities}")
    specs = [task_registry.get(t) for t in tasks]
    out = output_folder(out, "--out")
    work = output_folder(work if work is not None else out / ".work", "--work")
    for _, method, params in entries:
        conformance(methods.get(method, **params))
    state = records.git_state([out, work])
    records.require_clean(state, allow_dirty)
    args = argparse.Namespace(jobs=jobs, scheduler=scheduler, no_progress=not progress, reuse_stale=reuse_stale)
    written = []
    for spec in specs:
        info = _task_info(spec, root)
        for entry, method, params in entries:
            instance = methods.get(method, **params)
            method_info = _method_info(method, instance)
            config = _jsonable({"protocol": PROTOCOL, "task": spec.name, "entry": entry, "method": method,
                                "params": method_info["params"], "sparsities": sparsities,
                                "retrain": _retrain(spec), "device": device, "threads": THREADS,
                                "include_bias": True})
            units = [{"id": f"seed={s}", "seed": s} for s in seeds]
            start = time.perf_counter()
            done = run_units(_EntryUnits(f"{spec.name}/{entry}", root), config, units, work / spec.name / entry,
                             args, state=state)
            per_seed = [done[u["id"]]["result"] for u in units]
            prov = records.provenance(device=device, dtype=info["dtype"], seeds=list(seeds),
                                      wall_time=sum(done[u["id"]]["wall_time_s"] for u in units), state=state)
            prov.update(session_wall_time_s=time.perf_counter() - start, threads=THREADS, cpu=records.cpu_name(),
                        logical_cpus=os.cpu_count(),
                        units=units_provenance(config, [done[u["id"]] for u in units], state))
            document = {
                "schema": SCHEMA, "protocol": PROTOCOL, "task": spec.name, "entry": entry, "task_info": info,
                "method": method_info,
                "config": {"sparsities": sparsities, "retrain": config["retrain"], "seeds": list(seeds),
                           "device": device, "dtype": info["dtype"], "threads": THREADS, "include_bias": True,
                           "memory_measure": _CUDA_MEMORY_MEASURE if device.startswith("cuda") else MEMORY_MEASURE,
                           "ranking": "global"},
                "per_seed": per_seed, "aggregate": aggregate(per_seed), "provenance": prov,
            }
            validate_entry(document, f"entry {spec.name}/{entry}")
            written.append(records.atomic_write_json(out / "entries" / spec.name / f"{entry}.json", document))
    return written


# ---------------------------------------------------------------------------------------------- entries


@cache
def _schema() -> dict:
    return json.loads(resources.files("prunebench").joinpath("schemas/leaderboard-entry.schema.json").read_text())


def validate_entry(entry: Any, source: str = "entry") -> None:
    """Raise :class:`LeaderboardError` naming the first place where ``entry`` does not follow the schema."""
    import jsonschema

    try:
        jsonschema.validate(entry, _schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "(top level)"
        raise LeaderboardError(f"{source} does not follow {SCHEMA}: at {where}: {exc.message}. Regenerate it with "
                               "`prunebench leaderboard run` (the command is in its provenance)") from None


def read_entry(path: str | Path) -> dict:
    """Load one entry file and validate it, including that its path is ``<task>/<entry>.json``."""
    path = Path(path)
    try:
        entry = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LeaderboardError(f"{path} is not valid JSON ({exc}); regenerate it with `prunebench leaderboard "
                               "run`") from None
    validate_entry(entry, str(path))
    entry["task"] = task_name(entry["task"], warn=False)  # an entry made before its task was renamed
    if (path.parent.name, path.stem) != (entry["task"], entry["entry"]):
        raise LeaderboardError(f"{path} holds task {entry['task']!r}, entry {entry['entry']!r}; it must be named "
                               f"entries/{entry['task']}/{entry['entry']}.json")
    return entry


def load_entries(directory: str | Path) -> list[dict]:
    """Every entry under ``<directory>/entries``, validated, sorted by (task, entry)."""
    base = Path(directory) / "entries"
    return [read_entry(p) for p in sorted(base.glob("*/*.json"))]


def _consistency(entry: Mapping) -> list[str]:
    """Problems inside one entry: per-seed rows that disagree with the config, and stored aggregates or AUCs that
    are not what the per-seed numbers give."""
    where = f"{entry['task']}/{entry['entry']}"
    problems = []
    sparsities = entry["config"]["sparsities"]
    seeds = [row["seed"] for row in entry["per_seed"]]
    if seeds != entry["config"]["seeds"]:
        problems.append(f"{where}: per-seed rows are for seeds {seeds}, config says {entry['config']['seeds']}")
    for row in entry["per_seed"]:
        for regime in ("one_shot", "retrained"):
            if [r["sparsity"] for r in row[regime]] != sparsities:
                problems.append(f"{where}: seed {row['seed']} {regime} sparsities differ from {sparsities}")
    if problems:
        return problems
    for row in entry["per_seed"]:
        for regime in ("one_shot", "retrained"):
            value = auc(sparsities, [r["test_accuracy"] for r in row[regime]], row["dense"]["test_accuracy"])
            if not math.isclose(value, row["auc"][regime], rel_tol=1e-12, abs_tol=1e-12):
                problems.append(f"{where}: seed {row['seed']} stores {regime} AUC {row['auc'][regime]!r}; its "
                                f"accuracies give {value!r}")
    expected = aggregate(entry["per_seed"])
    for path, stored, fresh in _diff_numbers(entry["aggregate"], expected):
        problems.append(f"{where}: aggregate/{path} is {stored!r} but the per-seed numbers give {fresh!r}; "
                        "aggregates are never edited by hand")
    return problems


def _diff_numbers(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b)):
            yield from _diff_numbers(a.get(key), b.get(key), f"{path}/{key}" if path else str(key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _diff_numbers(x, y, f"{path}/{i}")
    elif isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            yield path, a, b
    elif a != b:
        yield path, a, b


def _conformance(entry: Mapping) -> list[str]:
    """Where an entry departs from the protocol (fine for trials with ``--allow-partial``, not for the board)."""
    where = f"{entry['task']}/{entry['entry']}"
    config = entry["config"]
    problems = []
    if entry["protocol"] != PROTOCOL:
        problems.append(f"{where}: made under protocol {entry['protocol']!r}, the current one is {PROTOCOL!r}; "
                        "re-run it")
    if entry["task"] not in TASKS:
        problems.append(f"{where}: task {entry['task']!r} is not a protocol task {list(TASKS)}")
    if [float(s) for s in config["sparsities"]] != list(SPARSITIES):
        problems.append(f"{where}: sparsities {config['sparsities']} differ from the protocol's {list(SPARSITIES)}")
    if len(config["seeds"]) < _seeds_needed(entry["task"]):
        problems.append(f"{where}: {len(config['seeds'])} seed(s); the protocol needs at least "
                        f"{_seeds_needed(entry['task'])}")
    if config["threads"] != THREADS or not config["include_bias"]:
        problems.append(f"{where}: threads={config['threads']}, include_bias={config['include_bias']}; the "
                        f"protocol fixes threads={THREADS}, include_bias=True")
    return problems


def _shared_dense(entries: Sequence[Mapping]) -> list[str]:
    """Every entry of a task must start from the same dense model per seed (same dense test loss)."""
    seen: dict[tuple[str, int], tuple[str, float]] = {}
    problems = []
    for entry in entries:
        for row in entry["per_seed"]:
            key = (entry["task"], row["seed"])
            loss = row["dense"]["test_loss"]
            if key in seen and not math.isclose(seen[key][1], loss, rel_tol=TOLERANCE["loss_rtol"]):
                problems.append(f"{entry['task']}/{entry['entry']}: seed {row['seed']} starts from a dense model with "
                                f"test loss {loss!r}, {seen[key][0]} from {seen[key][1]!r}; entries of a task must "
                                "share the dense models (re-run the older entry)")
            seen.setdefault(key, (entry["entry"], loss))
    return problems


# ---------------------------------------------------------------------------------------------- rendering


def _pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}"


def _pct_ci(stat: Mapping | None) -> str:
    if stat is None:
        return "—"
    if stat["n"] == 1:
        return _pct(stat["median"])
    return f"{_pct(stat['median'])} [{_pct(stat['low'])}, {_pct(stat['high'])}]"


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def _seconds(stat: Mapping) -> str:
    x = stat["median"]
    return f"{x * 1e3:.3g} ms" if x < 1 else f"{x:.3g} s"


def _mib(stat: Mapping | None) -> str:
    if stat is None:
        return "—"
    x = stat["median"]
    return f"{x:,.0f}" if x >= 10 else f"{x:.2g}"


def _params(entry: Mapping) -> str:
    text = ", ".join(f"{k}={json.dumps(v)}" for k, v in entry["method"]["params"].items())
    return f"`{text}`" if text else "—"


def _entries_section(entries: Sequence[Mapping]) -> list[str]:
    """One row per entry name: the method, its parameters, who provides it and what it implements."""
    rows: dict[str, Mapping] = {}
    for entry in entries:
        rows.setdefault(entry["entry"], entry)
    table = []
    for name, entry in sorted(rows.items()):
        method, dist = entry["method"], entry["method"]["distribution"]
        table.append([name, f"`{method['name']}`", _params(entry), f"{dist['name']} {dist['version']}",
                      method["citation"]])
    header = ["entry", "method", "parameters", "provided by", "implements"]
    return ["## Entries", "", *markdown_table(header, table, ["left"] * len(header)), ""]


def _by_task(entries: Sequence[Mapping]) -> dict[str, list[Mapping]]:
    order = {t: i for i, t in enumerate(TASKS)}
    grouped: dict[str, list[Mapping]] = {}
    for entry in sorted(entries, key=lambda e: (order.get(e["task"], len(order)), e["task"], e["entry"])):
        grouped.setdefault(entry["task"], []).append(entry)
    for task in PUBLISHED:
        grouped.setdefault(task, [])
    return dict(sorted(grouped.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _pareto(entries: Sequence[Mapping]) -> set[str]:
    """Entries no other entry beats on both one-shot AUC (higher) and saliency time (lower)."""
    points = {e["entry"]: (e["aggregate"]["auc"]["one_shot"]["median"],
                           e["aggregate"]["cost"]["saliency_time_s"]["median"]) for e in entries}
    return {name for name, (a, t) in points.items()
            if not any((a2 >= a and t2 <= t) and (a2 > a or t2 < t) for other, (a2, t2) in points.items()
                       if other != name)}


def _partial(entry: Mapping) -> bool:
    """Fewer seeds than the protocol asks of its task (:data:`SEEDS`; one for a published model): shown,
    marked, never ranked."""
    return len(entry["config"]["seeds"]) < _seeds_needed(entry["task"])


def _ranked(entries: Sequence[Mapping], regime: str) -> list[tuple[str, Mapping]]:
    """``(rank, entry)``: the entries with the protocol's seeds by AUC (best first), then the partial ones
    (rank "—") in the same order."""
    order = sorted(entries, key=lambda e: (-e["aggregate"]["auc"][regime]["median"], e["entry"]))
    full = [e for e in order if not _partial(e)]
    return [(str(i), e) for i, e in enumerate(full, start=1)] + [("—", e) for e in order if _partial(e)]


def _seeds_needed(task: str) -> int:
    return 1 if task in PUBLISHED_MODEL_TASKS else SEEDS


def _seeds_text(entry: Mapping) -> str:
    n = len(entry["config"]["seeds"])
    return f"{n} (partial: not ranked)" if _partial(entry) else str(n)


def _machines(entries: Sequence[Mapping]) -> str:
    seen = sorted({(e["provenance"].get("cpu"), e["provenance"].get("logical_cpus")) for e in entries
                   if e["provenance"].get("cpu")})
    if not seen:
        return ""
    return " Timed on one thread of " + "; ".join(f"{cpu} ({n} logical CPUs)" for cpu, n in seen) + "."


def _budget(retrain: Mapping) -> str:
    n = retrain["epochs"]
    if retrain["optimizer"] == "lbfgs":
        return f"{n} full-batch L-BFGS iteration{'s' * (n != 1)}"
    return (f"{n} {retrain['optimizer'].capitalize()} epoch{'s' * (n != 1)} (lr {retrain.get('lr')}, batch "
            f"{retrain.get('batch_size')})")


def _task_section(task: str, entries: Sequence[Mapping], base: str) -> list[str]:
    published = PUBLISHED.get(task)
    info = entries[0]["task_info"] if entries else {}
    title = f"## {task}"
    if info:
        title += (f" — {info['description']} ({info['free_parameters']:,} free parameters; "
                  f"{info['n_train']:,} train / {info['n_test']:,} test examples)")
    lines = [title, ""]
    if entries:
        dense = entries[0]["aggregate"]["dense"]
        retrain = entries[0]["config"]["retrain"]
        lines += [f"![{task}: test accuracy vs sparsity, one-shot and retrained](figures/{task}.svg)", "",
                  f"Dense model (shared by every entry): test accuracy {_pct_ci(dense['test_accuracy'])} %, test "
                  f"loss {_num(dense['test_loss']['median'])}. Retraining budget: {_budget(retrain)} with the masks "
                  f"(weight decay {retrain.get('weight_decay', 0)}).{_machines(entries)}", ""]
    sparsities = (entries[0]["config"]["sparsities"] if entries else list(SPARSITIES))
    pareto = _pareto([e for e in entries if not _partial(e)])
    for regime, label in (("one_shot", "One-shot (no retraining)"), ("retrained", "Retrained")):
        if not entries and regime == "retrained":
            continue
        head = ["#", "entry", "AUC",
                *[f"acc @{round(100 * s)}%" for s in sparsities], f"loss @{round(100 * sparsities[-1])}%"]
        if regime == "one_shot":
            head += ["saliency time", "peak MiB", "prune time", "Pareto", "seeds"]
        rows = []
        for rank, entry in _ranked(entries, regime):
            agg = entry["aggregate"]
            name = f"[{entry['entry']}]({base}entries/{task}/{entry['entry']}.json)"
            cells = [rank, name + (" (partial)" if _partial(entry) else ""),
                     _pct_ci(agg["auc"][regime]), *[_pct_ci(row["test_accuracy"]) for row in agg[regime]],
                     _num(agg[regime][-1]["test_loss"]["median"])]
            if regime == "one_shot":
                cost = agg["cost"]
                cells += [_seconds(cost["saliency_time_s"]), _mib(cost["saliency_peak_mib"]),
                          _seconds(cost["prune_time_s"]), "yes" if entry["entry"] in pareto else "",
                          _seeds_text(entry)]
            rows.append(cells)
        if regime == "one_shot" and published:
            for label_, sparsity, acc in published["rows"]:
                cells = ["—", f"{label_} — *published, not run here*", "—",
                         *[_pct(acc, 2) if math.isclose(s, sparsity) else "—" for s in sparsities], "—"]
                cells += ["—", "—", "—", "", "—"]
                rows.append(cells)
        lines += [f"### {label}", "", *markdown_table(head, rows, ["right", "left"] + ["right"] * (len(head) - 2)), ""]
    if published:
        lines += [f"Published reference rows: {published['source']}; published dense accuracy "
                  f"{_pct(published['dense'], 2)} %, measured on this task's dense model (the published "
                  "checkpoint) with their protocol (100 Fisher samples of their order); the entries follow this "
                  "leaderboard's protocol (the methods' own sample draws), and the experiment woodfisher-mnist "
                  "reproduces the published numbers with theirs.", ""]
    return lines


def markdown(entries: Sequence[Mapping], base: str = "") -> str:
    """The full leaderboard page (``leaderboard/LEADERBOARD.md``); links are relative to ``base``."""
    lines = ["# prunebench leaderboard", "", _GENERATED, "",
             f"Protocol v{PROTOCOL} (see [CONTRIBUTING.md](../CONTRIBUTING.md)): each method prunes the same trained "
             f"dense model per (task, seed), one-shot to {', '.join(f'{round(100 * s)}%' for s in SPARSITIES)} of "
             "the free parameters (biases included), then retrains with the masks for a fixed budget. Cells are the "
             "median over seeds with a 95% bootstrap CI of the median in brackets (10,000 resamples, seeded), in % "
             "test accuracy. **AUC** is the area under test accuracy vs sparsity from the dense model (sparsity 0) "
             "to 95%, divided by 0.95 (a mean accuracy; higher is better); entries are ranked by it. **Saliency "
             "time** and **peak MiB** are the cost of one saliency computation on the dense model (one CPU thread; "
             f"memory: {MEMORY_MEASURE}); **prune time** is the whole one-shot pruning to 95% (OBS: the sequential "
             "deletions and downdates too). Times are wall-clock on one CPU thread of the machine that ran the "
             "entry (its provenance says which), so compare them within a task. **Pareto**: no other entry has both "
             f"a higher one-shot AUC and a shorter saliency time. An entry with fewer than {SEEDS} seeds is marked "
             "(partial) and not ranked.", ""]
    for task, group in _by_task(entries).items():
        lines += _task_section(task, group, base)
    if entries:
        lines += _entries_section(entries)
    return "\n".join(lines).rstrip("\n") + "\n"


def readme_block(entries: Sequence[Mapping]) -> str:
    """The README summary between :data:`README_BEGIN` and :data:`README_END`: one-shot AUC per entry and task."""
    grouped = {t: g for t, g in _by_task(entries).items() if g}
    names = sorted({e["entry"] for e in entries})
    full = {t: [e for e in g if not _partial(e)] for t, g in grouped.items()}
    best = {t: max((e["aggregate"]["auc"]["one_shot"]["median"] for e in g), default=None) for t, g in full.items()}
    cell = {(e["task"], e["entry"]): e for e in entries}
    ranks: dict[str, list[int]] = {n: [] for n in names}
    for group in full.values():
        for r, (_, e) in enumerate(_ranked(group, "one_shot"), start=1):
            ranks[e["entry"]].append(r)
    names.sort(key=lambda n: (not ranks[n], sum(ranks[n]) / max(len(ranks[n]), 1), n))
    lines = [_GENERATED, "", f"## Leaderboard (protocol v{PROTOCOL})", "",
             "One-shot AUC: the area under test accuracy vs sparsity (0 to 95% of the weights deleted, no "
             "retraining), in %, median over seeds; best per task in bold; rows by mean rank. Full tables with "
             "confidence intervals, retrained results, compute cost and published reference numbers: "
             "[leaderboard/LEADERBOARD.md](leaderboard/LEADERBOARD.md). To put a method on it (a `pip install`-able "
             "plug-in is enough): `prunebench leaderboard run --method NAME`, then `render` and `check`; see "
             "[CONTRIBUTING.md](CONTRIBUTING.md) and [docs/plugin-example.md](docs/plugin-example.md). An entry "
             f"with fewer than {SEEDS} seeds is marked (partial) and not ranked.", ""]
    if not names:
        return "\n".join([*lines, "No entries yet.", ""])
    rows = []
    for name in names:
        cells = [name]
        for task in grouped:
            entry = cell.get((task, name))
            value = None if entry is None else entry["aggregate"]["auc"]["one_shot"]["median"]
            text = _pct(value)
            if entry is not None and _partial(entry):
                text += " (partial)"
            elif value is not None and value == best[task]:
                text = f"**{text}**"
            cells.append(text)
        rows.append(cells)
    return "\n".join([*lines, *markdown_table(["entry", *grouped], rows, ["left"] + ["right"] * len(grouped))]) + "\n"


def _curves(entries: Sequence[Mapping]) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        for row in entry["per_seed"]:
            for regime, panel in (("one_shot", "one-shot"), ("retrained", "retrained")):
                base = {"series": entry["entry"], "seed": row["seed"], "panel": panel}
                rows.append({**base, "x": 0.0, "y": row["dense"]["test_accuracy"]})
                rows += [{**base, "x": r["sparsity"], "y": r["test_accuracy"]} for r in row[regime]]
    return rows


def figures(entries: Sequence[Mapping]) -> dict[str, bytes]:
    """``{"<task>.png"|"<task>.svg": bytes}``: test accuracy vs sparsity per entry, one-shot and retrained side by
    side, median over seeds with a 95% bootstrap band (:func:`prunebench.report.render_figure`)."""
    from .report import render_figure

    out = {}
    for task, group in _by_task(entries).items():
        if not group:
            continue
        spec = {"id": task, "title": f"{task}: test accuracy vs sparsity",
                "xlabel": "sparsity (fraction of weights deleted)", "ylabel": "test accuracy", "logx": False,
                "logy": False, "panels": ["one-shot", "retrained"]}
        for fmt, data in render_figure(spec, _curves(group)).items():
            out[f"{task}.{fmt}"] = data
    return out


def _replace_block(text: str, body: str) -> str | None:
    i, j = text.find(README_BEGIN), text.find(README_END)
    if i == -1 or j == -1 or j < i:
        return None
    return text[:i + len(README_BEGIN)] + "\n" + body.rstrip("\n") + "\n" + text[j:]


def render(directory: str | Path = "leaderboard", readme: str | Path | None = "README.md", *,
           with_figures: bool = True) -> list[Path]:
    """Write ``<directory>/LEADERBOARD.md``, the figures (``<directory>/figures``) and the README block; returns
    the files written. The README must already hold the markers :data:`README_BEGIN` / :data:`README_END`."""
    directory = Path(directory)
    entries = load_entries(directory)
    written = []
    page = directory / "LEADERBOARD.md"
    page.write_text(markdown(entries))
    written.append(page)
    if with_figures and entries:
        (directory / "figures").mkdir(parents=True, exist_ok=True)
        for name, data in figures(entries).items():
            path = directory / "figures" / name
            path.write_bytes(data)
            written.append(path)
    if readme is not None:
        readme = Path(readme)
        updated = _replace_block(readme.read_text(), readme_block(entries))
        if updated is None:
            raise LeaderboardError(f"{readme} has no leaderboard block; add the two lines {README_BEGIN} and "
                                   f"{README_END} where it should go")
        readme.write_text(updated)
        written.append(readme)
    return written


# ---------------------------------------------------------------------------------------------- checking


def _close_loss(a: float, b: float, rtol: float) -> bool:
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-15)


def _rerun(entry: Mapping, root, rtol: float) -> list[str]:
    """Re-run the first seed of ``entry`` at :data:`CHECK_SPARSITY` and compare with the stored numbers."""
    where = f"{entry['task']}/{entry['entry']}"
    sparsities = entry["config"]["sparsities"]
    s = CHECK_SPARSITY if CHECK_SPARSITY in sparsities else sparsities[-1]
    i = sparsities.index(s)
    stored = entry["per_seed"][0]
    from . import methods, prune

    # A method with a deletion path ends its groups at every sparsity on the way: re-run the same stops.
    path = prune.has_path(methods.get(entry["method"]["name"], **entry["method"]["params"]))
    fresh = run_seed(entry["task"], entry["method"]["name"], entry["method"]["params"], stored["seed"],
                     sparsities=sparsities[: i + 1] if path else [s], root=root, device=entry["config"]["device"],
                     measure_cost=False)
    j = i if path else 0
    n_test = entry.get("task_info", {}).get("n_test")
    acc_tol = TOLERANCE["accuracy_examples"] / n_test if n_test else 0.0
    problems = []
    pairs = [("dense", stored["dense"], fresh["dense"]),
             (f"one-shot @{s}", stored["one_shot"][i], fresh["one_shot"][j]),
             (f"retrained @{s}", stored["retrained"][i], fresh["retrained"][j])]
    for label, old, new in pairs:
        for metric in _METRICS:
            a, b = old[metric], new[metric]
            ok = (_close_loss(a, b, rtol) if metric.endswith("loss")
                  else abs(a - b) <= acc_tol + 1e-12)
            if not ok:
                tol = f"rtol {rtol:g}" if metric.endswith("loss") else f"{TOLERANCE['accuracy_examples']} example(s)"
                problems.append(f"{where}: seed {stored['seed']} {label} {metric} is {b!r} on re-run, the entry "
                                f"stores {a!r} (tolerance {tol})")
    return problems


def check(directory: str | Path = "leaderboard", readme: str | Path | None = "README.md", *,
          tasks: Sequence[str] | None = None, entries: Sequence[str] | None = None, rerun: str = "cheap",
          allow_partial: bool = False, root=None, rtol: float = TOLERANCE["loss_rtol"],
          progress: bool = False, provenance: bool = True) -> list[str]:
    """Every problem with the leaderboard in ``directory``, as one line each (empty: all good).

    1. each entry follows the schema and sits at ``entries/<task>/<entry>.json``;
    2. its AUCs and aggregates are what its per-seed numbers give;
    3. unless ``allow_partial``, it follows the protocol (version, sparsities, seeds, threads);
    4. entries of a task share the dense model of each seed; when ``provenance``, each was made from a clean
       commit with every unit computed by that code (:func:`prunebench.records.provenance_problems`);
    5. ``LEADERBOARD.md`` and the README block are what :func:`render` writes now, and the figures exist;
    6. ``rerun="cheap"`` re-runs the first seed at :data:`CHECK_SPARSITY` of each entry on :data:`CHEAP_TASKS`
       (``"all"``: on every task; ``"none"``: skip), restricted to ``tasks`` and ``entries`` when given, and
       compares within :data:`TOLERANCE` (``rtol`` for losses).
    """
    if rerun not in ("none", "cheap", "all"):
        raise ValueError(f"rerun must be one of ['none', 'cheap', 'all']; got {rerun!r}")
    tasks = None if tasks is None else [task_name(t) for t in tasks]
    directory = Path(directory)
    problems: list[str] = []
    loaded = []
    for path in sorted((directory / "entries").glob("*/*.json")):
        try:
            entry = read_entry(path)
        except LeaderboardError as exc:
            problems.append(str(exc))
            continue
        problems += _consistency(entry)
        if provenance:
            problems += records.provenance_problems(entry["provenance"], f"{entry['task']}/{entry['entry']}")
        if not allow_partial:
            problems += _conformance(entry)
        loaded.append(entry)
    problems += _shared_dense(loaded)
    page = directory / "LEADERBOARD.md"
    if not page.is_file() or page.read_text() != markdown(loaded):
        problems.append(f"{page} is stale or missing; run `prunebench leaderboard render`")
    if loaded:
        missing = [f"figures/{task}.{fmt}" for task in sorted({e["task"] for e in loaded}) for fmt in ("png", "svg")
                   if not (directory / "figures" / f"{task}.{fmt}").is_file()]
        if missing:
            problems.append(f"{directory}: figures {missing} are missing; run `prunebench leaderboard render`")
    if readme is not None:
        text = Path(readme).read_text()
        if _replace_block(text, readme_block(loaded)) != text:
            problems.append(f"the leaderboard block of {readme} is stale or missing; run `prunebench leaderboard "
                            "render`")
    if rerun != "none":
        chosen = [e for e in loaded if (rerun == "all" or e["task"] in CHEAP_TASKS)
                  and (not tasks or e["task"] in tasks) and (not entries or e["entry"] in entries)]
        problems += _rerun_all(chosen, root, rtol, progress)
    return problems


def _rerun_all(chosen: Sequence[Mapping], root, rtol: float, progress: bool) -> list[str]:
    from tqdm.auto import tqdm

    from .methods import registry

    problems = []
    for entry in tqdm(chosen, desc="re-running", unit="entry", disable=not progress):
        name = entry["method"]["name"]
        if name not in registry.available():
            dist = entry["method"]["distribution"]
            problems.append(f"{entry['task']}/{entry['entry']}: method {name!r} is not installed; "
                            f"`pip install {dist['name']}=={dist['version']}` provides it")
            continue
        problems += _rerun(entry, root, rtol)
    return problems


# ---------------------------------------------------------------------------------------------- command line


def _available_tasks(root) -> list[str]:
    from . import data, tasks

    states = {row.name: row.state for row in data.status(root)}
    return [t for t in TASKS if states.get(tasks.get(t).dataset) in ("verified", "builtin")]


def _split_list(text: str | None) -> list[str] | None:
    return None if text is None else [s.strip() for s in text.split(",") if s.strip()]


def _cmd_run(args: argparse.Namespace) -> int:
    tasks = args.task or _available_tasks(args.root)
    entries = resolve_methods(args.method, args.param, args.name)
    given = parse_seeds(args.seeds, SEEDS)
    sparsities = SPARSITIES if args.sparsities is None else [float(s) for s in _split_list(args.sparsities)]
    failed = []
    for task in tasks:
        seeds = [0] if task in PUBLISHED_MODEL_TASKS and args.seeds is None else given
        for entry in entries:
            start = time.perf_counter()
            try:
                (path,) = run([task], [entry], seeds=seeds, sparsities=sparsities, out=args.out, work=args.work,
                              jobs=args.jobs, scheduler=args.scheduler, device=args.device, root=args.root,
                              progress=not args.no_progress, allow_dirty=args.allow_dirty,
                              reuse_stale=args.reuse_stale)
            except Exception as exc:  # --keep-going: report any failure of one entry, run the others
                if not args.keep_going:
                    raise
                failed.append(f"{task}/{entry[0]}: {type(exc).__name__}: {exc}")
                print(f"FAILED {failed[-1]}", file=sys.stderr, flush=True)
                continue
            print(f"wrote {path} ({time.perf_counter() - start:.1f} s)", flush=True)
    if failed:
        print(f"{len(failed)} entr{'y' if len(failed) == 1 else 'ies'} failed:\n  " + "\n  ".join(failed),
              file=sys.stderr)
        return 1
    print("next: `prunebench leaderboard render`, then `prunebench leaderboard check`")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    for path in render(args.dir, args.readme or None, with_figures=not args.no_figures):
        print(f"wrote {path}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    problems = check(args.dir, args.readme or None, tasks=args.task, entries=args.entry, rerun=args.rerun,
                     allow_partial=args.allow_partial, root=args.root, rtol=args.rtol,
                     progress=not args.no_progress)
    for line in problems:
        print(f"FAIL {line}", file=sys.stderr)
    n = len(list((Path(args.dir) / "entries").glob("*/*.json")))
    print(f"{n} entries checked: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def register_cli(subparsers) -> None:
    """Add ``prunebench leaderboard run|render|check``."""
    p = subparsers.add_parser("leaderboard", help="run, render and check the method leaderboard",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    q = sub.add_parser("run", help="run (or resume) entries: methods x tasks x seeds under the protocol")
    q.add_argument("--task", action="append", default=None,
                   help=f"protocol task (repeatable; default every one of {list(TASKS)} whose data is present)")
    q.add_argument("--method", action="append", default=None,
                   help="a preset entry (e.g. obd-ggn) or any registered method, built in or plug-in (repeatable; "
                        "default every preset)")
    q.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="method parameter (repeatable; value parsed as JSON when possible); needs one --method")
    q.add_argument("--name", default=None, help="entry name (default: the preset or method name and its params)")
    q.add_argument("--seeds", default=None, help=f"number of seeds (default {SEEDS}) or a comma-separated list")
    q.add_argument("--sparsities", default=None,
                   help=f"comma-separated (default the protocol's {','.join(map(str, SPARSITIES))}); other values "
                        "make a partial entry, for trials")
    q.add_argument("--out", default="leaderboard", help="leaderboard folder (default leaderboard)")
    q.add_argument("--work", default=None, help="where finished units are kept for resuming (default <out>/.work)")
    q.add_argument("--jobs", type=int, default=1, help="parallel workers through joblib (default 1)")
    q.add_argument("--scheduler", default=None, help="address of a Dask scheduler: run the units on that cluster")
    q.add_argument("--device", default="cpu", help="cpu (default; committed entries) or cuda")
    q.add_argument("--root", default=None, help="data root (default: $PRUNEBENCH_DATA, ./datasets, user cache)")
    q.add_argument("--allow-dirty", action="store_true",
                   help="run although tracked source files differ from the commit; the entries are marked dirty "
                        "and `leaderboard check` fails on them")
    q.add_argument("--reuse-stale", action="store_true",
                   help="reuse saved units computed by other code or configuration instead of computing them again "
                        "(the entry lists them as stale)")
    q.add_argument("--keep-going", action="store_true",
                   help="when an entry fails (e.g. its curvature does not fit in memory), report it and go on")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(func=_cmd_run)

    q = sub.add_parser("render", help="write LEADERBOARD.md, the figures and the README block from the entries")
    q.add_argument("--dir", default="leaderboard", help="leaderboard folder (default leaderboard)")
    q.add_argument("--readme", default="README.md", help="README to update between the markers ('' to skip)")
    q.add_argument("--no-figures", action="store_true", help="skip the figures")
    q.set_defaults(func=_cmd_render)

    q = sub.add_parser("check", help="validate every entry, check the rendering is current, re-run a cheap subset")
    q.add_argument("--dir", default="leaderboard", help="leaderboard folder (default leaderboard)")
    q.add_argument("--readme", default="README.md", help="README whose block must be current ('' to skip)")
    q.add_argument("--rerun", choices=("none", "cheap", "all"), default="cheap",
                   help=f"re-run one seed at {CHECK_SPARSITY} of each entry on {list(CHEAP_TASKS)} (cheap, default), "
                        "on every task (all), or nothing (none)")
    q.add_argument("--task", action="append", default=None, help="re-run only entries of this task (repeatable)")
    q.add_argument("--entry", action="append", default=None, help="re-run only this entry (repeatable)")
    q.add_argument("--allow-partial", action="store_true",
                   help="accept entries with fewer seeds or other sparsities than the protocol (trials)")
    q.add_argument("--rtol", type=float, default=TOLERANCE["loss_rtol"],
                   help=f"relative tolerance for re-run losses (default {TOLERANCE['loss_rtol']:g}; 1e-3 across "
                        "machines)")
    q.add_argument("--root", default=None, help="data root")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(func=_cmd_check)
