"""Result records: the contract between computation and reporting.

A record is one JSON document: ``{"schema": "prunebench.record/1", "kind": ..., "provenance": {...},
"config": {...}, "results": ...}``. Provenance says what was run and where: the exact command, package version
and git commit, torch/numpy versions, device name, dtype, seeds and wall time. Records are written atomically
(temp file, fsync, rename), so an interrupted run never leaves a partial file, and reading one validates it
against the versioned JSON schema in ``prunebench/schemas/record.schema.json``.

This module imports no torch at import time, so reporting stays fast.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["OUTPUTS", "SCHEMA", "DirtySourceError", "RecordError", "atomic_write_json", "commit_label",
           "config_hash", "cpu_name", "git_state", "is_dirty", "make_record", "provenance", "provenance_problems",
           "read_record", "require_clean", "summarize_units", "unit_provenance", "validate_json", "validate_record"]

SCHEMA = "prunebench.record/1"


class RecordError(ValueError):
    """A record that is missing, unreadable or fails its schema."""


OUTPUTS = ("results", "leaderboard", "README.md")
"""Tracked paths (relative to the checkout) that commands write and that therefore never make the source dirty:
the committed results, the leaderboard and the README, whose generated blocks are rendered from them."""


class DirtySourceError(ValueError):
    """Tracked source files differ from the commit a record would be stamped with."""


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None


def _inside(path: str, folder: str) -> bool:
    return folder == "" or path == folder or path.startswith(folder.rstrip("/") + "/")


@cache
def _toplevel() -> Path | None:
    out = _git(["rev-parse", "--show-toplevel"], Path(__file__).resolve().parent)
    return Path(out.stdout.strip()) if out is not None and out.returncode == 0 else None


def git_state(outputs: Iterable[str | Path] = ()) -> dict[str, Any]:
    """The source revision of this package: ``{"commit": 40-hex or None outside a checkout, "dirty": bool,
    "changed": [tracked files that differ from the commit], "diff_sha256": hash of their diff or None}``.

    Files under :data:`OUTPUTS` and under ``outputs`` (folders a command is about to write; paths relative to
    the current directory) do not count: a run writing its own results does not make its source dirty."""
    top = _toplevel()
    if top is None:
        return {"commit": None, "dirty": False, "changed": [], "diff_sha256": None}
    head = _git(["rev-parse", "HEAD"], top)
    status = _git(["status", "--porcelain=v1", "-z", "--untracked-files=no"], top)
    if head is None or status is None or head.returncode != 0 or status.returncode != 0:
        return {"commit": None, "dirty": False, "changed": [], "diff_sha256": None}
    skip = list(OUTPUTS)
    for out in outputs:
        resolved = Path(out).resolve()
        if resolved.is_relative_to(top):
            skip.append(resolved.relative_to(top).as_posix())
    fields = status.stdout.split("\0")
    changed, i = [], 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        if entry[0] in "RC":  # a rename lists its source next
            i += 1
        path = entry[3:]
        if not any(_inside(path, folder) for folder in skip):
            changed.append(path)
    digest = None
    if changed:
        diff = _git(["diff", "--no-color", "HEAD", "--", *changed], top)
        digest = hashlib.sha256((diff.stdout if diff is not None else "").encode()).hexdigest()
    return {"commit": head.stdout.strip(), "dirty": bool(changed), "changed": changed, "diff_sha256": digest}


def require_clean(state: Mapping[str, Any], allow_dirty: bool) -> None:
    """Raise :class:`DirtySourceError` (one line) when ``state`` (:func:`git_state`) is dirty, unless
    ``allow_dirty``."""
    if state["dirty"] and not allow_dirty:
        changed = state["changed"]
        raise DirtySourceError(
            f"{len(changed)} tracked source file(s) differ from commit {state['commit'][:12]} ({', '.join(changed[:3])}"
            f"{', ...' if len(changed) > 3 else ''}); commit them first, or pass --allow-dirty to write a record "
            "marked dirty")


def commit_label(prov: Mapping[str, Any], width: int | None = None) -> str:
    """The commit of a provenance for display, cut to ``width`` characters, with ``-dirty`` when it was dirty."""
    commit = str(prov.get("git_commit") or "unknown").removesuffix("-dirty")
    return commit[:width] + ("-dirty" if is_dirty(prov) else "")


def is_dirty(prov: Mapping[str, Any]) -> bool:
    """Whether a provenance (of a record, entry or unit) says its source differed from its commit."""
    return bool(prov.get("dirty")) or str(prov.get("git_commit", "")).endswith("-dirty")


def config_hash(obj: Any) -> str:
    """SHA-256 of ``obj`` as canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def unit_provenance(state: Mapping[str, Any], config: Any) -> dict[str, Any]:
    """What a unit file stores about the code and configuration that computed it: commit, clean/dirty (with the
    hash of the diff), package version and :func:`config_hash` of its configuration."""
    from . import __version__

    return {"git_commit": state["commit"], "dirty": bool(state["dirty"]), "diff_sha256": state["diff_sha256"],
            "prunebench": __version__, "config_hash": config_hash(config)}


def summarize_units(stored: Iterable[Mapping[str, Any] | None],
                    current: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The provenance of a record's units, compactly: each distinct (commit, dirty, version) of the ``stored``
    unit provenances with its ``units`` count and how many of them are ``stale`` (differ from the ``current``
    provenance the same unit gets now: other code or configuration)."""
    groups: dict[tuple, dict[str, Any]] = {}
    for prov, now in zip(stored, current, strict=True):
        prov = prov or {}
        key = (prov.get("git_commit"), is_dirty(prov), prov.get("prunebench"))
        row = groups.setdefault(key, {"git_commit": key[0], "dirty": key[1], "prunebench": key[2], "units": 0,
                                      "stale": 0})
        row["units"] += 1
        row["stale"] += prov != now
    return sorted(groups.values(), key=lambda r: (-r["units"], str(r["git_commit"])))


def provenance_problems(prov: Mapping[str, Any], where: str) -> list[str]:
    """Why a record or entry with provenance ``prov`` may not back the committed tables: unknown or short commit,
    a dirty source, units without provenance, stale or dirty units. Empty: it may."""
    problems = []
    commit = str(prov.get("git_commit", "")).removesuffix("-dirty")
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        problems.append(f"{where}: commit {prov.get('git_commit')!r} is not a full 40-hex hash; regenerate it "
                        "from a clean checkout")
    if is_dirty(prov):
        problems.append(f"{where}: made from a dirty source tree ({commit_label(prov, 12)}); commit the code, "
                        "then regenerate it")
    units = prov.get("units")
    if units is None:
        problems.append(f"{where}: its units carry no provenance (made by an older prunebench); regenerate it")
    else:
        stale = sum(row["stale"] for row in units)
        dirty = sum(row["units"] for row in units if row["dirty"])
        if stale:
            problems.append(f"{where}: {stale} unit(s) were computed by other code or configuration "
                            "(--reuse-stale); regenerate it without --reuse-stale")
        if dirty:
            problems.append(f"{where}: {dirty} unit(s) were computed from a dirty source tree; regenerate it")
    return problems


def cpu_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` knows (often only the
    architecture)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(*, device: str = "cpu", dtype: str = "float64", seeds: list[int] | None = None,
               wall_time: float | None = None, command: str | None = None,
               state: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to say where a number came from; ``state`` is the :func:`git_state` checked when the
    run started (default: now)."""
    import numpy
    import torch

    from . import __version__

    state = git_state() if state is None else state
    if device.startswith("cuda") and torch.cuda.is_available():
        device_name = torch.cuda.get_device_name(torch.device(device))
    else:
        device_name = cpu_name()
    return {
        "command": command or shlex.join(["prunebench", *sys.argv[1:]]),
        "prunebench": __version__,
        "git_commit": state["commit"] or "unknown",
        "dirty": bool(state["dirty"]),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "device": device,
        "device_name": device_name,
        "threads": torch.get_num_threads(),
        "dtype": dtype,
        "seeds": list(seeds or []),
        "wall_time_s": wall_time,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def make_record(kind: str, config: dict, results: Any, prov: dict) -> dict:
    """A record of ``kind`` (e.g. ``"obd-digits"``); ``results`` holds the measured values per seed."""
    record = {"schema": SCHEMA, "kind": kind, "provenance": prov, "config": config, "results": results}
    validate_record(record)
    return record


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as pretty JSON to ``path`` atomically: readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a result file gets the usual permissions
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=1, sort_keys=True, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@cache
def _schema(file: str) -> dict:
    return json.loads(resources.files("prunebench").joinpath(f"schemas/{file}").read_text())


def validate_json(document: Any, file: str, name: str, source: str, error: type[ValueError], remedy: str) -> None:
    """Raise ``error`` naming the first place where ``document`` does not follow the packaged JSON schema
    ``prunebench/schemas/<file>`` (called ``name``): ``"<source> does not follow <name>: at <path>: <why>.
    <remedy>"``."""
    import jsonschema

    try:
        jsonschema.validate(document, _schema(file))
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "(top level)"
        raise error(f"{source} does not follow {name}: at {where}: {exc.message}. {remedy}") from None


def _non_finite(obj: Any, where: str = "") -> str | None:
    """Path of the first NaN or infinity inside ``obj`` (JSON has no such numbers), or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where or "(top level)"
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        found = _non_finite(value, f"{where}/{key}" if where else str(key))
        if found:
            return found
    return None


def validate_record(record: Any, source: str = "record") -> None:
    """Raise :class:`RecordError` naming the first violation when ``record`` does not follow the schema."""
    bad = _non_finite(record)
    if bad:
        raise RecordError(f"{source} does not follow {SCHEMA}: at {bad}: NaN and infinity are not JSON; "
                          "store a non-finite measurement as null and say why in the record")
    validate_json(record, "record.schema.json", SCHEMA, source, RecordError,
                  "Regenerate it with the command in its provenance, or fix the field.")


def read_record(path: str | Path) -> dict:
    """Load and validate one record file."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordError(f"record file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path} is not valid JSON ({exc}); delete it and re-run the command that made it") from None
    validate_record(record, str(path))
    return record
