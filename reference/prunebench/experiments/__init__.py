"""Published experiments, each wiring the pipeline stages for one paper's figures and tables.

``prunebench reproduce NAME`` runs one (``prunebench reproduce --help`` lists them); ``prunebench reproduce all``
runs every one whose data is available.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..sweep import add_provenance_options
from .base import Experiment, execute

__all__ = ["EXPERIMENTS", "Experiment", "get", "register_cli"]

_MODULES = {
    "obd-digits": "lecun1989digits",
    "obd-usps": "lecun1989digits",
    "obs-xor": "hassibi1993xor",
    "obs-monks": "hassibi1993monks",
    "obs-nettalk": "hassibi1993nettalk",
    "obs-mnist": "obs_mnist",
    "woodfisher-mnist": "singh2020woodfisher",
}
"""Experiment name -> module in this package defining a class with that ``name``."""

EXPERIMENTS = tuple(_MODULES)


def get(name: str) -> Experiment:
    """An instance of the experiment called ``name``."""
    if name not in _MODULES:
        raise ValueError(f"experiment must be one of {sorted(_MODULES)} (or 'all'); got {name!r}")
    module = importlib.import_module(f".{_MODULES[name]}", __name__)
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, Experiment) and getattr(obj, "name", None) == name:
            return obj()
    raise RuntimeError(f"module prunebench.experiments.{_MODULES[name]} defines no experiment named {name!r}")


def _available() -> list[str]:
    names = []
    for name, module in _MODULES.items():
        try:
            importlib.import_module(f".{module}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{module}":
                continue
            raise
        names.append(name)
    return names


def _add_common(p: argparse.ArgumentParser, experiment: Experiment) -> None:
    p.add_argument("--seeds", default=None,
                   help=f"number of seeds (default {experiment.default_seeds}; {experiment.quick_seeds} with --quick) "
                        "or a comma-separated list of seeds (one seed alone: '7,')")
    p.add_argument("--quick", action="store_true", help="a reduced protocol for smoke tests (under a minute)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--out", default=None, help=f"output folder (default results/{experiment.name})")
    p.add_argument("--jobs", type=int, default=1, help="parallel workers through joblib (default 1)")
    p.add_argument("--scheduler", default=None,
                   help="address of a Dask scheduler (e.g. tcp://10.0.0.5:8786): run units on that cluster")
    p.add_argument("--root", default=None, help="data root (default: $PRUNEBENCH_DATA, ./datasets, user cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_provenance(p)


def _add_provenance(p: argparse.ArgumentParser) -> None:
    add_provenance_options(p, dirty="the record is marked dirty and `prunebench report --check` fails on it",
                           stale="the record lists them as stale")


def _run_one(args) -> int:
    experiment = get(args.experiment)
    path = execute(experiment, args)
    print(f"{experiment.name}: wrote {path}")
    return 0


def _run_all(args) -> int:
    from pathlib import Path

    from .. import data

    base = Path(args.out or "results")
    states = {row.name: row.state for row in data.status(args.root)}
    for name in _available():
        experiment = get(name)
        if experiment.needs_data and states.get(experiment.needs_data) != "verified":
            print(f"{name}: skipped, dataset {experiment.needs_data!r} is not in the data root "
                  "(see `prunebench datasets`)", file=sys.stderr)
            continue
        args.out = str(base / name)
        _run_one(argparse.Namespace(**{**vars(args), "experiment": name}))
    return 0


def register_cli(subparsers) -> None:
    """Add ``prunebench reproduce NAME`` for every experiment, and ``prunebench reproduce all``."""
    p = subparsers.add_parser("reproduce", help="run a published experiment (see `prunebench reproduce --help`)")
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    for name in _available():
        experiment = get(name)
        q = sub.add_parser(name, help=experiment.title, description=experiment.title)
        _add_common(q, experiment)
        experiment.add_arguments(q)
        q.set_defaults(func=_run_one)
    q = sub.add_parser("all", help="every experiment whose data is available, full protocol")
    q.add_argument("--out", default=None, help="parent folder of the per-experiment outputs (default results)")
    q.add_argument("--jobs", type=int, default=1, help="parallel workers through joblib (default 1)")
    q.add_argument("--scheduler", default=None,
                   help="address of a Dask scheduler (e.g. tcp://10.0.0.5:8786): run units on that cluster")
    q.add_argument("--root", default=None, help="data root (default: $PRUNEBENCH_DATA, ./datasets, user cache)")
    q.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    q.add_argument("--seeds", default=None,
                   help="number of seeds or a comma-separated list (default: each experiment's own)")
    q.add_argument("--quick", action="store_true", help="a reduced protocol for smoke tests")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_provenance(q)
    q.set_defaults(func=_run_all)
