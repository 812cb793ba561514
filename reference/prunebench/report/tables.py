"""A record's tables as documents: the claims table and every extra table of the record, each in Markdown,
LaTeX and CSV, with a provenance footer and the BibTeX of the paper and of the suite."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

from .. import records
from .bibtex import _bibtex_block, _papers, short_cite
from .claims import _metric, _ours, _rule_csv, _rule_text, _verdict_rule_text, evaluate_claims
from .formatting import (
    _SMALL_BEGIN,
    _SMALL_END,
    _csv_value,
    _fmt,
    _join,
    _md_text,
    _tex,
    _value,
    latex_tabular,
    markdown_table,
)

__all__ = ["claims_csv", "claims_latex", "claims_markdown", "table_csv", "table_latex", "table_markdown"]


def _seed_text(seeds: Sequence[int]) -> str:
    seeds = list(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]} ({len(seeds)})"
    return ", ".join(map(str, seeds)) + f" ({len(seeds)})"


def _provenance_items(record: Mapping, origin: str) -> list[tuple[str, str, bool]]:
    """``(name, value, is code)`` for the provenance footer of every table of ``record``; ``origin`` names
    the record file (see :attr:`~prunebench.report.load.LoadedRecord.origin`)."""
    prov = record["provenance"]
    wall = prov.get("wall_time_s")
    device = prov.get("device", "?") + (f" ({prov['device_name']})" if prov.get("device_name") else "")
    return [("command", str(prov.get("command", "?")), True),
            ("prunebench", str(prov.get("prunebench", "?")), False),
            ("git commit", records.commit_label(prov), False),
            ("units", _units_text(prov), False),
            ("python", str(prov.get("python", "?")), False), ("torch", str(prov.get("torch", "?")), False),
            ("numpy", str(prov.get("numpy", "?")), False), ("device", device, False),
            ("dtype", str(prov.get("dtype", "?")), False),
            ("seeds", _seed_text(prov.get("seeds", [])), False),
            ("wall time", "?" if wall is None else f"{wall:.1f} s (sum over units)", False),
            ("created", str(prov.get("created", "?")), False),
            *([("record", origin, False)] if origin else [])]


def _units_text(prov: Mapping) -> str:
    """The compact unit provenance of a record: ``"100, all at its commit"`` or one group per commit."""
    groups = prov.get("units")
    if groups is None:
        return "no per-unit provenance (made by an older prunebench)"
    total = sum(g["units"] for g in groups)
    stale = sum(g["stale"] for g in groups)
    if len(groups) == 1 and not stale and groups[0]["git_commit"] == str(prov.get("git_commit")).removesuffix(
            "-dirty") and groups[0]["dirty"] == records.is_dirty(prov):
        return f"{total}, all computed at its commit"
    parts = [f"{g['units']} at {records.commit_label(g, 12)}" + (f" ({g['stale']} stale)" if g["stale"] else "")
             for g in groups]
    return f"{total}: " + ", ".join(parts)


def _footer_markdown(record: Mapping, origin: str) -> str:
    prov = " · ".join(f"{name}: `{value}`" if code else f"{name}: {value}"
                      for name, value, code in _provenance_items(record, origin))
    return (f"**Provenance.** {prov}\n\n**Cite** (the paper, and the suite that reproduced it):\n\n"
            f"```bibtex\n{_bibtex_block(record)}\n```\n")


def _footer_latex(record: Mapping, origin: str) -> str:
    items = [f"{name}: " + (r"\texttt{" + _tex(value) + "}" if code else _tex(value))
             for name, value, code in _provenance_items(record, origin)]
    return r"{\footnotesize\raggedright Provenance. " + "; ".join(items) + r".\par}"


def _bibtex_comment(record: Mapping) -> str:
    lines = _bibtex_block(record).splitlines()
    return "% BibTeX (add to your .bib file):\n" + "\n".join(f"% {line}".rstrip() for line in lines) + "\n"


def _title(record: Mapping) -> str:
    return str(record["results"].get("title") or record["kind"])


def _quick_note(record: Mapping) -> str:
    if record.get("config", {}).get("quick"):
        return "**Quick protocol**: a smoke-test run with a reduced protocol, not a full reproduction.\n\n"
    return ""


_STATS_NOTE = ("Ours: the median over seeds (the mean where marked) with a 95% percentile-bootstrap CI "
               "(10,000 resamples). Verdict rule per claim (prunebench.stats): where the paper makes a "
               "population claim, *reproduced* when the whole CI satisfies the rule, *partly* when only the "
               "estimate does, *not reproduced* otherwise (one seed: the CI is the point); where the paper "
               "reports one network, *reproduced* when at least one seed is as good as the paper's network "
               "(its value lies within our seeds' prediction interval [min, max], coverage (n-1)/(n+1), or "
               "beyond it on the claim's side), *not reproduced* otherwise; the seeds as good are printed.")


def _quick_tex(record: Mapping) -> str:
    quick = record.get("config", {}).get("quick")
    return r"\textbf{Quick protocol: not a full reproduction.} " if quick else ""


def claims_markdown(record: Mapping, origin: str = "") -> str:
    """The record's claims as a Markdown document: table, tolerances, deviations, provenance, BibTeX."""
    claims = evaluate_claims(record)
    papers = _papers(record)
    cited = ", ".join(f"{short_cite(k)} [`{k}`]" for k in papers) or "the paper"
    lines = [f"# {record['kind']}: {_title(record)}", "",
             f"Claims of {cited}, reproduced with `prunebench reproduce {record['kind']}`. {_STATS_NOTE}", "",
             _quick_note(record).rstrip("\n"), ""]
    rows = [(c.id, c.statement, c.source, _metric(c), _value(c.paper_value, c.unit), _ours(c), c.n,
             _rule_text(c.rule, c.unit), _verdict_rule_text(c), f"**{c.verdict}**") for c in claims]
    lines += markdown_table(("id", "claim", "source", "metric", "paper", "ours [95% CI]", "seeds", "rule",
                             "verdict rule", "verdict"), rows, ["left"] * 4 + ["right"] * 3 + ["left"] * 3)
    notes = [f"- `{c.id}`: {c.tolerance_note}" for c in claims if c.tolerance_note]
    if notes:
        lines += ["", "**Tolerances.**", "", *notes]
    deviations = record["results"].get("deviations", [])
    if deviations:
        lines += ["", "**Deviations from the paper.**", "", *(f"- {_md_text(d)}" for d in deviations)]
    lines += ["", _footer_markdown(record, origin)]
    return _join(lines)


def claims_latex(record: Mapping, origin: str = "") -> str:
    """The record's claims as a LaTeX ``table`` with booktabs rules, provenance and the BibTeX as comments."""
    claims = evaluate_claims(record)
    papers = _papers(record)
    cite = r"~\cite{" + ",".join(papers) + "}" if papers else ""
    rows = []
    for c in claims:
        detail = "; ".join(t for t in (c.source, _metric(c)) if t)
        claim = _md_text(c.statement) + (f"{_SMALL_BEGIN}{_md_text(detail)}{_SMALL_END}" if detail else "")
        rows.append((claim, _value(c.paper_value, c.unit), _ours(c), c.n, _rule_text(c.rule, c.unit),
                     _verdict_rule_text(c), c.verdict))
    notes = "; ".join(f"{_tex(c.id)}: {_tex(c.tolerance_note)}" for c in claims if c.tolerance_note)
    deviations = " ".join(_tex(d) for d in record["results"].get("deviations", []))
    quick = _quick_tex(record)
    out = [f"% Generated by `prunebench report` from {record['kind']}/record.json; do not edit by hand.",
           r"% Needs \usepackage{booktabs}.",
           r"\begin{table}[htbp]", r"\centering",
           rf"\caption{{{_tex(_title(record))}: claims of the paper{cite} and our reproduction. Ours: median "
           r"over seeds (mean where marked) [95\% bootstrap CI]. Verdict, population claims: reproduced "
           r"when the whole CI satisfies the rule, partly when only the estimate does; one-network claims: "
           r"reproduced when at least one seed is as good as the paper's network (within our seeds' "
           r"prediction interval).}",
           rf"\label{{tab:{record['kind']}-claims}}",
           *latex_tabular(("Claim", "Paper", "Ours", "n", "Rule", "Verdict rule", "Verdict"), rows,
                          r"@{}p{0.3\linewidth}rp{0.2\linewidth}rlp{0.1\linewidth}l@{}"),
           r"\par\smallskip"]
    if quick or notes:
        out.append(r"{\footnotesize\raggedright " + quick + ("Tolerances. " + notes + "." if notes else "")
                   + r"\par}")
    if deviations:
        out.append(r"{\footnotesize\raggedright Deviations from the paper. " + deviations + r"\par}")
    out += [_footer_latex(record, origin), r"\end{table}", _bibtex_comment(record)]
    return "\n".join(out)


def claims_csv(record: Mapping) -> str:
    """The record's claims as CSV, one row per claim, numbers at full precision (10 significant digits)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["experiment", "id", "statement", "source", "metric", "unit", "paper_value", "statistic",
                     "estimate", "ci_low", "ci_high", "n_seeds", "rule", "tolerance_note", "verdict_rule",
                     "seeds_as_good", "pi_low", "pi_high", "pi_level", "verdict"])
    for c in evaluate_claims(record):
        s = c.single
        single = ([s.as_good, _csv_value(s.low), _csv_value(s.high), _csv_value(s.level)] if s else
                  ["", "", "", ""])
        writer.writerow([record["kind"], c.id, c.statement, c.source, c.metric, c.unit,
                         _csv_value(c.paper_value), c.statistic, _csv_value(c.estimate), _csv_value(c.low),
                         _csv_value(c.high), c.n, _rule_csv(c.rule), c.tolerance_note, c.verdict_rule,
                         *single, c.verdict])
    return buf.getvalue()


def _numeric_columns(table: Mapping) -> list[bool]:
    return [all(row[j] is None or (isinstance(row[j], (int, float)) and not isinstance(row[j], bool))
                for row in table["rows"]) and any(row[j] is not None for row in table["rows"])
            for j in range(len(table["columns"]))]


def table_markdown(record: Mapping, table: Mapping, origin: str = "") -> str:
    """One of the record's extra tables as a Markdown document with notes, provenance and BibTeX."""
    numeric = _numeric_columns(table)
    lines = [f"# {record['kind']}: {table.get('title') or table['id']}", "",
             _quick_note(record).rstrip("\n"), "",
             *markdown_table(table["columns"], [[_fmt(v) for v in row] for row in table["rows"]],
                             ["right" if n else "left" for n in numeric])]
    notes = table.get("notes") or []
    if notes:
        lines += ["", *(f"- {_md_text(n)}" for n in notes)]
    lines += ["", _footer_markdown(record, origin)]
    return _join(lines)


def table_latex(record: Mapping, table: Mapping, origin: str = "") -> str:
    """One of the record's extra tables as a LaTeX booktabs ``table``."""
    numeric = _numeric_columns(table)
    papers = _papers(record)
    cite = r"~\cite{" + ",".join(papers) + "}" if papers else ""
    notes = " ".join(_tex(n) for n in table.get("notes") or [])
    out = [f"% Generated by `prunebench report` from {record['kind']}/record.json; do not edit by hand.",
           r"% Needs \usepackage{booktabs}.",
           r"\begin{table}[htbp]", r"\centering",
           rf"\caption{{{_tex(table.get('title') or table['id'])}{cite}.}}",
           rf"\label{{tab:{record['kind']}-{table['id']}}}",
           *latex_tabular(table["columns"], [[_fmt(v) for v in row] for row in table["rows"]],
                          "@{}" + "".join("r" if n else "l" for n in numeric) + "@{}"),
           r"\par\smallskip"]
    if notes or _quick_tex(record):
        out.append(r"{\footnotesize\raggedright " + _quick_tex(record) + notes + r"\par}")
    out += [_footer_latex(record, origin), r"\end{table}", _bibtex_comment(record)]
    return "\n".join(out)


def table_csv(table: Mapping) -> str:
    """One extra table as CSV: its columns, then its rows (10 significant digits; null is empty)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table["columns"])
    for row in table["rows"]:
        writer.writerow([_csv_value(v) for v in row])
    return buf.getvalue()
