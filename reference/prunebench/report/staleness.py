"""``prunebench report --check``: what differs from what the records generate, and which records may not back
the committed tables."""

from __future__ import annotations

from pathlib import Path

from .. import records
from .load import _load_some
from .output import _figure_paths, _generate, _orphans
from .readme import _readme_text

__all__ = ["check"]


def check(results: str | Path, out: str | Path, readme: str | Path | None = None, *,
          provenance: bool = True) -> list[str]:
    """What is wrong, one line each: outputs under ``out`` (and sections of ``readme``) that differ from what
    the records under ``results`` generate, are missing, or are no longer generated; and, when ``provenance``,
    records that may not back the committed tables (:func:`prunebench.records.provenance_problems`: a dirty
    source, a short or unknown commit, stale or dirty units). Tables, the index and the README are compared
    byte for byte; figures must exist (their bytes depend on the matplotlib build)."""
    out = Path(out)
    loaded = _load_some(results)
    files = _generate(loaded, figures=False)
    stale = []
    if provenance:
        for item in loaded:
            stale += records.provenance_problems(item.record["provenance"],
                                                 str(Path(results) / item.name / "record.json"))
    for rel, data in sorted(files.items()):
        path = out / rel
        if not path.exists():
            stale.append(f"{path} (missing)")
        elif path.read_bytes() != data:
            stale.append(f"{path} (differs from what the records generate)")
    stale += [f"{out / rel} (missing)" for rel in _figure_paths(loaded) if not (out / rel).exists()]
    stale += [f"{p} (no record generates it)" for p in _orphans(out, [*files, *_figure_paths(loaded)])]
    if readme is not None:
        readme = Path(readme)
        text, problems = _readme_text(readme, loaded, out)
        stale += problems
        if not problems and text != readme.read_text():
            stale.append(f"{readme} (its generated sections differ from what the records generate)")
    return stale
