"""Result records: the contract between computation and reporting.

A record is one JSON document: ``{"schema": "prunebench.record/1", "kind": ..., "provenance": {...},
"config": {...}, "results": ...}``. Provenance says what was run and where: the exact command, package version
and git commit, torch/numpy versions, device name, dtype, seeds and wall time. Records are written atomically
(temp file, fsync, rename), so an interrupted run never leaves a partial file, and reading one validates it
against the versioned JSON schema in ``prunebench/schemas/record.schema.json``.

This module imports no torch at import time, so reporting stays fast.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA", "RecordError", "atomic_write_json", "cpu_name", "make_record", "provenance", "read_record",
           "validate_record"]

SCHEMA = "prunebench.record/1"


class RecordError(ValueError):
    """A record that is missing, unreadable or fails its schema."""


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


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
               wall_time: float | None = None, command: str | None = None) -> dict[str, Any]:
    """Everything needed to say where a number came from."""
    import numpy
    import torch

    from . import __version__

    if device.startswith("cuda") and torch.cuda.is_available():
        device_name = torch.cuda.get_device_name(torch.device(device))
    else:
        device_name = cpu_name()
    return {
        "command": command or shlex.join(["prunebench", *sys.argv[1:]]),
        "prunebench": __version__,
        "git_commit": _git_commit(),
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
def _schema() -> dict:
    return json.loads(resources.files("prunebench").joinpath("schemas/record.schema.json").read_text())


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
    import jsonschema

    bad = _non_finite(record)
    if bad:
        raise RecordError(f"{source} does not follow {SCHEMA}: at {bad}: NaN and infinity are not JSON; "
                          "store a non-finite measurement as null and say why in the record")
    try:
        jsonschema.validate(record, _schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "(top level)"
        raise RecordError(f"{source} does not follow {SCHEMA}: at {where}: {exc.message}. "
                          "Regenerate it with the command in its provenance, or fix the field.") from None


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
