"""The records a report is made from: every ``<results>/<experiment>/record.json`` with claims, tables or
figures, read and checked."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import records
from .bibtex import _papers

__all__ = ["LoadedRecord", "load_records"]

log = logging.getLogger(__name__)


def _check_table(record: Mapping, table: Any, i: int) -> None:
    where = f"{record['kind']}: tables[{i}]"
    if not isinstance(table, Mapping) or not {"id", "columns", "rows"} <= set(table):
        raise ValueError(f"{where} must be {{'id', 'title', 'columns', 'rows', 'notes'}}; got keys "
                         f"{sorted(table) if isinstance(table, Mapping) else type(table).__name__}")
    width = len(table["columns"])
    bad = [j for j, row in enumerate(table["rows"]) if len(row) != width]
    if bad:
        raise ValueError(f"{where} ({table['id']}): every row needs {width} cells, one per column; "
                         f"rows {bad} differ")


def _check_figure(spec: Any, kind: str, i: int) -> None:
    if not isinstance(spec, Mapping) or "id" not in spec:
        raise ValueError(f"{kind}: figures[{i}] must be {{'id', 'title', 'xlabel', 'ylabel', 'logy', 'logx', "
                         f"'panels', 'caption'}}; got {spec!r}")


@dataclass(frozen=True)
class LoadedRecord:
    """A validated record, the folder it came from (``name``) and the sha256 of its file."""

    name: str
    record: dict
    digest: str

    @property
    def origin(self) -> str:
        """``"<name>/record.json, sha256 <16 hex digits>"``: the file, and version, a table came from."""
        return f"{self.name}/record.json, sha256 {self.digest[:16]}"


def load_records(results: str | Path) -> list[LoadedRecord]:
    """Every ``<results>/<experiment>/record.json`` whose results have claims, tables or figures, sorted by
    folder name and checked (claims are checked when evaluated)."""
    results = Path(results)
    if not results.is_dir():
        raise FileNotFoundError(f"results folder not found: {results}; pass --results DIR (the --out of "
                                "`prunebench reproduce`)")
    found = []
    for path in sorted(results.glob("*/record.json")):
        record = records.read_record(path)
        body = record["results"]
        if not isinstance(body, dict) or not {"claims", "tables", "figures"} & set(body):
            log.warning("%s: no claims, tables or figures in its results; skipped", path)
            continue
        for i, table in enumerate(body.get("tables", [])):
            _check_table(record, table, i)
        for i, spec in enumerate(body.get("figures", [])):
            _check_figure(spec, record["kind"], i)
        _papers(record)
        found.append(LoadedRecord(path.parent.name, record, hashlib.sha256(path.read_bytes()).hexdigest()))
    return found


def _load_some(results: str | Path) -> list[LoadedRecord]:
    loaded = load_records(results)
    if not loaded:
        raise FileNotFoundError(f"no records under {results} (expected {results}/<experiment>/record.json); "
                                "run `prunebench reproduce all --out results` first")
    return loaded
