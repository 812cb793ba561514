"""Sweeps of independent units: resume, per-unit provenance, joblib and Dask, progress.

A sweep is a list of *units*, each a dict with a unique ``"id"``, and a pure function ``compute(config, unit)``.
:func:`run_units` writes each finished unit atomically to ``<out>/units/<unit id>.json`` with its provenance and
skips it when run again, so an interrupted sweep loses at most the units in flight and never leaves a partial
file. Units run through joblib (``jobs``), and on a Dask cluster through joblib's Dask backend (``scheduler``);
the results do not depend on where a unit ran. The experiments (:mod:`prunebench.experiments.base`) and the
leaderboard (:mod:`prunebench.leaderboard.runner`) both run here.

This module imports no torch at import time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import records
from ._validation import integer

__all__ = ["add_provenance_options", "check_jobs", "parse_seeds", "run_units", "torch_threads", "unit_inputs",
           "units_provenance"]

log = logging.getLogger(__name__)

_UNIT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")

Compute = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
"""``compute(config, unit) -> result``: deterministic, JSON-able, picklable (it travels to the workers)."""


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


def check_jobs(jobs: Any) -> None:
    """Raise ``ValueError`` unless ``jobs`` (the number of joblib workers) is a positive integer."""
    integer("--jobs", jobs, 1)


def add_provenance_options(parser: argparse.ArgumentParser, *, dirty: str, stale: str) -> None:
    """Add ``--allow-dirty`` and ``--reuse-stale``; ``dirty`` and ``stale`` say what happens to the output, e.g.
    ``"the record is marked dirty and ..."`` and ``"the record lists them as stale"``."""
    parser.add_argument("--allow-dirty", action="store_true",
                        help=f"run although tracked source files differ from the commit; {dirty}")
    parser.add_argument("--reuse-stale", action="store_true",
                        help=f"reuse saved units computed by other code or configuration instead of computing them "
                             f"again ({stale})")


def unit_inputs(config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
    """What a unit's result depends on, hashed into its provenance, by default: the whole ``config`` and the unit."""
    return {"config": config, "unit": unit}


def units_provenance(config: dict[str, Any], payloads: list[dict[str, Any]], state: dict[str, Any],
                     inputs: Callable[[dict, dict], dict] = unit_inputs) -> list[dict[str, Any]]:
    """The compact provenance of finished units (:func:`prunebench.records.summarize_units`) against ``state``;
    ``inputs(config, unit)``: what a unit depends on (:func:`unit_inputs`)."""
    return records.summarize_units([p.get("provenance") for p in payloads],
                                   [records.unit_provenance(state, inputs(config, p["unit"])) for p in payloads])


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous setting."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _run_unit(compute: Compute, config: dict, unit: dict, threads: int | None) -> dict:
    """Worker: compute one unit (in this process, a joblib worker or a Dask worker on another machine)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    start = time.perf_counter()
    result = compute(config, unit)
    return {"unit": unit, "result": result, "wall_time_s": time.perf_counter() - start}


def _check_config(out: Path, config: dict) -> None:
    """Refuse a folder holding units of another configuration (``<out>/config.json``, written with the first
    unit, so that a run failing before any unit leaves nothing behind)."""
    path = out / "config.json"
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != config:
            changed = sorted(k for k in set(previous) | set(config) if previous.get(k) != config.get(k))
            raise ValueError(f"{out} holds units of a different configuration (differs in {changed}); "
                             "use another --out, or delete that folder to start again")


def run_units(name: str, compute: Compute, config: dict[str, Any], units: list[dict[str, Any]], out: Path, *,
              inputs: Callable[[dict, dict], dict] = unit_inputs, jobs: int = 1, scheduler: str | None = None,
              progress: bool = True, reuse_stale: bool = False, state: dict[str, Any] | None = None
              ) -> dict[str, dict[str, Any]]:
    """Compute the ``units`` of the sweep ``name`` not yet saved in ``<out>/units`` and return every unit's payload
    (``{"unit", "result", "wall_time_s", "provenance"}``) keyed by unit id.

    ``<out>/config.json`` pins ``config``: a folder holding units of another configuration is refused. Each unit
    file carries its provenance (:func:`prunebench.records.unit_provenance` of ``inputs(config, unit)``: commit,
    clean/dirty, version, configuration hash); a saved unit whose provenance differs from this run's (``state``,
    default :func:`prunebench.records.git_state` now) is stale and computed again, unless ``reuse_stale``.
    ``jobs`` > 1 runs the units through joblib, ``scheduler`` (a Dask scheduler's address) on that cluster.
    """
    ids = [u["id"] for u in units]
    bad = [i for i in ids if not _UNIT_ID.match(i)]
    if bad or len(set(ids)) != len(ids):
        raise RuntimeError(f"experiment {name} produced invalid or duplicate unit ids: {bad or ids}")
    state = records.git_state([out]) if state is None else state
    _check_config(out, config)

    def path_of(unit_id: str) -> Path:
        return out / "units" / f"{unit_id}.json"

    def provenance_of(unit: dict[str, Any]) -> dict[str, Any]:
        return records.unit_provenance(state, inputs(config, unit))

    done: dict[str, dict] = {}
    stale: list[str] = []
    for unit in units:
        try:
            payload = json.loads(path_of(unit["id"]).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        if payload.get("provenance") != provenance_of(unit):
            stale.append(unit["id"])
            if not reuse_stale:
                continue
        done[unit["id"]] = payload
    if stale:
        first = json.loads(path_of(stale[0]).read_text()).get("provenance") or {}
        origin = (f"commit {records.commit_label(first, 12)}, prunebench {first.get('prunebench')}"
                  if first else "no provenance")
        action = ("reusing them (--reuse-stale: the record says so)" if reuse_stale
                  else "computing them again (--reuse-stale keeps them)")
        log.warning("%s: %d of %d saved units were computed by other code or configuration (e.g. %s: %s); %s",
                    name, len(stale), len(units), stale[0], origin, action)
    pending = [u for u in units if u["id"] not in done]
    if done:
        log.warning("%s: resuming, %d of %d units already done", name, len(done), len(units))
    if not pending:
        return done

    from tqdm.auto import tqdm

    bar = tqdm(total=len(pending), desc=name, unit="unit", disable=not progress)

    def save(payload: dict) -> None:
        """Write a finished unit atomically here, as soon as it arrives: the output folder need not be shared
        with remote workers."""
        if not (out / "config.json").exists():
            records.atomic_write_json(out / "config.json", config)
        payload["provenance"] = provenance_of(payload["unit"])
        records.atomic_write_json(path_of(payload["unit"]["id"]), payload)
        done[payload["unit"]["id"]] = payload
        bar.update()

    if jobs == 1 and not scheduler:
        for unit in pending:
            bar.set_postfix_str(unit["id"], refresh=False)
            save(_run_unit(compute, config, unit, None))
    else:
        import joblib

        calls = (joblib.delayed(_run_unit)(compute, config, unit, 1) for unit in pending)
        if scheduler:
            from distributed import Client

            with Client(scheduler), joblib.parallel_config(backend="dask"):
                for payload in joblib.Parallel(n_jobs=-1, return_as="generator_unordered")(calls):
                    save(payload)
        else:
            for payload in joblib.Parallel(n_jobs=jobs, return_as="generator_unordered")(calls):
                save(payload)
    bar.close()
    return done
