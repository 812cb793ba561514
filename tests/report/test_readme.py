"""The README sections and their markers (:mod:`prunebench.report.readme`)."""

from pathlib import Path

from prunebench import report

REPO = Path(__file__).resolve().parents[2]


def test_readme_without_markers_is_reported(rendered, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no sections\n")
    stale = report.check(rendered / "results", rendered / "results", readme)
    assert stale == [f"{readme} (no {begin} ... {end} markers: add them where the section belongs)"
                     for begin, end in ((report.README_BEGIN, report.README_END),
                                        (report.CITE_BEGIN, report.CITE_END))]


def test_readme_how_to_cite_section_is_current():
    text = (REPO / "README.md").read_text()
    body = text[text.index(report.CITE_BEGIN) + len(report.CITE_BEGIN):text.index(report.CITE_END)]
    assert body.strip("\n") == report.how_to_cite_section().strip("\n"), \
        "README 'How to cite' is stale: run `prunebench report`"
