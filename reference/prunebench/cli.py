"""The ``prunebench`` command line (also ``python -m prunebench``).

Every subcommand has ``--help``. A mistake of the user's (unknown name, bad value, missing data) prints one
clear line to stderr and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable

from . import __version__

__all__ = ["main"]

EXIT_USAGE = 2


def _cmd_datasets(args) -> int:
    from . import data

    print(data.format_status(data.status(args.root)))
    return 0


def _cmd_models(args) -> int:
    from . import models

    for name in models.MODELS:
        print(f"{name:20s} {models.build(name)!r}")
    return 0


def _cmd_tasks(args) -> int:
    from . import tasks

    for task in tasks.TASKS.values():
        print(f"{task.name:8s} {task.description}")
    return 0


def _cmd_train(args) -> int:
    from . import records, tasks
    from .evaluate import evaluate

    task = tasks.get(args.task)
    if args.json:
        state = records.git_state([args.json])
        records.require_clean(state, args.allow_dirty)
    model, task_data, info = task.trained(args.seed, args.root, device=args.device, cache=not args.no_cache)
    result = evaluate(model, task, task_data)
    print(repr(model))
    print(f"task {task.name} seed {args.seed}: final |grad| {info['fit']['objective_grad_norm']:.2e} after "
          f"{info['fit']['iterations']} iterations")
    for key, value in result.items():
        print(f"  {key:24s} {value}")
    if args.json:
        prov = records.provenance(device=args.device, dtype=str(task.dtype).removeprefix("torch."),
                                  seeds=[args.seed], wall_time=info["fit"]["wall_time"], state=state)
        rec = records.make_record("train", {"task": task.name, "seed": args.seed}, {"fit": info, "evaluation": result},
                                  prov)
        records.atomic_write_json(args.json, rec)
        print(f"wrote {args.json}")
    return 0


def _add_common_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=None, help="data root (default: $PRUNEBENCH_DATA, ./datasets, user cache)")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prunebench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"prunebench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("datasets", help="list every dataset with its state and where it looked")
    _add_common_data(p)
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser("models", help="list the paper architectures with their shapes")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("tasks", help="list the tasks (dataset + model + objective + recipe)")
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser("train", help="train (or load the cached) dense model of a task and evaluate it")
    p.add_argument("--task", required=True, help="task name (see `prunebench tasks`)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--no-cache", action="store_true", help="retrain even when a checkpoint is cached")
    p.add_argument("--json", default=None, help="write the evaluation record here")
    p.add_argument("--allow-dirty", action="store_true",
                   help="write the --json record although tracked source files differ from the commit (marked dirty)")
    _add_common_data(p)
    p.set_defaults(func=_cmd_train)

    for register in _EXTENSIONS:
        register(sub)
    return parser


def _extensions() -> list[Callable]:
    """Subcommands contributed by later pipeline stages (each module offers ``register_cli(subparsers)``)."""
    import importlib

    found = []
    for module in ("prunebench.methods.cli", "prunebench.prune_weights", "prunebench.saliency_check",
                   "prunebench.experiments", "prunebench.report", "prunebench.leaderboard", "prunebench.bench_report"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue
            raise
        if hasattr(mod, "register_cli"):
            found.append(mod.register_cli)
    return found


_EXTENSIONS: list[Callable] = []


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    _EXTENSIONS[:] = _extensions()
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    warnings.filterwarnings("always", message=r"task name .* is deprecated", category=DeprecationWarning)
    if getattr(args, "device", "cpu").startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print(f"error: --device {args.device} needs a CUDA GPU, and torch {torch.__version__} sees none; "
                  "use --device cpu", file=sys.stderr)
            return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, KeyError, MemoryError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        if args.verbose:
            raise
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished units are saved; run the same command again to resume", file=sys.stderr)
        return 130
