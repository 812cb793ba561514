"""The ``prunebench`` command line (also ``python -m prunebench``).

Every subcommand has ``--help``. A mistake of the user's (unknown name, bad value, missing data) prints one
clear line to stderr and exits with status 2; no traceback. A pruning method that fails or returns an invalid
saliency is reported as ``method NAME failed: ...`` (exit status 1; ``-v`` adds the method's traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
import warnings

from . import __version__
from ._validation import output_file

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
        output_file(args.json, "--json")
        state = records.git_state([args.json])
        records.require_clean(state, args.allow_dirty)
    model, task_data, info = task.trained(args.seed, args.root, device=args.device, cache=not args.no_cache)
    result = evaluate(model, task, task_data).as_dict()
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


_EXTENSIONS = {
    "methods": ("prunebench.methods.cli", "list the pruning methods (built in and plug-ins) with flags"),
    "prune": ("prunebench.prune_weights", "prune your own trained weights of a task's architecture"),
    "check-saliency": ("prunebench.saliency_check", "compare each method's predicted dE with the measured one"),
    "reproduce": ("prunebench.experiments", "run a published experiment (see `prunebench reproduce --help`)"),
    "report": ("prunebench.report", "regenerate reproduced tables and figures from the result records"),
    "leaderboard": ("prunebench.leaderboard.cli", "run, render and check the method leaderboard"),
    "bench-report": ("prunebench.report.bench_cli", "measure each curvature method's time and memory as ratios to "
                                                    "one gradient and to BackPACK"),
}
"""Subcommands contributed by later pipeline stages: name -> (module offering ``register_cli(subparsers)``, help).
Only the module of the command being run is imported, so ``prunebench --help`` imports no torch."""


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option), or None."""
    return next((word for word in argv if not word.startswith("-")), None)


def _build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with every argument of ``command`` (``"*"``: of every command); the other extension commands
    are one-line stubs, so their modules are not imported."""
    parser = argparse.ArgumentParser(prog="prunebench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"prunebench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress details; show a failing method's traceback")
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
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--no-cache", action="store_true", help="retrain even when a checkpoint is cached")
    p.add_argument("--json", default=None, help="write the evaluation record here")
    p.add_argument("--allow-dirty", action="store_true",
                   help="write the --json record although tracked source files differ from the commit (marked dirty)")
    _add_common_data(p)
    p.set_defaults(func=_cmd_train)

    for name, (module, text) in _EXTENSIONS.items():
        if command in (name, "*"):
            importlib.import_module(module).register_cli(sub)
        else:
            sub.add_parser(name, help=text)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _build_parser(_command_of(argv))
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
    except (ValueError, TypeError, FileNotFoundError, MemoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.verbose:
            raise
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished units are saved; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        base = sys.modules.get("prunebench.methods.base")  # no method ran if it was never imported
        if base is None or not isinstance(exc, base.MethodError):
            raise
        print(f"error: {exc}" + ("" if args.verbose else " (run with -v for the method's traceback)"),
              file=sys.stderr)
        if args.verbose:
            traceback.print_exception(exc.__cause__ or exc)
        return 1
