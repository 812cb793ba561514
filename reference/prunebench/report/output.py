"""Every output file of ``prunebench report``, generated in memory from the records and written; files the
records no longer generate are removed."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from .figures import render_figure
from .load import LoadedRecord, _load_some
from .readme import _index, _readme_text
from .tables import claims_csv, claims_latex, claims_markdown, table_csv, table_latex, table_markdown

__all__ = ["generate", "write"]

log = logging.getLogger(__name__)


def _generate(loaded: Sequence[LoadedRecord], figures: bool) -> dict[Path, bytes]:
    files: dict[Path, bytes] = {Path("README.md"): _index(loaded).encode()}
    for item in loaded:
        record, tables = item.record, Path(item.name) / "tables"
        if record["results"].get("claims"):
            files[tables / "claims.md"] = claims_markdown(record, item.origin).encode()
            files[tables / "claims.tex"] = claims_latex(record, item.origin).encode()
            files[tables / "claims.csv"] = claims_csv(record).encode()
        for table in record["results"].get("tables", []):
            files[tables / f"{table['id']}.md"] = table_markdown(record, table, item.origin).encode()
            files[tables / f"{table['id']}.tex"] = table_latex(record, table, item.origin).encode()
            files[tables / f"{table['id']}.csv"] = table_csv(table).encode()
        if figures:
            for spec in record["results"].get("figures", []):
                for fmt, data in render_figure(spec, record["results"].get("curves", [])).items():
                    files[Path(item.name) / "figures" / f"{spec['id']}.{fmt}"] = data
    return files


def _figure_paths(loaded: Sequence[LoadedRecord]) -> list[Path]:
    return [Path(item.name) / "figures" / f"{spec['id']}.{fmt}" for item in loaded
            for spec in item.record["results"].get("figures", []) for fmt in ("png", "svg")]


def generate(results: str | Path, *, figures: bool = True) -> dict[Path, bytes]:
    """Every output file of ``prunebench report`` as ``{path relative to the output folder: bytes}``,
    computed in memory from the records under ``results`` (figures only when ``figures``)."""
    return _generate(_load_some(results), figures)


def _orphans(out: Path, expected: Iterable[Path]) -> list[Path]:
    """Files in the ``tables`` and ``figures`` folders of the experiments under ``out`` that no record
    generates."""
    expected = set(expected)
    experiments = {rel.parts[0] for rel in expected if len(rel.parts) > 1}
    return sorted(p for e in experiments for sub in ("tables", "figures") for p in (out / e / sub).glob("*")
                  if p.is_file() and p.relative_to(out) not in expected)


def write(results: str | Path, out: str | Path, readme: str | Path | None = None, *,
          figures: bool = True) -> list[Path]:
    """Write every output under ``out`` (and the README sections when ``readme``); returns the paths written.

    Files in ``<out>/<experiment>/tables`` and ``figures`` that the records no longer generate are removed
    (figures are left alone when ``figures`` is false)."""
    out = Path(out)
    loaded = _load_some(results)
    files = _generate(loaded, figures)
    written = []
    for rel, data in sorted(files.items()):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    for orphan in _orphans(out, [*files, *_figure_paths(loaded)]):
        orphan.unlink()
        log.warning("removed %s: no record generates it", orphan)
    if readme is not None:
        readme = Path(readme)
        text, problems = _readme_text(readme, loaded, out)
        for problem in problems:
            log.warning("section not written: %s", problem)
        if text != readme.read_text():
            readme.write_text(text)
        written.append(readme)
    return written
