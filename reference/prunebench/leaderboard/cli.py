"""``prunebench leaderboard run|render|check``."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from ..sweep import add_provenance_options, parse_seeds
from .checker import RerunSkipped, check
from .protocol import (
    CHEAP_TASKS,
    CHECK_SPARSITY,
    PUBLISHED_MODEL_TASKS,
    SEEDS,
    SPARSITIES,
    TASKS,
    TOLERANCE,
    resolve_methods,
)
from .renderer import render
from .runner import run

__all__ = ["register_cli"]


def _available_tasks(root) -> list[str]:
    from .. import data, tasks

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
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", RerunSkipped)
        problems = check(args.dir, args.readme or None, tasks=args.task, entries=args.entry, rerun=args.rerun,
                         allow_partial=args.allow_partial, root=args.root, rtol=args.rtol,
                         progress=not args.no_progress)
    for note in notes:
        if issubclass(note.category, RerunSkipped):
            print(f"NOTE {note.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(note.message, note.category, note.filename, note.lineno)
    for line in problems:
        print(f"FAIL {line}", file=sys.stderr)
    n = len(list((Path(args.dir) / "entries").glob("*/*.json")))
    print(f"{n} entries checked: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def register_cli(subparsers) -> None:
    """Add ``prunebench leaderboard run|render|check``."""
    p = subparsers.add_parser("leaderboard", help="run, render and check the method leaderboard",
                              description=sys.modules[__package__].__doc__.splitlines()[0])
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
    add_provenance_options(q, dirty="the entries are marked dirty and `leaderboard check` fails on them",
                           stale="the entry lists them as stale")
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
