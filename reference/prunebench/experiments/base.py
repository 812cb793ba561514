"""The harness every reproduction runs in: units, resume, parallel sweeps, progress, the final record.

An experiment lists independent *units* (say one per seed x method) and computes each in :meth:`run_unit`, a
pure function of (config, unit). The harness writes each finished unit atomically to
``<out>/units/<unit id>.json`` and skips it when the command is run again, so an interrupted run loses at most
the units in flight and never leaves a partial file. Units run through joblib (``--jobs N``), and on a Dask
cluster through joblib's Dask backend (``--scheduler ADDRESS``); the results do not depend on where a unit ran.
When every unit is done, :meth:`summarize` turns them into the record's ``results`` (claims, tables, curves,
figures; see :mod:`prunebench.report`) and ``<out>/record.json`` is written with provenance.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from pathlib import Path
from typing import Any, ClassVar

from .. import records

__all__ = ["Experiment", "execute", "parse_seeds", "run_units", "units_provenance"]

log = logging.getLogger(__name__)

_UNIT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")


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

    def summarize(self, config: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """All unit results (keyed by unit id) -> the record's ``results``."""
        raise NotImplementedError


def parse_seeds(text: str | None, default: int) -> list[int]:
    """``"5"`` -> seeds 0..4; ``"0,3,7"`` -> those seeds (``"7,"``: seed 7 alone); None -> ``range(default)``."""
    if text is None:
        return list(range(default))
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise ValueError(f"--seeds must be a count (e.g. 5) or a comma-separated list of non-negative integers "
                         f"(e.g. 0,3,7); got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must name at least one seed, all distinct and non-negative; got {text!r}")
    return seeds


def _run_unit(experiment: Experiment, config: dict, unit: dict, threads: int | None) -> dict:
    """Worker: compute one unit (in this process, a joblib worker or a Dask worker on another machine)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    start = time.perf_counter()
    result = experiment.run_unit(config, unit)
    return {"unit": unit, "result": result, "wall_time_s": time.perf_counter() - start}


def _check_config(out: Path, config: dict) -> None:
    path = out / "config.json"
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != config:
            changed = sorted(k for k in set(previous) | set(config) if previous.get(k) != config.get(k))
            raise ValueError(f"{out} holds units of a different configuration (differs in {changed}); "
                             "use another --out, or delete that folder to start again")
    else:
        records.atomic_write_json(path, config)


def execute(experiment: Experiment, args: argparse.Namespace) -> Path:
    """Run (or resume) ``experiment`` with parsed CLI ``args``; returns the path of the record written.

    The source tree must be clean (tracked files equal to the commit, outputs aside) unless ``args.allow_dirty``,
    which marks the record dirty; this is checked before any work."""
    seeds = parse_seeds(args.seeds, experiment.quick_seeds if args.quick else experiment.default_seeds)
    if args.jobs < 1:
        raise ValueError(f"--jobs must be a positive integer; got {args.jobs}")
    config = experiment.config(args, seeds)
    out = Path(args.out or Path("results") / experiment.name)
    state = records.git_state([out])
    records.require_clean(state, getattr(args, "allow_dirty", False))
    needed = experiment.data_needed(config)
    if needed is not None:
        from .. import data  # imports torch: not at module level (the leaderboard renders without it)

        data.require(needed, config.get("root"))  # fail now, with the message on where to put the files
    units = experiment.units(config)
    ids = [u["id"] for u in units]
    start = time.perf_counter()
    done = run_units(experiment, config, units, out, args, state=state)
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
    prov["units"] = units_provenance(config, [done[i] for i in ids], state)
    record = records.make_record(experiment.name, config, summary, prov)
    return records.atomic_write_json(out / "record.json", record)


def _unit_config(config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
    return {"config": config, "unit": unit}


def units_provenance(config: dict[str, Any], payloads: list[dict[str, Any]],
                     state: dict[str, Any]) -> list[dict[str, Any]]:
    """The compact provenance of finished units (:func:`prunebench.records.summarize_units`) against ``state``."""
    return records.summarize_units([p.get("provenance") for p in payloads],
                                   [records.unit_provenance(state, _unit_config(config, p["unit"])) for p in payloads])


def run_units(experiment: Experiment, config: dict[str, Any], units: list[dict[str, Any]], out: Path,
              args: argparse.Namespace, *, state: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Compute the ``units`` of ``experiment`` not yet saved in ``<out>/units`` and return every unit's payload
    (``{"unit", "result", "wall_time_s", "provenance"}``) keyed by unit id.

    ``args`` supplies ``jobs``, ``scheduler``, ``no_progress`` and ``reuse_stale``. ``<out>/config.json`` pins
    ``config``: a folder holding units of another configuration is refused. Each unit file carries its provenance
    (:func:`prunebench.records.unit_provenance`: commit, clean/dirty, version, configuration hash); a saved unit
    whose provenance differs from this run's (``state``, default :func:`prunebench.records.git_state` now) is
    stale and computed again, unless ``args.reuse_stale``. Workers receive ``experiment`` itself (it must
    pickle), so code other than ``prunebench reproduce`` can run its units here too (the leaderboard does).
    """
    ids = [u["id"] for u in units]
    bad = [i for i in ids if not _UNIT_ID.match(i)]
    if bad or len(set(ids)) != len(ids):
        raise RuntimeError(f"experiment {experiment.name} produced invalid or duplicate unit ids: {bad or ids}")
    state = records.git_state([out]) if state is None else state
    (out / "units").mkdir(parents=True, exist_ok=True)
    _check_config(out, config)

    def path_of(unit_id: str) -> Path:
        return out / "units" / f"{unit_id}.json"

    def provenance_of(unit: dict[str, Any]) -> dict[str, Any]:
        return records.unit_provenance(state, _unit_config(config, unit))

    done: dict[str, dict] = {}
    stale: list[str] = []
    for unit in units:
        try:
            payload = json.loads(path_of(unit["id"]).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        if payload.get("provenance") != provenance_of(unit):
            stale.append(unit["id"])
            if not getattr(args, "reuse_stale", False):
                continue
        done[unit["id"]] = payload
    if stale:
        first = json.loads(path_of(stale[0]).read_text()).get("provenance") or {}
        origin = (f"commit {records.commit_label(first, 12)}, prunebench {first.get('prunebench')}"
                  if first else "no provenance")
        action = ("reusing them (--reuse-stale: the record says so)" if getattr(args, "reuse_stale", False)
                  else "computing them again (--reuse-stale keeps them)")
        log.warning("%s: %d of %d saved units were computed by other code or configuration (e.g. %s: %s); %s",
                    experiment.name, len(stale), len(units), stale[0], origin, action)
    pending = [u for u in units if u["id"] not in done]
    if done:
        log.warning("%s: resuming, %d of %d units already done", experiment.name, len(done), len(units))
    _run_pending(experiment, config, pending, path_of, args, done, provenance_of)
    return done


def _run_pending(experiment, config, pending, path_of, args, done, provenance_of) -> None:
    """Compute the pending units; each is written atomically here, by the caller, as soon as it arrives, so
    the output folder need not be shared with remote workers."""
    from tqdm.auto import tqdm

    if not pending:
        return
    bar = tqdm(total=len(pending), desc=experiment.name, unit="unit", disable=getattr(args, "no_progress", False))

    def save(payload: dict) -> None:
        payload["provenance"] = provenance_of(payload["unit"])
        records.atomic_write_json(path_of(payload["unit"]["id"]), payload)
        done[payload["unit"]["id"]] = payload
        bar.update()

    if args.jobs == 1 and not args.scheduler:
        for unit in pending:
            bar.set_postfix_str(unit["id"], refresh=False)
            save(_run_unit(experiment, config, unit, None))
    else:
        import joblib

        calls = (joblib.delayed(_run_unit)(experiment, config, unit, 1) for unit in pending)
        if args.scheduler:
            from distributed import Client

            with Client(args.scheduler), joblib.parallel_config(backend="dask"):
                for payload in joblib.Parallel(n_jobs=-1, return_as="generator_unordered")(calls):
                    save(payload)
        else:
            for payload in joblib.Parallel(n_jobs=args.jobs, return_as="generator_unordered")(calls):
                save(payload)
    bar.close()
