"""Cells and tables as text: numbers to 4 significant digits, Markdown pipe tables and LaTeX booktabs tables
(laid out and escaped by pandas), and LaTeX escaping."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["latex_tabular", "markdown_table"]


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


def _join(lines: Sequence[str]) -> str:
    """Lines joined into a document with single blank lines between blocks and one final newline."""
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"
