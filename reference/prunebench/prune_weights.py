"""``prunebench prune``: prune a user's own trained weights of a task's architecture, one-shot or in steps.

::

    prunebench prune --task mnist-woodfisher --weights model.npz --method obs-full \\
        --param blocks=module --param procedure=one-step --param damping=1e-5 --param dtype=float32 \\
        --sparsity 0.95 --samples 100 --sample-order 1 --json

The weights (``.npz``, ``.safetensors`` or a torch ``state_dict``; never a pickle: :mod:`prunebench.weights`)
are checked against the architecture, the curvature samples are the first ``--samples`` training points of a
fixed order (``--sample-order``: an integer seed ``s`` for NumPy's ``np.random.seed(s);
np.random.choice(N, N, replace=False)``, the order WoodFisher's code draws with seed 1, or a ``.npy``/text
file of indices), the method prunes every prunable tensor to ``--sparsity`` with ``--ranking global`` (one
ranking over all tensors) or ``layer`` (each tensor to the target separately), in one shot or in ``--steps K``
equal steps without retraining, and the pruned network is evaluated on the task's test set (top-1 and top-5).
Every input is validated before anything is computed or written: a mistake exits with status 2 and one line.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import _measure
from ._validation import integer, real

__all__ = ["parse_params", "prune_file", "prune_model", "register_cli", "sample_order", "topk_accuracy"]


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict; values read as JSON (numbers, true/false, null) or ``None``/``True``/``False``,
    else kept as strings."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param must look like key=value (e.g. damping=1e-5); got {item!r}")
        literal = {"None": None, "True": True, "False": False}
        if raw in literal:
            value = literal[raw]
        else:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
        out[key.strip()] = value
    return out


def sample_order(spec: str, n: int) -> np.ndarray:
    """The order of the ``n`` training points the curvature samples are taken from: an integer seed (NumPy's
    legacy global generator, ``np.random.seed(s); np.random.choice(n, n, replace=False)``, drawn without
    touching the global state) or a ``.npy`` / whitespace-separated text file of distinct indices."""
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        seed = int(text)
        if not 0 <= seed < 2**32:
            raise ValueError(f"--sample-order seed must be an integer in [0, 2**32); got {seed}")
        return np.random.RandomState(seed).choice(n, n, replace=False)
    path = Path(text)
    if not path.is_file():
        raise ValueError(f"--sample-order must be an integer seed or a file of training indices; got {spec!r} "
                         "(no such file)")
    try:
        order = np.load(path, allow_pickle=False) if path.suffix == ".npy" else np.loadtxt(path, dtype=np.int64)
    except ValueError as exc:
        raise ValueError(f"--sample-order file {path} must hold integers (a .npy array or text); {exc}") from None
    order = np.asarray(order).reshape(-1)
    if not np.issubdtype(order.dtype, np.integer) or order.size == 0 or order.min() < 0 or order.max() >= n \
            or np.unique(order).size != order.size:
        raise ValueError(f"--sample-order file {path} must list distinct integer indices in [0, {n}); got "
                         f"{order.size} values of dtype {order.dtype}")
    return order.astype(np.int64)


def topk_accuracy(model, x, y, k: int) -> float:
    """Fraction of rows of ``x`` whose label ``y`` is among the model's ``k`` largest outputs."""
    import torch

    with torch.no_grad():
        top = model(x).topk(k, dim=1).indices
    return float((top == y[:, None]).any(dim=1).to(torch.float64).mean())


def _check_args(sparsity: float, steps: int, samples: int, ranking: str) -> None:
    from .methods.base import RANKINGS, check_choice

    real("sparsity", sparsity, at_least=0.0, below=1.0, expected="a float in [0, 1)")
    integer("steps", steps)
    integer("samples", samples)
    check_choice("ranking", ranking, RANKINGS)


def _method(method_name: str, params: dict[str, Any]):
    from . import methods

    cls = methods.get_class(method_name)
    params = dict(params)
    if "samples" in inspect.signature(cls.__init__).parameters and "samples" not in params:
        params["samples"] = None
    return methods.get(method_name, **params)


def prune_file(task_name: str, weights: str | os.PathLike[str], method_name: str, params: dict[str, Any], *,
               sparsity: float, ranking: str = "global", samples: int = 1000, order: str = "0", steps: int = 1,
               root=None, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """Load ``weights`` into ``task_name``'s architecture, prune it and evaluate it.

    Returns ``(pruned model, {"result": ..., "names": ...})``; ``result`` holds the fields of
    ``prunebench prune --json``, ``names`` the file's key of each parameter.
    """
    from . import tasks
    from .models import build
    from .weights import file_sha256, load_weights

    _check_args(sparsity, steps, samples, ranking)
    task = tasks.get(task_name)
    method = _method(method_name, params)
    model = build(task.model, dtype=task.dtype)
    names = load_weights(model, weights)
    digest = file_sha256(weights)
    data = task.data(root, device)
    result = prune_model(task, model.to(device), data, method_name, method.params, sparsity=sparsity,
                         ranking=ranking, samples=samples, order=order, steps=steps)
    result = {"task": task.name, "weights": str(weights), "weights_sha256": digest, **result}
    result["layer_sparsity"] = {names[k]: v for k, v in result["layer_sparsity"].items()}
    return model, {"result": result, "names": names}


def prune_model(task, model, data, method_name: str, params: dict[str, Any], *, sparsity: float,
                ranking: str = "global", samples: int = 1000, order: str = "0", steps: int = 1) -> dict[str, Any]:
    """Prune ``model`` (in place) of ``task`` with ``data`` (a :class:`~prunebench.tasks.TaskData`) and
    evaluate it; the curvature samples are the first ``samples`` training points of ``order``. A method
    parameter ``samples`` that is not given is set to ``None`` (all of the points chosen here). Returns the
    fields of ``prunebench prune --json`` except the file's."""
    import torch

    from . import methods, prune

    _check_args(sparsity, steps, samples, ranking)
    method = _method(method_name, params)
    n = data.x_train.shape[0]
    if samples > n:
        raise ValueError(f"samples must be at most the {n} training points of task {task.name}; got {samples}")
    picked = torch.from_numpy(sample_order(order, n)[:samples]).to(data.x_train.device)
    x, t = data.x_train[picked], data.t_train[picked]
    dense = {"test_accuracy": task.accuracy(model, data.x_test, data.y_test),
             "top5_accuracy": topk_accuracy(model, data.x_test, data.y_test, 5)}
    loss_fn = task.loss_fn()
    with _measure.measure(str(data.x_train.device)) as usage:
        if steps == 1:
            outcome = prune.one_shot(model, method, loss_fn, x, t, sparsity, ranking=ranking)
        else:
            outcome = prune.iterative(model, method, loss_fn, x, t, sparsity, rounds=steps, retrain=None,
                                      ranking=ranking)
    # The process's peak memory during pruning: what was in use before plus the peak above it.
    peak = None if usage.peak_bytes is None else usage.base_bytes + usage.peak_bytes
    per_tensor = {k.removesuffix("_orig"): float(1 - m.to(torch.float64).mean())
                  for k, m in methods.model_mask(model).items()}
    return {
        "method": method_name,
        "params": method.params, "ranking": ranking, "target_sparsity": sparsity, "steps": steps,
        "samples": samples, "sample_order": str(order), "sparsity": outcome.sparsity,
        "layer_sparsity": per_tensor,
        "test_accuracy": task.accuracy(model, data.x_test, data.y_test),
        "top5_accuracy": topk_accuracy(model, data.x_test, data.y_test, 5),
        "dense_test_accuracy": dense["test_accuracy"], "dense_top5_accuracy": dense["top5_accuracy"],
        "deleted": len(outcome.deletions), "stopped": outcome.stopped, "seconds": usage.seconds,
        "peak_memory_bytes": peak, "torch_threads": torch.get_num_threads(),
    }


def _run(args: argparse.Namespace) -> int:
    from . import records
    from .weights import save_weights

    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a folder; got {out}, which is a file. Choose another path")
    _check_args(args.sparsity, args.steps, args.samples, args.ranking)
    model, found = prune_file(args.task, args.weights, args.method, parse_params(args.param),
                              sparsity=args.sparsity, ranking=args.ranking, samples=args.samples,
                              order=args.sample_order, steps=args.steps, root=args.root, device=args.device)
    result = found["result"]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        save_weights(model, out / "weights.npz", found["names"])
        prov = records.provenance(device=args.device, dtype=str(next(model.parameters()).dtype).removeprefix(
            "torch."), seeds=[], wall_time=result["seconds"])
        config = {k: result[k] for k in ("task", "weights", "weights_sha256", "method", "params", "ranking",
                                         "target_sparsity", "steps", "samples", "sample_order")}
        records.atomic_write_json(out / "record.json", records.make_record("prune", config, result, prov))
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"{result['method']} ({result['ranking']} ranking) on {result['task']}: sparsity "
              f"{result['sparsity']:.4f}, test top-1 {100 * result['test_accuracy']:.2f}% (dense "
              f"{100 * result['dense_test_accuracy']:.2f}%), top-5 {100 * result['top5_accuracy']:.2f}%, "
              f"{result['seconds']:.1f} s, peak memory {_gib(result['peak_memory_bytes'])}")
        if out is not None:
            print(f"wrote {out / 'weights.npz'} and {out / 'record.json'}", file=sys.stderr)
    return 0


def register_cli(subparsers) -> None:
    """Add ``prunebench prune`` to the command line."""
    p = subparsers.add_parser("prune", help="prune your own trained weights of a task's architecture",
                              description=__doc__.splitlines()[0])
    p.add_argument("--task", required=True, help="task whose architecture and data the weights are for")
    p.add_argument("--weights", required=True, help="FILE: .npz, .safetensors or a torch state_dict (.pt)")
    p.add_argument("--method", required=True, help="pruning method (see `prunebench methods`)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter, repeatable (e.g. --param damping=1e-5)")
    p.add_argument("--sparsity", type=float, required=True, help="target fraction of weights deleted, in [0, 1)")
    p.add_argument("--ranking", default="global", help="global (one ranking over all tensors, default) or layer "
                                                       "(each tensor pruned to the target separately)")
    p.add_argument("--steps", type=int, default=1, help="prune in K equal steps, no retraining (default 1)")
    p.add_argument("--samples", type=int, default=1000, help="training points for the curvature (default 1000)")
    p.add_argument("--sample-order", default="0",
                   help="integer seed of the sample order (np.random.seed(s); np.random.choice(N, N, "
                        "replace=False), default 0) or a .npy/text file of training indices")
    p.add_argument("--out", default=None, help="folder for the pruned weights (weights.npz) and record.json")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--root", default=None, help="data root (default: $PRUNEBENCH_DATA, ./datasets, user cache)")
    p.set_defaults(func=_run)


def _gib(size: int | None) -> str:
    return "not measured (needs Linux /proc)" if size is None else f"{size / 2**30:.2f} GiB"
