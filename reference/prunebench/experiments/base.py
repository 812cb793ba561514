"""The harness every reproduction runs in: an experiment's units through :mod:`prunebench.sweep`, then its record.

An experiment lists independent *units* (say one per seed x method) and computes each in :meth:`run_unit`, a
pure function of (config, unit). :func:`prunebench.sweep.run_units` writes each finished unit atomically to
``<out>/units/<unit id>.json`` and skips it when the command is run again; units run through joblib
(``--jobs N``), and on a Dask cluster through joblib's Dask backend (``--scheduler ADDRESS``). When every unit is
done, :meth:`summarize` turns them into the record's ``results`` (claims, tables, curves, figures; see
:mod:`prunebench.report`) and ``<out>/record.json`` is written with provenance.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

from .. import records, sweep
from .._validation import output_folder
from ..sweep import parse_seeds, units_provenance

__all__ = ["Experiment", "execute", "parse_seeds", "run_units", "units_provenance"]


class Experiment:
    """One published experiment. Subclasses set the class attributes and implement the three hooks."""

    name: ClassVar[str]
    title: ClassVar[str]
    paper: ClassVar[str]
    """BibTeX key of the reproduced paper in :data:`prunebench.report.BIBTEX`."""
    default_seeds: ClassVar[int] = 5
    quick_seeds: ClassVar[int] = 2
    needs_data: ClassVar[str | None] = None
    """Dataset name that must be in the data root (None: runs on embedded data)."""

    def data_needed(self, config: dict[str, Any]) -> str | None:
        """The dataset a run of ``config`` reads from the data root (checked before any unit starts)."""
        return self.needs_data

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Experiment-specific options (the harness adds the common ones)."""

    def config(self, args: argparse.Namespace, seeds: list[int]) -> dict[str, Any]:
        """The JSON-able configuration that fixes every unit (seeds, quick, protocol parameters)."""
        return {"seeds": seeds, "quick": bool(args.quick), "device": args.device, "root": args.root}

    def units(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        """Independent pieces of work, each a dict with a unique ``"id"`` (letters, digits, ``_.=+-``)."""
        raise NotImplementedError

    def run_unit(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        """Compute one unit; must be deterministic and return JSON-able data."""
        raise NotImplementedError

    def unit_inputs(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        """What ``unit``'s result depends on, hashed into its provenance: by default the whole ``config`` and the
        unit. An experiment may leave out keys that only choose which units run, so that a run asking for
        fewer of them reuses the saved ones."""
        return sweep.unit_inputs(config, unit)

    def summarize(self, config: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """All unit results (keyed by unit id) -> the record's ``results``."""
        raise NotImplementedError


def execute(experiment: Experiment, args: argparse.Namespace) -> Path:
    """Run (or resume) ``experiment`` with parsed CLI ``args``; returns the path of the record written.

    The source tree must be clean (tracked files equal to the commit, outputs aside) unless ``args.allow_dirty``,
    which marks the record dirty; this is checked before any work."""
    seeds = parse_seeds(args.seeds, experiment.quick_seeds if args.quick else experiment.default_seeds)
    sweep.check_jobs(args.jobs)
    config = experiment.config(args, seeds)
    out = output_folder(args.out or Path("results") / experiment.name, "--out")
    state = records.git_state([out])
    records.require_clean(state, getattr(args, "allow_dirty", False))
    needed = experiment.data_needed(config)
    if needed is not None:
        from .. import data  # imports torch: not at module level (the leaderboard renders without it)

        data.require(needed, config.get("root"))  # fail now, with the message on where to put the files
    units = experiment.units(config)
    ids = [u["id"] for u in units]
    start = time.perf_counter()
    done = _run_units(experiment, config, units, out, args, state)
    results = {unit_id: done[unit_id]["result"] for unit_id in ids}
    summary = experiment.summarize(config, results)
    if isinstance(summary, dict):  # what `prunebench report` names and cites (docs/record-schema.md)
        summary.setdefault("title", experiment.title)
        if getattr(experiment, "paper", None):
            summary.setdefault("paper", experiment.paper)
    unit_time = sum(done[i]["wall_time_s"] for i in ids)
    prov = records.provenance(device=config.get("device", "cpu"), dtype=str(config.get("dtype", "float64")),
                              seeds=seeds, wall_time=unit_time, state=state)
    prov["session_wall_time_s"] = time.perf_counter() - start
    prov["units"] = units_provenance(config, [done[i] for i in ids], state, experiment.unit_inputs)
    record = records.make_record(experiment.name, config, summary, prov)
    return records.atomic_write_json(out / "record.json", record)


def _run_units(experiment: Experiment, config: dict[str, Any], units: list[dict[str, Any]], out: Path,
               args: argparse.Namespace, state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """:func:`prunebench.sweep.run_units` of ``experiment``'s units with the options ``args`` supplies (``jobs``,
    ``scheduler``, ``no_progress``, ``reuse_stale``); workers receive ``experiment`` itself (it must pickle)."""
    return sweep.run_units(experiment.name, experiment.run_unit, config, units, out, inputs=experiment.unit_inputs,
                           jobs=args.jobs, scheduler=args.scheduler, progress=not getattr(args, "no_progress", False),
                           reuse_stale=getattr(args, "reuse_stale", False), state=state)


def run_units(experiment: Experiment, config: dict[str, Any], units: list[dict[str, Any]], out: Path,
              args: argparse.Namespace, *, state: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Deprecated: use :func:`prunebench.sweep.run_units` (the sweep's options as keywords, not ``args``)."""
    warnings.warn("prunebench.experiments.base.run_units is deprecated; use prunebench.sweep.run_units",
                  DeprecationWarning, stacklevel=2)
    return _run_units(experiment, config, units, out, args, state)
