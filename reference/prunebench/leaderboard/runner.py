"""Running the leaderboard: one unit per (task, entry, seed) through :mod:`prunebench.sweep`, then the entry.

``run`` prunes the shared dense model of every (task, seed) with a method, one-shot and then with a fixed
retraining budget, at the protocol's sparsities (:func:`run_seed`), and writes ``<out>/entries/<task>/<entry>.json``
with the per-seed numbers, their aggregate and provenance. Imports torch only inside the functions.
"""

from __future__ import annotations

import copy
import functools
import importlib.metadata
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import records, sweep
from .._measure import measure
from .._validation import output_folder
from .protocol import CUDA_MEMORY_MEASURE, MEMORY_MEASURE, PROTOCOL, SPARSITIES, THREADS, auc, retrain_budget
from .schema import METRICS, SCHEMA, aggregate, validate_entry

if TYPE_CHECKING:
    from ..evaluate import Evaluation

__all__ = ["conformance", "run", "run_seed"]


def _distribution(method: str, cls: type) -> dict[str, str]:
    """The installed distribution providing ``cls`` (pip install NAME==VERSION reproduces the entry)."""
    from .. import __version__
    from ..methods.registry import ENTRY_POINT_GROUP

    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == method and ep.dist is not None:
            return {"name": ep.dist.metadata["Name"], "version": ep.dist.version}
    top = cls.__module__.partition(".")[0]
    if top == "prunebench":
        return {"name": "prunebench", "version": __version__}
    return {"name": top, "version": "unknown"}


def _method_info(method: str, instance) -> dict[str, Any]:
    from ..methods import registry

    cls = type(instance)
    about = registry.describe(method)
    return {"name": method, "params": _jsonable(instance.params), "class": about["class"],
            "citation": cls.citation, "curvature": cls.curvature, "moves_weights": cls.moves_weights,
            "distribution": _distribution(method, cls)}


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=repr))


def _saliency_cost(method, model, loss_fn, inputs, targets, device: str) -> dict[str, Any]:
    """Wall time and peak memory (:data:`MEMORY_MEASURE`) of one ``method.saliency`` call on ``model``."""
    from ..methods.base import check_tensors, guest, model_mask

    mask = model_mask(model)
    with measure(device) as usage, guest(method):
        saliency = method.saliency(model, loss_fn, inputs, targets, mask=mask)
    check_tensors(method, "saliency", saliency, model)
    return {"saliency_time_s": usage.seconds, "saliency_peak_mib": usage.peak_mib}


def _metrics(result: Evaluation) -> dict[str, float]:
    return {m: float(getattr(result, m if m != "train_loss" else "loss")) for m in METRICS}


def run_seed(task: str, method: str, params: Mapping[str, Any], seed: int, *,
             sparsities: Sequence[float] = SPARSITIES, root=None, device: str = "cpu",
             measure_cost: bool = True) -> dict[str, Any]:
    """One unit of the protocol: the shared dense model of (``task``, ``seed``) pruned by ``method`` at each of
    ``sparsities``, one-shot and retrained. Deterministic: the same arguments give the same numbers (one thread),
    except the times. ``measure_cost=False`` (``check``) skips the separate saliency timing (``"cost": None``)."""
    from .. import methods, prune, tasks
    from ..evaluate import evaluate
    from ..train import TrainConfig, fit

    spec = tasks.get(task)
    instance = methods.get(method, **params)
    start = time.perf_counter()
    with sweep.torch_threads(THREADS):
        dense, data, info = spec.trained(seed, root, device=device)
        loss_fn = spec.loss_fn()
        x, t = data.x_train, data.t_train
        cost = _saliency_cost(instance, copy.deepcopy(dense), loss_fn, x, t, device) if measure_cost else None
        dense_metrics = _metrics(evaluate(dense, spec, data))
        budget = TrainConfig(**retrain_budget(spec))
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


def _run_unit(config: dict[str, Any], unit: dict[str, Any], root: str | None) -> dict[str, Any]:
    """The sweep's unit: seed ``unit["seed"]`` of the (task, entry) that ``config`` fixes."""
    return run_seed(config["task"], config["method"], config["params"], unit["seed"],
                    sparsities=config["sparsities"], root=root, device=config["device"])


def conformance(instance) -> list[str]:
    """Run the conformance checks of :func:`prunebench.testing.check_method` on a method instance (seconds, on a
    tiny problem); returns the checks passed, or raises :class:`prunebench.methods.base.MethodError` naming the
    method and the check it fails."""
    from ..methods.base import MethodError, guest, method_name
    from ..testing import check_method

    try:
        with guest(instance):
            return check_method(instance)
    except MethodError as exc:
        if isinstance(exc.__cause__, AssertionError):
            raise MethodError(f"method {method_name(instance)!r} fails the conformance checks of "
                              f"prunebench.testing: {' '.join(str(exc.__cause__).split())}") from exc.__cause__
        raise


def _task_info(spec, root) -> dict[str, Any]:
    from ..models import build

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
    ``entries`` come from :func:`~prunebench.leaderboard.protocol.resolve_methods`. The source tree must be clean
    (tracked files equal to the commit, outputs aside) unless ``allow_dirty``, which marks the entries dirty."""
    from .. import methods
    from .. import tasks as task_registry

    sweep.check_jobs(jobs)
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
    compute = functools.partial(_run_unit, root=None if root is None else str(root))
    written = []
    for spec in specs:
        info = _task_info(spec, root)
        for entry, method, params in entries:
            instance = methods.get(method, **params)
            method_info = _method_info(method, instance)
            config = _jsonable({"protocol": PROTOCOL, "task": spec.name, "entry": entry, "method": method,
                                "params": method_info["params"], "sparsities": sparsities,
                                "retrain": retrain_budget(spec), "device": device, "threads": THREADS,
                                "include_bias": True})
            units = [{"id": f"seed={s}", "seed": s} for s in seeds]
            start = time.perf_counter()
            done = sweep.run_units(f"{spec.name}/{entry}", compute, config, units, work / spec.name / entry,
                                   jobs=jobs, scheduler=scheduler, progress=progress, reuse_stale=reuse_stale,
                                   state=state)
            per_seed = [done[u["id"]]["result"] for u in units]
            prov = records.provenance(device=device, dtype=info["dtype"], seeds=list(seeds),
                                      wall_time=sum(done[u["id"]]["wall_time_s"] for u in units), state=state)
            prov.update(session_wall_time_s=time.perf_counter() - start, threads=THREADS, cpu=records.cpu_name(),
                        logical_cpus=os.cpu_count(),
                        units=sweep.units_provenance(config, [done[u["id"]] for u in units], state))
            document = {
                "schema": SCHEMA, "protocol": PROTOCOL, "task": spec.name, "entry": entry, "task_info": info,
                "method": method_info,
                "config": {"sparsities": sparsities, "retrain": config["retrain"], "seeds": list(seeds),
                           "device": device, "dtype": info["dtype"], "threads": THREADS, "include_bias": True,
                           "memory_measure": CUDA_MEMORY_MEASURE if device.startswith("cuda") else MEMORY_MEASURE,
                           "ranking": "global"},
                "per_seed": per_seed, "aggregate": aggregate(per_seed), "provenance": prov,
            }
            validate_entry(document, f"entry {spec.name}/{entry}")
            written.append(records.atomic_write_json(out / "entries" / spec.name / f"{entry}.json", document))
    return written
