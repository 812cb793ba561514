"""Cells and tables as text (:mod:`prunebench.report.formatting`): numbers, Markdown, LaTeX."""

import pytest

from prunebench import report
from prunebench.report import formatting


@pytest.mark.parametrize(("value", "text"), [
    (None, "—"), (0.0, "0"), (14, "14"), (1560.0, "1560"), (0.5, "0.5"), (2 / 3, "0.6667"),
    (-12.3456, "-12.35"), (93.4, "93.4"), (18000.0, "18000"), (1234567.0, "1.235e+06"),
    (0.00012345, "1.234e-04"), ("n/a", "n/a"), (True, "yes"),
])
def test_number_format(value, text):
    assert formatting._fmt(value) == text


def test_tables_are_laid_out_and_escaped_by_pandas():
    rows = [["a | b", "x_1 & 50% ≥ 3"], ["c\nd", "—"]]
    assert report.markdown_table(["k|ey", "value"], rows, ["left", "right"]) == [
        "| k\\|ey   |         value |", "|:--------|--------------:|", "| a \\| b  | x_1 & 50% ≥ 3 |",
        "| c d     |             — |"]
    assert report.latex_tabular(["k|ey", "value"], rows, "lr") == [
        r"\begin{tabular}{lr}", r"\toprule", r"k\textbar{}ey & value \\", r"\midrule",
        r"a \textbar{} b & x\_1 \& 50\% $\geq$ 3 \\", r"c d & --- \\", r"\bottomrule", r"\end{tabular}"]


def test_latex_escaping():
    assert formatting._tex("50% of w_1 & {x} ≥ 3 | 1±2 #1 $5 ~ a<=b<c") == (
        r"50\% of w\_1 \& \{x\} $\geq$ 3 \textbar{} 1$\pm$2 \#1 \$5 \textasciitilde{} a$\leq$b$<$c")
