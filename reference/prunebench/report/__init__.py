"""Reproduced tables and figures, regenerated from result records alone (no recomputation, no torch).

``prunebench report --results DIR --out DIR`` reads every ``DIR/<experiment>/record.json`` (format:
``docs/record-schema.md``) and writes, per experiment,

- ``<out>/<experiment>/tables/claims.{md,tex,csv}``: each claim of the paper beside ours, the rule that
  decides it, and the verdict;
- ``<out>/<experiment>/tables/<table id>.{md,tex,csv}``: the record's other tables;
- ``<out>/<experiment>/figures/<figure id>.{png,svg}``: the record's curves (median over seeds, 95% band);

plus the index ``<out>/README.md`` and the "Reproduced results" and "How to cite" sections of the project
README. Markdown and LaTeX tables carry a provenance footer (command, version, commit, torch/numpy, device,
dtype, seeds, wall time) and the BibTeX of the paper and of the suite.

Statistics: "ours" is the median over seeds (the mean for a claim with ``"aggregate": "mean"``) with a 95%
percentile-bootstrap confidence interval (10,000 resamples from ``numpy.random.default_rng(0)``, so every run
prints the same digits). The verdict follows the claim's verdict rule (:mod:`prunebench.stats`): for a
population claim (the default) *reproduced* when the whole interval satisfies the claim's rule, *partly* when
the estimate does but the interval does not, and *not reproduced* otherwise (with one seed the interval is
the point); for a claim about the paper's one network (``"verdict_rule": "single-network"``) *reproduced*
when at least one seed is as good as that network, printed with the prediction interval of our seeds.

Every output is a pure function of the records, so a fresh clone regenerates the committed tables byte for
byte, and ``prunebench report --check`` names each stale file. Figures are byte-identical too for a given
matplotlib build (fixed SVG hash salt, no dates or versions in the metadata); ``--check`` requires them to
exist.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import logging
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import records, stats
from ._validation import output_file, output_folder
from .stats import CI_LEVEL, RESAMPLES, STATISTICS, VERDICTS, bootstrap_ci, check_rule, satisfies

__all__ = ["BIBTEX", "CI_LEVEL", "METHOD_COLORS", "RESAMPLES", "STATISTICS", "VERDICTS", "ClaimResult",
           "LoadedRecord", "bootstrap_ci", "check", "claims_csv", "claims_latex", "claims_markdown",
           "evaluate_claims", "generate", "how_to_cite_section", "latex_tabular", "load_records", "markdown_table",
           "method_color", "parse_bibtex", "plot_figure", "register_cli", "render_figure", "reproduced_results_section",
           "satisfies", "short_cite", "table_csv", "table_latex", "table_markdown", "write"]

log = logging.getLogger(__name__)


SUITE_KEY = "prunebench2026"

BIBTEX: dict[str, str] = {
    "prunebench2026": """@software{prunebench2026,
  author = {{The prunebench contributors}},
  title = {prunebench: a reproducibility benchmark suite for second-order neural-network pruning},
  year = {2026},
  version = {0.1.0}
}""",
    "lecun1990obd": """@inproceedings{lecun1990obd,
  author = {LeCun, Yann and Denker, John S. and Solla, Sara A.},
  title = {Optimal Brain Damage},
  booktitle = {Advances in Neural Information Processing Systems 2},
  editor = {Touretzky, David S.},
  publisher = {Morgan Kaufmann},
  pages = {598--605},
  year = {1990}
}""",
    "hassibi1993obs": """@inproceedings{hassibi1993obs,
  author = {Hassibi, Babak and Stork, David G.},
  title = {Second order derivatives for network pruning: Optimal Brain Surgeon},
  booktitle = {Advances in Neural Information Processing Systems 5},
  editor = {Hanson, Stephen J. and Cowan, Jack D. and Giles, C. Lee},
  publisher = {Morgan Kaufmann},
  pages = {164--171},
  year = {1993}
}""",
    "thrun1991monks": """@techreport{thrun1991monks,
  author = {Thrun, Sebastian B. and others},
  title = {The {MONK}'s Problems: A Performance Comparison of Different Learning Algorithms},
  institution = {Carnegie Mellon University},
  number = {CMU-CS-91-197},
  year = {1991}
}""",
    "lecun1990digits": """@inproceedings{lecun1990digits,
  author = {LeCun, Yann and Boser, Bernhard and Denker, John S. and Henderson, Donnie and Howard, Richard E.
            and Hubbard, Wayne and Jackel, Lawrence D.},
  title = {Handwritten Digit Recognition with a Back-Propagation Network},
  booktitle = {Advances in Neural Information Processing Systems 2},
  editor = {Touretzky, David S.},
  publisher = {Morgan Kaufmann},
  year = {1990}
}""",
    "sejnowski1987nettalk": """@article{sejnowski1987nettalk,
  author = {Sejnowski, Terrence J. and Rosenberg, Charles R.},
  title = {Parallel Networks that Learn to Pronounce {English} Text},
  journal = {Complex Systems},
  volume = {1},
  number = {1},
  pages = {145--168},
  year = {1987}
}""",
    "singh2020woodfisher": """@inproceedings{singh2020woodfisher,
  author = {Singh, Sidak Pal and Alistarh, Dan},
  title = {{WoodFisher}: Efficient Second-Order Approximation for Neural Network Compression},
  booktitle = {Advances in Neural Information Processing Systems 33},
  year = {2020}
}""",
    "frantar2022obc": """@inproceedings{frantar2022obc,
  author = {Frantar, Elias and Singh, Sidak Pal and Alistarh, Dan},
  title = {Optimal Brain Compression: A Framework for Accurate Post-Training Quantization and Pruning},
  booktitle = {Advances in Neural Information Processing Systems 35},
  year = {2022}
}""",
}
"""BibTeX entries keyed by citation key: the suite itself and every paper it reproduces or builds on.
``Experiment.paper`` names one of these keys; fields we could not confirm (some page ranges) are left out."""

METHOD_COLORS: dict[str, str] = {
    "magnitude": "#009E73",
    "random": "#7F7F7F",
    "obd": "#0072B2",
    "obd-lecun-lm": "#56B4E9",
    "obd-lecun": "#1F4E79",
    "obd-exact": "#6A3D9A",
    "obd-ggn": "#17BECF",
    "obd-fisher": "#9E9AC8",
    "obd-hutchinson": "#CAB2D6",
    "obs": "#D55E00",
    "obs-recursion": "#A63603",
    "obs-exact": "#E31A1C",
    "obs-ggn": "#FB9A99",
    "obs-fisher": "#E69F00",
    "obs-block-diagonal": "#FDBF6F",
    "obs-stop-rule": "#7F2704",
    "woodfisher": "#CC79A7",
    "kfac": "#B8860B",
    "diag-fisher": "#8C564B",
    "exactobs": "#67000D",
}
"""One colour per pruning method, the same in every figure: magnitude green, random grey, OBD and its
curvature variants blues and purples, OBS and its variants reds and oranges (Okabe-Ito for the main three).
A series named ``"<method> + retraining"``, ``"<method>+retrain"`` or ``"<method> (...)"`` takes its method's
colour and a dashed line."""

_FALLBACK_COLORS = ("#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#17BECF", "#BCBD22", "#E377C2", "#393B79",
                    "#637939", "#8C6D31", "#843C39", "#7B4173")


_VARIANT = re.compile(r"^(?P<method>[\w.-]+?)\s*(?P<variant>[+(,/:].*)$")


def _method_and_variant(name: str) -> tuple[str | None, str]:
    """``("obs", "+retrain")`` for ``"obs+retrain"``: a known method and what follows it; ``(None, "")`` for a
    name that does not start with a known method followed by one of ``+ ( , / :``."""
    key = name.strip().lower()
    if key in METHOD_COLORS:
        return key, ""
    match = _VARIANT.match(key)
    if match and match["method"] in METHOD_COLORS:
        return match["method"], match["variant"]
    return None, ""


def method_color(name: str) -> str:
    """The colour of series ``name``: its method's in :data:`METHOD_COLORS` (also for variants such as
    ``"obs+retrain"``), else one fixed by a hash of the name (the same in every figure and on every
    machine)."""
    method, _ = _method_and_variant(name)
    if method is not None:
        return METHOD_COLORS[method]
    digest = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    return _FALLBACK_COLORS[digest % len(_FALLBACK_COLORS)]


_DASHES = ((5, 2), (2, 1.5), (6, 2, 1.5, 2), (1, 1))


def _dashes(series: Sequence[str]) -> dict[str, tuple | str]:
    """Line styles for the series of one figure: solid for a method or an unknown name, a dash pattern per
    distinct variant (``+retrain``, ``(exact)``, ...) in order of appearance."""
    variants = list(dict.fromkeys(v for _, v in map(_method_and_variant, series) if v))
    return {name: _DASHES[variants.index(v) % len(_DASHES)] if v else ""
            for name, (_, v) in zip(series, map(_method_and_variant, series), strict=True)}


def _palette(series: Sequence[str]) -> dict[str, str]:
    """Colours for the series of one figure: :func:`method_color`, moving an unknown series that collides
    with an earlier one in the same figure to the next free fallback colour."""
    palette: dict[str, str] = {}
    for name in series:
        color = method_color(name)
        if _method_and_variant(name)[0] is None:
            start = _FALLBACK_COLORS.index(color)
            for step in range(len(_FALLBACK_COLORS)):
                color = _FALLBACK_COLORS[(start + step) % len(_FALLBACK_COLORS)]
                if color not in palette.values():
                    break
        palette[name] = color
    return palette


# ---------------------------------------------------------------------------------------------- statistics

@dataclass(frozen=True)
class ClaimResult:
    """One claim of a record, decided: the record's fields plus the estimate (``statistic`` over seeds), its
    interval, the seed count and the verdict."""

    id: str
    statement: str
    source: str
    paper_value: Any
    metric: str
    unit: str
    rule: dict
    tolerance_note: str
    statistic: str
    estimate: float
    low: float
    high: float
    n: int
    verdict: str
    verdict_rule: str = "population"
    single: stats.SingleNetwork | None = None


def evaluate_claims(record: Mapping) -> list[ClaimResult]:
    """Every claim in ``record["results"]["claims"]``, with its estimate, 95% CI and verdict."""
    out = []
    for i, claim in enumerate(record["results"].get("claims", [])):
        where = f"{record['kind']}: claims[{i}]"
        missing = [k for k in ("id", "statement", "values", "rule") if k not in claim]
        if missing:
            raise ValueError(f"{where} must have the keys id, statement, values and rule; missing {missing}. "
                             "See docs/record-schema.md")
        rule = check_rule(claim["rule"], f"{where} ({claim['id']}) rule")
        kind = stats.verdict_rule(claim, f"{where} ({claim['id']})")
        statistic = claim.get("aggregate", "median")
        try:
            estimate, low, high = bootstrap_ci(claim["values"], statistic=statistic)
        except ValueError as exc:
            raise ValueError(f"{where} ({claim['id']}): {exc}") from None
        single = stats.single_network(rule, claim["values"]) if kind == "single-network" else None
        out.append(ClaimResult(
            id=str(claim["id"]), statement=str(claim["statement"]), source=str(claim.get("source", "")),
            paper_value=claim.get("paper_value"), metric=str(claim.get("metric", "")),
            unit=str(claim.get("unit") or ""), rule=rule, tolerance_note=str(claim.get("tolerance_note", "")),
            statistic=statistic, estimate=estimate, low=low, high=high, n=len(claim["values"]),
            verdict=single.verdict if single else stats.ci_verdict(rule, estimate, low, high),
            verdict_rule=kind, single=single))
    return out


# ---------------------------------------------------------------------------------------------- formatting

def _fmt(x: Any) -> str:
    """Numbers to at most 4 significant digits, without trailing zeros or exponents between 1e-3 and 1e6."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if x == 0:
            return "0"
        if not math.isfinite(x):
            return str(x)
        magnitude = math.floor(math.log10(abs(x)))
        if -3 <= magnitude < 6:
            text = f"{x:.{max(0, 3 - magnitude)}f}"
            return text.rstrip("0").rstrip(".") if "." in text else text
        return f"{x:.3e}"
    if isinstance(x, (list, tuple)):
        return ", ".join(_fmt(v) for v in x)
    return str(x)


def _csv_value(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return format(x, ".10g")
    if isinstance(x, (list, tuple)):
        return ";".join(_csv_value(v) for v in x)
    return str(x)


def _with_unit(text: str, unit: str) -> str:
    """``"97.2%"``, ``"14 weights"``: a formatted number followed by its unit."""
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def _value(x: Any, unit: str) -> str:
    """A paper value: a number with its unit, or a string (or a missing value) as it is."""
    is_number = isinstance(x, (int, float)) and not isinstance(x, bool)
    return _with_unit(_fmt(x), unit) if is_number else _fmt(x)


def _ours(c: ClaimResult) -> str:
    """The estimate with its CI and, for a single-network claim, the seeds at least as good as the paper's
    network and the prediction interval: ``"21 [16, 26.5] weights; 1/10 seeds as good, PI [14, 28] (82%)"``."""
    text = _with_unit(f"{_fmt(c.estimate)} [{_fmt(c.low)}, {_fmt(c.high)}]", c.unit)
    text = text if c.statistic == "median" else f"{text} ({c.statistic})"
    if c.single is None:
        return text
    s = c.single
    return (f"{text}; {s.as_good}/{s.n} seeds as good, PI [{_fmt(s.low)}, {_fmt(s.high)}] "
            f"({round(100 * s.level)}%)")


def _verdict_rule_text(c: ClaimResult) -> str:
    return "one network: within our seeds' PI" if c.single else "population: 95% CI"


def _rule_text(rule: Mapping, unit: str = "") -> str:
    """``"≥ 95%"``, ``"1500 ± 150 params"`` (Unicode; :func:`_tex` turns the symbols into LaTeX math)."""
    if rule["op"] == "within":
        return _with_unit(f"{_fmt(rule['target'])} ± {_fmt(rule['tolerance'])}", unit)
    symbol = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}[rule["op"]]
    return _with_unit(f"{symbol} {_fmt(rule['threshold'])}", unit)


def _rule_csv(rule: Mapping) -> str:
    if rule["op"] == "within":
        return f"within {_csv_value(float(rule['target']))} +- {_csv_value(float(rule['tolerance']))}"
    return f"{rule['op']} {_csv_value(float(rule['threshold']))}"


def _md_text(x: Any) -> str:
    return " ".join(str(x).split())


def _md_cell(x: Any) -> str:
    return _md_text(x).replace("|", r"\|")


def markdown_table(header: Sequence[Any], rows: Sequence[Sequence[Any]], align: Sequence[str]) -> list[str]:
    """A Markdown (pipe) table laid out by :meth:`pandas.DataFrame.to_markdown` (tabulate); each cell on one line
    with ``|`` escaped, so no text can break the table. ``align``: ``"left"`` or ``"right"`` per column."""
    import pandas as pd

    frame = pd.DataFrame([[_md_cell(c) for c in row] for row in rows], columns=[_md_cell(h) for h in header])
    if not rows:  # tabulate drops the alignment of an empty table
        return ["| " + " | ".join(frame.columns) + " |", "|" + "|".join("---:" if a == "right" else "---"
                                                                       for a in align) + "|"]
    return frame.to_markdown(index=False, tablefmt="pipe", colalign=list(align), disable_numparse=True).splitlines()


_TEX_SYMBOLS = {"<=": r"$\leq$", ">=": r"$\geq$", "≥": r"$\geq$", "≤": r"$\leq$", "±": r"$\pm$",
                "×": r"$\times$", "→": r"$\rightarrow$", "≈": r"$\approx$", "–": "--", "—": "---", "<": "$<$",
                ">": "$>$", "|": r"\textbar{}"}
_TEX_SYMBOLS_RE = re.compile("|".join(re.escape(k) for k in _TEX_SYMBOLS))


_SMALL_BEGIN, _SMALL_END = "\x01", "\x02"
"""Around the part of a LaTeX cell set on a new line in small type (see :func:`latex_tabular`)."""


def latex_tabular(header: Sequence[Any], rows: Sequence[Sequence[Any]], column_format: str) -> list[str]:
    """A booktabs ``tabular`` by :meth:`pandas.io.formats.style.Styler.to_latex`, every cell and heading escaped
    by it (``escape="latex"``); then the symbols pdfLaTeX lacks (≥, ±, —, ``|``, ...) become LaTeX, and a cell's
    text between :data:`_SMALL_BEGIN` and :data:`_SMALL_END` goes on a new line in footnote size."""
    import pandas as pd

    frame = pd.DataFrame([[_md_text(c) for c in row] for row in rows], columns=[_md_text(h) for h in header])
    styler = frame.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    text = styler.to_latex(hrules=True, column_format=column_format)
    text = text.replace(_SMALL_BEGIN, r"\newline{\footnotesize ").replace(_SMALL_END, "}")
    return [_TEX_SYMBOLS_RE.sub(lambda m: _TEX_SYMBOLS[m.group()], line) for line in text.splitlines()]


_LATEX_SPECIAL = {"<=": r"$\leq$", ">=": r"$\geq$", "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%",
                  "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}",
                  "≥": r"$\geq$", "≤": r"$\leq$", "±": r"$\pm$", "×": r"$\times$", "→": r"$\rightarrow$",
                  "≈": r"$\approx$", "–": "--", "—": "---", "<": "$<$", ">": "$>$", "|": r"\textbar{}"}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))


def _tex(x: Any) -> str:
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group()], " ".join(str(x).split()))


def _seed_text(seeds: Sequence[int]) -> str:
    seeds = list(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]} ({len(seeds)})"
    return ", ".join(map(str, seeds)) + f" ({len(seeds)})"


def _provenance_items(record: Mapping, origin: str) -> list[tuple[str, str, bool]]:
    """``(name, value, is code)`` for the provenance footer of every table of ``record``; ``origin`` names
    the record file (see :attr:`LoadedRecord.origin`)."""
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


def _papers(record: Mapping) -> list[str]:
    paper = record["results"].get("paper")
    keys = [paper] if isinstance(paper, str) else list(paper or [])
    unknown = [k for k in keys if k not in BIBTEX]
    if unknown:
        raise ValueError(f"record {record['kind']} cites {unknown}, not in prunebench.report.BIBTEX (known: "
                         f"{sorted(BIBTEX)}); add the entry to BIBTEX or fix the experiment's `paper`")
    return keys


def _bibtex_block(record: Mapping) -> str:
    return "\n\n".join(BIBTEX[k] for k in [*_papers(record), SUITE_KEY])


def parse_bibtex(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """``[(entry type, key, {field: value})]`` for every ``@type{key, field = {value}, ...}`` in ``text``.

    Strict enough to catch hand-editing mistakes: raises ValueError on unbalanced braces, a missing key, a
    field without a value, or a repeated field."""
    entries = []
    pos = 0
    while (at := text.find("@", pos)) != -1:
        head = re.compile(r"@(\w+)\s*\{\s*([^,\s{}]+)\s*,").match(text, at)
        if head is None:
            raise ValueError(f"a BibTeX entry must start as @type{{key, ...; got {text[at:at + 40]!r}")
        depth, i = 1, head.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth:
            raise ValueError(f"unbalanced braces in BibTeX entry {head.group(2)!r}: {depth} left open")
        body, fields = text[head.end():i - 1], {}
        for match in re.finditer(r"\s*(\w[\w-]*)\s*=\s*", body):
            name = match.group(1).lower()
            if body[:match.start()].count("{") != body[:match.start()].count("}"):
                continue
            value, _ = _bibtex_value(body, match.end(), head.group(2), name)
            if name in fields:
                raise ValueError(f"BibTeX entry {head.group(2)!r} repeats the field {name!r}")
            fields[name] = " ".join(value.split())
        entries.append((head.group(1).lower(), head.group(2), fields))
        pos = i
    return entries


def _bibtex_value(body: str, start: int, key: str, name: str) -> tuple[str, int]:
    if body[start:start + 1] == '"':
        end = body.index('"', start + 1)
        return body[start + 1:end], end + 1
    if body[start:start + 1] != "{":
        bare = re.compile(r"[\w.-]+").match(body, start)
        if bare is None:
            raise ValueError(f"field {name!r} of BibTeX entry {key!r} needs a value in braces; got "
                             f"{body[start:start + 20]!r}")
        return bare.group(), bare.end()
    depth, j = 0, start
    while True:
        depth += {"{": 1, "}": -1}.get(body[j], 0)
        j += 1
        if depth == 0:
            return body[start + 1:j - 1], j


def short_cite(key: str) -> str:
    """``"LeCun, Denker & Solla (1990)"`` for a :data:`BIBTEX` key (``et al.`` beyond three authors)."""
    [(_, _, fields)] = parse_bibtex(BIBTEX[key])
    names = [a.strip() for a in fields["author"].split(" and ")]
    family = [n.split(",")[0].strip().strip("{}") for n in names if n != "others"]
    if len(family) > 3 or "others" in names:
        who = f"{family[0]} et al."
    elif len(family) == 1:
        who = family[0]
    else:
        who = ", ".join(family[:-1]) + f" & {family[-1]}"
    return f"{who} ({fields['year']})"


# ---------------------------------------------------------------------------------------------- tables

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


def _join(lines: Sequence[str]) -> str:
    """Lines joined into a document with single blank lines between blocks and one final newline."""
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


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


def _metric(c: ClaimResult) -> str:
    return f"{c.metric} ({c.unit})" if c.unit else c.metric


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


# ---------------------------------------------------------------------------------------------- figures

@contextmanager
def _figure_style() -> Iterator[None]:
    """Seaborn's whitegrid look plus the settings that make saved files byte-identical between runs."""
    import matplotlib as mpl
    import seaborn as sns

    with mpl.rc_context({"svg.hashsalt": "prunebench", "svg.fonttype": "path", "path.simplify": True,
                         "figure.dpi": 100, "savefig.dpi": 150}), sns.axes_style("whitegrid"), \
            sns.plotting_context("paper", font_scale=1.1):
        yield


def _check_figure(spec: Any, kind: str, i: int) -> None:
    if not isinstance(spec, Mapping) or "id" not in spec:
        raise ValueError(f"{kind}: figures[{i}] must be {{'id', 'title', 'xlabel', 'ylabel', 'logy', 'logx', "
                         f"'panels', 'caption'}}; got {spec!r}")


def plot_figure(spec: Mapping, curves: Iterable[Mapping]):
    """Draw figure ``spec`` from long-format ``curves`` rows (``series``, ``seed``, ``x``, ``y``, optional
    ``panel``; rows of other figures are ignored) and return ``(fig, axes)``.

    One panel per entry of ``spec["panels"]`` (one panel when it is null). Each series is a line at the
    median over seeds with a 95% bootstrap band (seaborn, ``seed=0``) in its :func:`method_color`, dashed for
    a variant of a method (``"obs+retrain"``); one legend for the figure. Nothing is shown; the caller saves
    or discards the figure.
    """
    import pandas as pd
    import seaborn as sns
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    rows = [dict(r) for r in curves if r.get("figure", spec["id"]) == spec["id"]]
    if not rows:
        raise ValueError(f"figure {spec['id']!r} has no curves: expected rows in curves with "
                         f"\"figure\": {spec['id']!r}")
    frame = pd.DataFrame(rows)
    frame["series"] = frame["series"].astype(str)
    panels = list(spec.get("panels") or [None])
    series = list(dict.fromkeys(frame["series"]))
    palette, dashes = _palette(series), _dashes(series)
    marker = "o" if frame["x"].nunique() <= 20 else None
    with _figure_style():
        fig = Figure(figsize=(4.2 * len(panels) + 1.6, 3.4), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
        for ax, panel in zip(axes, panels, strict=True):
            data = frame if panel is None else frame[frame.get("panel") == panel]
            if data.empty:
                raise ValueError(f"figure {spec['id']!r} lists panel {panel!r}, but no curve row has that "
                                 "panel")
            order = [s for s in series if s in set(data["series"])]
            sns.lineplot(data=data, x="x", y="y", hue="series", hue_order=order, palette=palette,
                         style="series", style_order=order, dashes=dashes, markers=False, marker=marker,
                         markersize=4, estimator="median", errorbar=("ci", 95), n_boot=1000, seed=0, ax=ax,
                         legend=False)
            ax.set_xscale("log" if spec.get("logx") else "linear")
            ax.set_yscale("log" if spec.get("logy") else "linear")
            ax.set_xlabel(spec.get("xlabel") or "x")
            ax.set_ylabel(spec.get("ylabel") or "y")
            if panel is not None:
                ax.set_title(str(panel))
        handles = [Line2D([], [], color=palette[s], marker=marker, markersize=4,
                          **({"dashes": dashes[s]} if dashes[s] else {})) for s in series]
        fig.legend(handles, series, loc="outside right center", frameon=False)
        if spec.get("title"):
            fig.suptitle(spec["title"])
    return fig, axes


def render_figure(spec: Mapping, curves: Iterable[Mapping]) -> dict[str, bytes]:
    """``{"png": bytes, "svg": bytes}`` of :func:`plot_figure`, without dates or software versions in the
    files, so re-rendering the same record gives the same bytes."""
    fig, _ = plot_figure(spec, curves)
    out = {}
    with _figure_style():
        for fmt, metadata in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, metadata=metadata)
            out[fmt] = buf.getvalue()
    return out


# ---------------------------------------------------------------------------------------------- documents

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


def _tally(claims: Sequence[ClaimResult]) -> str:
    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no claims"


def _compact(loaded: LoadedRecord, base: str) -> list[str]:
    """Heading, verdict tally, compact claims table and links for one experiment (links start with
    ``base``)."""
    record, name = loaded.record, loaded.name
    body = record["results"]
    claims = evaluate_claims(record)
    cited = "; ".join(short_cite(k) for k in _papers(record))
    prov = record["provenance"]
    lines = [f"### {name}: {_title(record)}" + (f", after {cited}" if cited else ""), ""]
    if record.get("config", {}).get("quick"):
        lines += ["**Quick protocol**: a smoke-test run, not a full reproduction.", ""]
    if claims:
        rows = [(c.statement, _value(c.paper_value, c.unit), _ours(c), _verdict_rule_text(c), c.verdict)
                for c in claims]
        lines += [f"{len(claims)} claims: {_tally(claims)}.", "",
                  *markdown_table(("claim", "paper", "ours [95% CI]", "verdict rule", "verdict"), rows,
                                  ["left", "right", "right", "left", "left"]), ""]
    tables = ([("claims", "claims")] if claims else []) + [(t["id"], t.get("title") or t["id"])
                                                            for t in body.get("tables", [])]
    if tables:
        links = "; ".join(f"{_md_cell(title)} ([md]({base}{name}/tables/{tid}.md), "
                          f"[tex]({base}{name}/tables/{tid}.tex), [csv]({base}{name}/tables/{tid}.csv))"
                          for tid, title in tables)
        lines += [f"Tables: {links}.", ""]
    figures = body.get("figures", [])
    if figures:
        links = "; ".join(f"[{_md_cell(f.get('title') or f['id'])}]({base}{name}/figures/{f['id']}.svg)"
                          for f in figures)
        lines += [f"Figures: {links}.", ""]
    lines += [f"Seeds: {len(prov.get('seeds', []))}; prunebench {prov.get('prunebench', '?')}, "
              f"commit {records.commit_label(prov, 12)}, {prov.get('device', '?')}, {prov.get('dtype', '?')}.", ""]
    problems = records.provenance_problems(prov, "record")
    if problems:
        lines += [f"**Provenance**: {'; '.join(p.removeprefix('record: ') for p in problems)}. "
                  "`prunebench report --check` fails until it is regenerated.", ""]
    return lines


README_BEGIN = "<!-- BEGIN reproduced-results -->"
README_END = "<!-- END reproduced-results -->"
CITE_BEGIN = "<!-- BEGIN how-to-cite -->"
CITE_END = "<!-- END how-to-cite -->"
_GENERATED = ("<!-- Generated by `prunebench report` from {source}; do not edit by hand. "
              "`prunebench report --check` fails when it is stale. -->")


def reproduced_results_section(loaded: Sequence[LoadedRecord], base: str = "results/") -> str:
    """The README's "Reproduced results" body (between the markers); links start with ``base``."""
    lines = [_GENERATED.format(source=f"the records {base}*/record.json"), "",
             "Every reproduced claim beside the paper's value. " + _STATS_NOTE + " Full tables (Markdown, "
             "LaTeX, CSV) with tolerances, deviations, provenance and BibTeX, and the figures, are indexed "
             f"in [{base}README.md]({base}README.md); `make reproduce-all` reruns everything.", ""]
    if not loaded:
        lines += ["No records yet: run `make reproduce-all`.", ""]
    for item in loaded:
        lines += _compact(item, base)
    return "\n".join(lines)


def _index(loaded: Sequence[LoadedRecord]) -> str:
    lines = ["# Reproduced results", "",
             "Generated by `prunebench report` from the records in this folder (`<experiment>/record.json`); "
             "do not edit by hand. " + _STATS_NOTE + " Figures: lines at the median over seeds, bands a 95% "
             "bootstrap CI.", ""]
    for item in loaded:
        lines += _compact(item, "")
        body = item.record["results"]
        deviations = body.get("deviations", [])
        if deviations:
            lines += ["Deviations from the paper:", "", *(f"- {_md_text(d)}" for d in deviations), ""]
        for spec in body.get("figures", []):
            fid = spec["id"]
            lines += [f"![{_md_cell(spec.get('title') or fid)}]({item.name}/figures/{fid}.png)", "",
                      f"*{_md_text(spec.get('caption') or spec.get('title') or fid)}* "
                      f"([SVG]({item.name}/figures/{fid}.svg))", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def how_to_cite_section() -> str:
    """The README's "How to cite" body (between its markers): the suite's and every paper's BibTeX."""
    papers = [k for k in BIBTEX if k != SUITE_KEY]
    return "\n".join([
        _GENERATED.format(source="prunebench.report.BIBTEX"), "",
        "If you use prunebench, cite the suite (also in [CITATION.cff](CITATION.cff)) and the papers whose "
        "experiments or methods you use. Every generated table carries the BibTeX of its paper.", "",
        "```bibtex", BIBTEX[SUITE_KEY], "```", "",
        "The reproduced and related papers:", "",
        "```bibtex", "\n\n".join(BIBTEX[k] for k in papers), "```", ""])


def _replace_between(text: str, begin: str, end: str, body: str) -> str | None:
    """``text`` with what lies between ``begin`` and ``end`` replaced by ``body`` (None without markers)."""
    i, j = text.find(begin), text.find(end)
    if i == -1 or j == -1 or j < i:
        return None
    return text[:i + len(begin)] + "\n" + body.rstrip("\n") + "\n" + text[j:]


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


def _load_some(results: str | Path) -> list[LoadedRecord]:
    loaded = load_records(results)
    if not loaded:
        raise FileNotFoundError(f"no records under {results} (expected {results}/<experiment>/record.json); "
                                "run `prunebench reproduce all --out results` first")
    return loaded


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


def _readme_text(readme: Path, loaded: Sequence[LoadedRecord], out: Path) -> tuple[str, list[str]]:
    """The README text with both generated sections filled in, and the problems (absent markers) found."""
    text = readme.read_text()
    base = Path(os.path.relpath(out.resolve(), readme.resolve().parent)).as_posix().rstrip("/") + "/"
    problems = []
    for begin, end, body in ((README_BEGIN, README_END, reproduced_results_section(loaded, base)),
                             (CITE_BEGIN, CITE_END, how_to_cite_section())):
        updated = _replace_between(text, begin, end, body)
        if updated is None:
            problems.append(f"{readme} (no {begin} ... {end} markers: add them where the section belongs)")
        else:
            text = updated
    return text, problems


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


# ---------------------------------------------------------------------------------------------- CLI

def _cmd_report(args: argparse.Namespace) -> int:
    results = Path(args.results)
    out = Path(args.out) if args.out else results
    readme = None if args.no_readme else Path(args.readme)
    if readme is not None and not readme.exists():
        if args.readme != "README.md":
            raise FileNotFoundError(f"--readme {args.readme} not found; pass an existing file or --no-readme")
        readme = None
    if args.check:
        stale = check(results, out, readme)
        if stale:
            print(f"{len(stale)} problem(s) (regenerate stale outputs with `prunebench report --results {results} "
                  f"--out {out}`, and records from a clean commit with the command in their provenance):\n"
                  + "\n".join(f"  {s}" for s in stale), file=sys.stderr)
            return 1
        print(f"up to date: every table under {out}" + (f" and the sections of {readme}" if readme else ""))
        return 0
    output_folder(out, "--out")
    if readme is not None:
        output_file(readme, "--readme")
    written = write(results, out, readme, figures=not args.no_figures)
    print(f"wrote {len(written)} files under {out}" + (f" and the sections of {readme}" if readme else ""))
    return 0


def register_cli(subparsers) -> None:
    """Add ``prunebench report``."""
    p = subparsers.add_parser(
        "report", help="regenerate reproduced tables and figures from the result records",
        description="Regenerate every reproduced table (Markdown, LaTeX, CSV) and figure (PNG, SVG) from the "
                    "records DIR/<experiment>/record.json, plus the index <out>/README.md and the README "
                    "sections; --check only reports what is stale.")
    p.add_argument("--results", default="results", metavar="DIR",
                   help="folder of <experiment>/record.json (default results)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: the --results folder)")
    p.add_argument("--readme", default="README.md", metavar="FILE",
                   help="README whose 'Reproduced results' and 'How to cite' sections to regenerate "
                        "(default README.md, skipped when absent)")
    p.add_argument("--no-readme", action="store_true", help="leave the README alone")
    p.add_argument("--no-figures", action="store_true", help="tables only (faster)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 naming every stale table, figure or README section and every "
                        "record made from a dirty source or with stale units")
    p.set_defaults(func=_cmd_report)

