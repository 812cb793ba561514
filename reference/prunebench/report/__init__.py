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

The package, by job: :mod:`~prunebench.report.load` reads and checks the records;
:mod:`~prunebench.report.claims` decides their claims; :mod:`~prunebench.report.tables` writes the tables
(laid out by :mod:`~prunebench.report.formatting`, cited from :mod:`~prunebench.report.bibtex`);
:mod:`~prunebench.report.figures` draws the figures in the colours of :mod:`~prunebench.report.palette`;
:mod:`~prunebench.report.readme` writes the index and the README sections; :mod:`~prunebench.report.output`
writes every file and :mod:`~prunebench.report.staleness` checks them (``--check``); :mod:`~prunebench.report.cli`
is the command. ``prunebench bench-report`` lives here too (:mod:`~prunebench.report.bench_cli`), measuring
curvature costs (:mod:`~prunebench.report.bench`) rather than reading records.
"""

from ..stats import CI_LEVEL, RESAMPLES, STATISTICS, VERDICTS, bootstrap_ci, satisfies
from .bibtex import BIBTEX, SUITE_KEY, parse_bibtex, short_cite
from .claims import ClaimResult, evaluate_claims
from .cli import register_cli
from .figures import plot_figure, render_figure
from .formatting import latex_tabular, markdown_table
from .load import LoadedRecord, load_records
from .output import generate, write
from .palette import METHOD_COLORS, method_color
from .readme import CITE_BEGIN, CITE_END, README_BEGIN, README_END, how_to_cite_section, reproduced_results_section
from .staleness import check
from .tables import claims_csv, claims_latex, claims_markdown, table_csv, table_latex, table_markdown

__all__ = ["BIBTEX", "CITE_BEGIN", "CITE_END", "CI_LEVEL", "METHOD_COLORS", "README_BEGIN", "README_END", "RESAMPLES",
           "STATISTICS", "SUITE_KEY", "VERDICTS", "ClaimResult", "LoadedRecord", "bootstrap_ci", "check", "claims_csv",
           "claims_latex", "claims_markdown", "evaluate_claims", "generate", "how_to_cite_section", "latex_tabular",
           "load_records", "markdown_table", "method_color", "parse_bibtex", "plot_figure", "register_cli",
           "render_figure", "reproduced_results_section", "satisfies", "short_cite", "table_csv", "table_latex",
           "table_markdown", "write"]
