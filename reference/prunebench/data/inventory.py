"""What is where: one row per dataset (verified, missing, corrupt or builtin) and its plain-text table."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import digits
from .fetch import data_roots, file_sha256, locate
from .loader import file_records
from .registry import SPECS, names
from .spec import DatasetSpec

__all__ = ["DatasetStatus", "format_status", "status"]


@dataclass(frozen=True)
class DatasetStatus:
    """One row of :func:`status`.

    ``state`` is "verified" (all files present, sha256 match), "missing" (some file absent from every root),
    "corrupt" (a file present but its sha256 differs) or "builtin" (no files needed). ``paths`` holds the
    folder that was used (verified, corrupt), every folder looked in (missing) or the builtin's source.
    """

    name: str
    state: str
    paths: tuple[str, ...]
    detail: str


def _status_row(spec: DatasetSpec, roots: list[Path]) -> DatasetStatus:
    if spec.folder is None:
        records = file_records(spec, None)
        if not records:
            return DatasetStatus(spec.name, "builtin", (), "defined in code")
        known = "as in the datasheet" if records[0]["sha256"] == digits.CSV_SHA256 else (
            "differs from the datasheet's (another scikit-learn version)")
        return DatasetStatus(spec.name, "builtin", (records[0]["path"],),
                             f"scikit-learn's load_digits; sha256 {records[0]['sha256'][:12]}... {known}")
    folder = locate(spec, roots)
    if folder is None:
        return DatasetStatus(spec.name, "missing", tuple(str(r / spec.folder) for r in roots),
                             f"needs {', '.join(f.name for f in spec.files)}")
    bad = [f.name for f in spec.files if file_sha256(folder / f.name) != f.sha256]
    if bad:
        return DatasetStatus(spec.name, "corrupt", (str(folder),),
                             f"sha256 mismatch: {', '.join(bad)}; delete and re-download, or replace")
    return DatasetStatus(spec.name, "verified", (str(folder),), f"{len(spec.files)} file(s), sha256 ok")


def status(root: str | os.PathLike[str] | None = None) -> list[DatasetStatus]:
    """One row per dataset (sorted by name): where it stands under :func:`data_roots`; never downloads."""
    roots = data_roots(root)
    return [_status_row(SPECS[name], roots) for name in names()]


def format_status(rows: Iterable[DatasetStatus]) -> str:
    """A plain-text table of :func:`status` rows; a missing dataset lists every folder looked in."""
    rows = list(rows)
    table = [("dataset", "state", "location", "detail")]
    table += [(r.name, r.state, r.paths[0] if r.paths else "-", r.detail) for r in rows]
    w_name, w_state, w_loc = (max(len(line[i]) for line in table) for i in range(3))
    lines = []
    for i, (name, state, location, detail) in enumerate(table):
        lines.append(f"{name:<{w_name}}  {state:<{w_state}}  {location:<{w_loc}}  {detail}".rstrip())
        if i > 0:
            lines += [" " * (w_name + w_state + 4) + extra for extra in rows[i - 1].paths[1:]]
    return "\n".join(lines)
