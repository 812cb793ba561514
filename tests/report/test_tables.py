"""Report: claims decided by bootstrap intervals, tables in three formats, figures, the staleness check.

Everything here runs on synthetic records that follow docs/record-schema.md; one test checks the committed
results of the repository itself.
"""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prunebench import records, report, stats
from prunebench.cli import main

REPO = Path(__file__).resolve().parents[1]

COMMIT = "0123456789abcdef" * 2 + "01234567"
PROVENANCE = {"command": "prunebench reproduce toy --out results/toy", "prunebench": "0.1.0",
              "git_commit": COMMIT, "dirty": False,
              "units": [{"git_commit": COMMIT, "dirty": False, "prunebench": "0.1.0", "units": 3, "stale": 0}],
              "python": "3.11.9", "torch": "2.13.0", "numpy": "2.4.6",
              "device": "cpu", "device_name": "x86_64", "dtype": "float64", "seeds": [0, 1, 2],
              "wall_time_s": 12.34, "created": "2026-11-21T10:00:00Z"}
ORIGIN = "toy/record.json, sha256 abababababababab"


def _claim(**overrides):
    claim = {"id": "c1", "statement": "OBS keeps 14 weights", "source": "[secondary] MONK table",
             "paper_value": 14, "metric": "weights left", "unit": "weights", "values": [13.0, 14.0, 15.0],
             "rule": {"op": "within", "target": 14, "tolerance": 1},
             "tolerance_note": "one weight either way"}
    return {**claim, **overrides}


def _curves():
    rows = []
    for series, slope in (("obd", 1.0), ("magnitude", 2.0), ("obd+retrain", 0.5), ("custom curve", 3.0)):
        for seed in range(3):
            for x in (0.0, 1.0, 2.0, 3.0):
                for panel in ("train", "test"):
                    rows.append({"figure": "f1", "series": series, "seed": seed, "x": x, "panel": panel,
                                 "y": slope * x + 0.1 * seed})
    return rows


def _record(kind="toy", **results):
    body = {"title": "Toy experiment", "paper": "hassibi1993obs", "claims": [_claim()],
            "tables": [{"id": "t1", "title": "Weights", "columns": ["problem", "paper", "ours"],
                        "rows": [["MONK-1", 14, 14.5], ["MONK-2", 15, None]], "notes": ["incl. biases"]}],
            "curves": _curves(),
            "figures": [{"id": "f1", "title": "Loss", "xlabel": "deleted", "ylabel": "loss", "logy": False,
                         "logx": False, "panels": ["train", "test"], "caption": "Toy curves."}],
            "deviations": ["synthetic data"], "per_seed": {"raw": [1, 2, 3]}}
    body.update(results)
    return records.make_record(kind, {"quick": False, "seeds": [0, 1, 2]}, body, copy.deepcopy(PROVENANCE))


def _write(results_dir: Path, record: dict) -> Path:
    return records.atomic_write_json(results_dir / record["kind"] / "record.json", record)


README = ("# project\n\n## Reproduced results\n\n" + report.README_BEGIN + "\n" + report.README_END
          + "\n\n## How to cite\n\n" + report.CITE_BEGIN + "\n" + report.CITE_END + "\n")


# ------------------------------------------------------------------------------------------------ statistics

def test_bootstrap_is_deterministic_and_brackets_the_median():
    values = [0.1, 0.5, 0.2, 0.9, 0.4, 0.3, 0.7]
    first = report.bootstrap_ci(values)
    assert first == report.bootstrap_ci(list(values))
    # Golden: numpy default_rng(0), 10,000 resamples; the percentiles land on data values for n = 7.
    assert first == (0.4, 0.2, 0.7)
    median, low, high = report.bootstrap_ci([1.0, 2.0])
    assert low <= median <= high and median == 1.5


def test_bootstrap_of_one_seed_is_the_point():
    assert report.bootstrap_ci([0.93]) == (0.93, 0.93, 0.93)


@pytest.mark.parametrize(("values", "kwargs", "match"), [
    ([], {}, r"values must be a non-empty list of numbers \(one per seed\); got \[\]"),
    ([1.0, float("nan")], {}, r"values must be finite numbers; got \[1.0, nan\]"),
    ([1.0, 2.0], {"level": 95}, r"level must be a float in \(0, 1\); got 95"),
], ids=["empty", "nan", "level-in-percent"])
def test_bootstrap_rejects_bad_input(values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        report.bootstrap_ci(values, **kwargs)


@pytest.mark.parametrize(("rule", "interval", "expected"), [
    ({"op": ">=", "threshold": 0.9}, (0.95, 0.92, 0.97), "reproduced"),
    ({"op": ">=", "threshold": 0.9}, (0.95, 0.85, 0.97), "partly"),
    ({"op": ">=", "threshold": 0.9}, (0.88, 0.85, 0.97), "not reproduced"),
    ({"op": "<=", "threshold": 10}, (8, 7, 10), "reproduced"),
    ({"op": "<=", "threshold": 10}, (9, 7, 11), "partly"),
    ({"op": "<", "threshold": 10}, (10, 9, 11), "not reproduced"),
    ({"op": ">", "threshold": 0}, (1, 0.5, 2), "reproduced"),
    ({"op": "within", "target": 14, "tolerance": 2}, (14, 12, 16), "reproduced"),
    ({"op": "within", "target": 14, "tolerance": 2}, (15, 13, 17), "partly"),
    ({"op": "within", "target": 14, "tolerance": 2}, (17, 16, 18), "not reproduced"),
], ids=lambda v: str(v) if isinstance(v, str) else None)
def test_verdict(rule, interval, expected):
    assert stats.ci_verdict(rule, *interval) == expected


@pytest.mark.parametrize(("values", "expected"), [
    ([14.0], "reproduced"), ([16.0], "not reproduced"),
    ([14.0, 14.0, 14.0, 14.5, 14.0], "reproduced"), ([13.0, 14.0, 14.0, 16.0, 17.0], "partly"),
], ids=["one-seed-in", "one-seed-out", "five-seeds-tight", "five-seeds-wide"])
def test_claim_verdict_from_values(values, expected):
    record = _record(claims=[_claim(values=values)])
    [claim] = report.evaluate_claims(record)
    assert claim.verdict == expected and claim.n == len(values)
    if len(values) == 1:
        assert claim.low == claim.estimate == claim.high == values[0]


def test_mean_aggregate_for_proportions():
    """An indicator per seed (1 = the network behaved as claimed): "in every case" needs the mean to be 1."""
    values = [1.0] * 9 + [0.0]
    [median_claim, mean_claim] = report.evaluate_claims(_record(claims=[
        _claim(values=values, rule={"op": ">=", "threshold": 1}),
        _claim(id="c2", values=values, rule={"op": ">=", "threshold": 1}, aggregate="mean")]))
    # The median of 9 ones and a zero is 1 in nearly every resample: it cannot see the one failure.
    assert (median_claim.estimate, median_claim.verdict) == (1.0, "reproduced")
    assert (mean_claim.statistic, mean_claim.estimate, mean_claim.verdict) == ("mean", 0.9, "not reproduced")
    assert report._ours(mean_claim).endswith(" (mean)")
    with pytest.raises(ValueError, match=r"statistic must be one of \('median', 'mean'\); got 'mode'"):
        report.bootstrap_ci(values, statistic="mode")


@pytest.mark.parametrize(("rule", "match"), [
    ({"op": "=="}, r"rule must be \{'op': '>=' \| '<=' \| '>' \| '<', 'threshold': x\} or"),
    ({"op": ">="}, r"with op '>=' needs a number 'threshold'; got \{'op': '>='\}"),
    ({"op": "within", "target": 1, "tolerance": -1}, r"needs a non-negative tolerance; got -1"),
], ids=["unknown-op", "no-threshold", "negative-tolerance"])
def test_rule_validation(rule, match):
    with pytest.raises(ValueError, match=match):
        stats.satisfies(rule, 1.0)


def test_claim_without_values_names_the_claim():
    record = _record(claims=[{"id": "c9", "statement": "x", "rule": {"op": ">=", "threshold": 0}}])
    match = r"toy: claims\[0\] must have the keys id, statement, values and rule; missing \['values'\]"
    with pytest.raises(ValueError, match=match):
        report.evaluate_claims(record)


# ------------------------------------------------------------------------------------------------ formatting

@pytest.mark.parametrize(("value", "text"), [
    (None, "—"), (0.0, "0"), (14, "14"), (1560.0, "1560"), (0.5, "0.5"), (2 / 3, "0.6667"),
    (-12.3456, "-12.35"), (93.4, "93.4"), (18000.0, "18000"), (1234567.0, "1.235e+06"),
    (0.00012345, "1.234e-04"), ("n/a", "n/a"), (True, "yes"),
])
def test_number_format(value, text):
    assert report._fmt(value) == text


def test_tables_are_laid_out_and_escaped_by_pandas():
    rows = [["a | b", "x_1 & 50% ≥ 3"], ["c\nd", "—"]]
    assert report.markdown_table(["k|ey", "value"], rows, ["left", "right"]) == [
        "| k\\|ey   |         value |", "|:--------|--------------:|", "| a \\| b  | x_1 & 50% ≥ 3 |",
        "| c d     |             — |"]
    assert report.latex_tabular(["k|ey", "value"], rows, "lr") == [
        r"\begin{tabular}{lr}", r"\toprule", r"k\textbar{}ey & value \\", r"\midrule",
        r"a \textbar{} b & x\_1 \& 50\% $\geq$ 3 \\", r"c d & --- \\", r"\bottomrule", r"\end{tabular}"]


def test_latex_escaping():
    assert report._tex("50% of w_1 & {x} ≥ 3 | 1±2 #1 $5 ~ a<=b<c") == (
        r"50\% of w\_1 \& \{x\} $\geq$ 3 \textbar{} 1$\pm$2 \#1 \$5 \textasciitilde{} a$\leq$b$<$c")


def test_claims_golden_markdown_latex_csv():
    second = _claim(id="c2", statement="Accuracy | test", paper_value=None, unit="%", values=[97.0],
                    rule={"op": ">=", "threshold": 95}, tolerance_note="")
    record = _record(claims=[_claim(), second])
    md = report.claims_markdown(record, ORIGIN)
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert table == [
        "| id   | claim                | source                 | metric                 |      paper |       ours "
        "[95% CI] |   seeds | rule           | verdict rule       | verdict        |",
        "|:-----|:---------------------|:-----------------------|:-----------------------|-----------:|------------"
        "--------:|--------:|:---------------|:-------------------|:---------------|",
        "| c1   | OBS keeps 14 weights | [secondary] MONK table | weights left (weights) | 14 weights | 14 [13, 15] "
        "weights |       3 | 14 ± 1 weights | population: 95% CI | **reproduced** |",
        "| c2   | Accuracy \\| test     | [secondary] MONK table | weights left (%)       |          — |        97 "
        "[97, 97]% |       1 | ≥ 95%          | population: 95% CI | **reproduced** |"]
    assert md.startswith("# toy: Toy experiment\n\nClaims of Hassibi & Stork (1993) [`hassibi1993obs`]")
    assert "- `c1`: one weight either way" in md and "- synthetic data" in md
    assert ("command: `prunebench reproduce toy --out results/toy` · prunebench: 0.1.0 · git commit: "
            f"{COMMIT} · units: 3, all computed at its commit") in md
    assert ("seeds: 0-2 (3) · wall time: 12.3 s (sum over units) · created: 2026-11-21T10:00:00Z · "
            "record: toy/record.json, sha256 abababababababab") in md
    assert "@inproceedings{hassibi1993obs," in md and "@software{prunebench2026," in md
    assert md.endswith("```\n")

    tex = report.claims_latex(record, ORIGIN)
    body = tex[tex.index(r"\begin{tabular}"):tex.index(r"\end{tabular}")].splitlines()
    assert body == [
        r"\begin{tabular}{@{}p{0.3\linewidth}rp{0.2\linewidth}rlp{0.1\linewidth}l@{}}", r"\toprule",
        r"Claim & Paper & Ours & n & Rule & Verdict rule & Verdict \\", r"\midrule",
        r"OBS keeps 14 weights\newline{\footnotesize [secondary] MONK table; weights left (weights)} & "
        r"14 weights & 14 [13, 15] weights & 3 & 14 $\pm$ 1 weights & population: 95\% CI & reproduced \\",
        r"Accuracy \textbar{} test\newline{\footnotesize [secondary] MONK table; weights left (\%)} & --- & "
        r"97 [97, 97]\% & 1 & $\geq$ 95\% & population: 95\% CI & reproduced \\",
        r"\bottomrule"]
    assert r"\label{tab:toy-claims}" in tex and r"\cite{hassibi1993obs}" in tex
    assert r"command: \texttt{prunebench reproduce toy --out results/toy}" in tex
    assert "% @inproceedings{hassibi1993obs," in tex and "% @software{prunebench2026," in tex
    assert tex.count("{") == tex.count("}")

    assert report.claims_csv(record) == (
        "experiment,id,statement,source,metric,unit,paper_value,statistic,estimate,ci_low,ci_high,n_seeds,rule,"
        "tolerance_note,verdict_rule,seeds_as_good,pi_low,pi_high,pi_level,verdict\n"
        "toy,c1,OBS keeps 14 weights,[secondary] MONK table,weights left,weights,14,median,14,13,15,3,"
        "within 14 +- 1,one weight either way,population,,,,,reproduced\n"
        "toy,c2,Accuracy | test,[secondary] MONK table,weights left,%,,median,97,97,97,1,>= 95,,population,,,,,"
        "reproduced\n")


def test_extra_table_golden_markdown_latex_csv():
    record = _record()
    table = record["results"]["tables"][0]
    md = report.table_markdown(record, table, ORIGIN)
    assert [line for line in md.splitlines() if line.startswith("|")] == [
        "| problem   |   paper |   ours |", "|:----------|--------:|-------:|", "| MONK-1    |      14 |   14.5 |",
        "| MONK-2    |      15 |      — |"]
    assert md.startswith("# toy: Weights\n") and "- incl. biases" in md
    assert "@inproceedings{hassibi1993obs," in md
    tex = report.table_latex(record, table, ORIGIN)
    assert tex[tex.index(r"\begin{tabular}"):tex.index(r"\end{tabular}")].splitlines() == [
        r"\begin{tabular}{@{}lrr@{}}", r"\toprule", r"problem & paper & ours \\", r"\midrule",
        r"MONK-1 & 14 & 14.5 \\", r"MONK-2 & 15 & --- \\", r"\bottomrule"]
    assert r"\label{tab:toy-t1}" in tex
    assert report.table_csv(table) == "problem,paper,ours\nMONK-1,14,14.5\nMONK-2,15,\n"


def test_table_with_ragged_rows_is_refused(tmp_path):
    record = _record(tables=[{"id": "t", "columns": ["a", "b"], "rows": [[1, 2], [3]]}])
    _write(tmp_path, record)
    with pytest.raises(ValueError, match=r"toy: tables\[0\] \(t\): every row needs 2 cells, one per column; "
                                         r"rows \[1\] differ"):
        report.load_records(tmp_path)


def test_unknown_paper_key_is_refused(tmp_path):
    _write(tmp_path, _record(paper="nobody2024"))
    with pytest.raises(ValueError, match=r"record toy cites \['nobody2024'\], not in prunebench.report.BIB"):
        report.load_records(tmp_path)


def test_records_without_report_content_are_skipped(tmp_path):
    _write(tmp_path, records.make_record("train", {}, {"fit": {}}, copy.deepcopy(PROVENANCE)))
    assert report.load_records(tmp_path) == []


# ------------------------------------------------------------------------------------------- BibTeX, colours

def test_every_bibtex_entry_parses_with_its_key_and_required_fields():
    required = {"inproceedings": {"author", "title", "booktitle", "year"},
                "article": {"author", "title", "journal", "year"},
                "techreport": {"author", "title", "institution", "year"},
                "software": {"author", "title", "year"}}
    for key, entry in report.BIBTEX.items():
        [(kind, parsed_key, fields)] = report.parse_bibtex(entry)
        assert parsed_key == key
        assert required[kind] <= set(fields), f"{key} lacks {required[kind] - set(fields)}"
    assert report.short_cite("lecun1990obd") == "LeCun, Denker & Solla (1990)"
    assert report.short_cite("lecun1990digits") == "LeCun et al. (1990)"
    assert report.short_cite("thrun1991monks") == "Thrun et al. (1991)"


@pytest.mark.parametrize(("text", "match"), [
    ("@article{k, title = {a {b}", r"unbalanced braces in BibTeX entry 'k': 2 left open"),
    ("@article{, title = {a}}", r"a BibTeX entry must start as @type\{key, ..."),
    ("@article{k, title = {a}, title = {b}}", r"BibTeX entry 'k' repeats the field 'title'"),
], ids=["unbalanced", "no-key", "repeated-field"])
def test_bibtex_parser_catches_mistakes(text, match):
    with pytest.raises(ValueError, match=match):
        report.parse_bibtex(text)


def test_method_colors_are_fixed_and_fallbacks_deterministic():
    assert report.method_color("obd") == report.METHOD_COLORS["obd"]
    assert report.method_color("OBS") == report.METHOD_COLORS["obs"]
    assert len(set(report.METHOD_COLORS.values())) == len(report.METHOD_COLORS)
    assert report.method_color("my-method") == report.method_color("my-method")
    assert report.method_color("my-method") not in report.METHOD_COLORS.values()
    for variant in ("obs+retrain", "obs + retraining", "OBS (exact)", "obs, alpha=1e-8"):
        assert report.method_color(variant) == report.METHOD_COLORS["obs"], variant
    assert report.method_color("obd-lecun-lm + retraining") == report.METHOD_COLORS["obd-lecun-lm"]
    assert report.method_color("obs-fisher") != report.method_color("obs")
    dashes = report._dashes(["obs", "obs+retrain", "obd+retrain", "obd (exact)", "actual"])
    assert dashes["obs"] == dashes["actual"] == "" and dashes["obs+retrain"] == dashes["obd+retrain"] != ""
    assert dashes["obd (exact)"] not in ("", dashes["obs+retrain"])
    names = [f"series {i}" for i in range(12)]
    assert len(set(report._palette(names).values())) == len(names)  # no two unknown series share a colour


# ------------------------------------------------------------------------------------------------ figures

def test_figure_renders_png_and_svg_identically_twice():
    record = _record()
    spec, curves = record["results"]["figures"][0], record["results"]["curves"]
    fig, axes = report.plot_figure(spec, curves)
    assert len(axes) == 2 and [ax.get_title() for ax in axes] == ["train", "test"]
    [legend] = fig.legends
    entries = list(zip((t.get_text() for t in legend.get_texts()), legend.get_lines(), strict=True))
    assert {name: line.get_color() for name, line in entries} == {
        "obd": report.METHOD_COLORS["obd"], "magnitude": report.METHOD_COLORS["magnitude"],
        "obd+retrain": report.METHOD_COLORS["obd"], "custom curve": report.method_color("custom curve")}
    styles = {name: line.get_linestyle() for name, line in entries}
    assert styles["obd"] == "-" and styles["obd+retrain"] != "-"
    first = report.render_figure(spec, curves)
    assert first["png"].startswith(b"\x89PNG\r\n\x1a\n") and b"<svg" in first["svg"]
    assert b"Date" not in first["svg"] and b"Matplotlib v" not in first["svg"]
    assert report.render_figure(spec, curves) == first


def test_figure_errors_name_the_figure():
    spec = {"id": "f9", "panels": ["a"]}
    with pytest.raises(ValueError, match=r"figure 'f9' has no curves"):
        report.plot_figure(spec, _curves())
    with pytest.raises(ValueError, match=r"figure 'f1' lists panel 'nope', but no curve row has that panel"):
        report.plot_figure({"id": "f1", "panels": ["nope"]}, _curves())


# ------------------------------------------------------------------------------------------------ CLI, check

@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A results folder with two records, rendered once with figures, and a README with both sections."""
    root = tmp_path_factory.mktemp("report")
    _write(root / "results", _record())
    _write(root / "results", _record(kind="other", paper=["lecun1990obd", "thrun1991monks"], tables=[],
                                     figures=[], curves=[]))
    (root / "README.md").write_text(README)
    assert main(["report", "--results", str(root / "results"), "--readme", str(root / "README.md")]) == 0
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_report_writes_the_layout(rendered):
    files = set(_snapshot(rendered))
    for ext in ("md", "tex", "csv"):
        assert f"results/toy/tables/claims.{ext}" in files and f"results/toy/tables/t1.{ext}" in files
        assert f"results/other/tables/claims.{ext}" in files
    assert {"results/toy/figures/f1.png", "results/toy/figures/f1.svg", "results/README.md"} <= files
    readme = (rendered / "README.md").read_text()
    assert "### toy: Toy experiment, after Hassibi & Stork (1993)" in readme
    assert "[md](results/toy/tables/claims.md)" in readme and "@software{prunebench2026," in readme
    assert re.search(r"\| OBS keeps 14 weights +\| +14 weights \| +14 \[13, 15\] weights \| population: 95% CI +\| "
                     r"reproduced +\|", readme)
    assert re.search(r"\| claim +\| +paper \| +ours \[95% CI\] \| verdict rule +\| verdict +\|", readme)
    index = (rendered / "results" / "README.md").read_text()
    assert "![Loss](toy/figures/f1.png)" in index and "[md](toy/tables/claims.md)" in index
    assert "after LeCun, Denker & Solla (1990); Thrun et al. (1991)" in index


def test_rerender_is_byte_identical_and_check_passes(rendered, tmp_path, capsys):
    before = _snapshot(rendered)
    copy_root = tmp_path / "copy"
    for rel, data in before.items():
        if rel.endswith("record.json") or rel == "README.md":
            (copy_root / rel).parent.mkdir(parents=True, exist_ok=True)
            (copy_root / rel).write_bytes(data if rel.endswith(".json") else README.encode())
    args = ["report", "--results", str(copy_root / "results"), "--readme", str(copy_root / "README.md")]
    assert main(args) == 0
    assert _snapshot(copy_root) == before  # a fresh render from the records alone gives the same bytes
    assert main(["report", "--results", str(rendered / "results"), "--readme", str(rendered / "README.md"),
                 "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_names_every_stale_file(rendered, tmp_path, capsys):
    root = tmp_path / "stale"
    for rel, data in _snapshot(rendered).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    results = root / "results"
    claims_md = results / "toy" / "tables" / "claims.md"
    claims_md.write_text(claims_md.read_text().replace("reproduced", "reproduced!", 1))
    (results / "toy" / "tables" / "t1.csv").unlink()
    (results / "toy" / "figures" / "f1.svg").unlink()
    (results / "toy" / "tables" / "old.md").write_text("gone")
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace("| reproduced |", "| partly |", 1))
    status = main(["report", "--results", str(results), "--readme", str(readme), "--check"])
    err = capsys.readouterr().err
    assert status == 1
    assert f"{claims_md} (differs from what the records generate)" in err
    assert f"{results / 'toy' / 'tables' / 't1.csv'} (missing)" in err
    assert f"{results / 'toy' / 'figures' / 'f1.svg'} (missing)" in err
    assert f"{results / 'toy' / 'tables' / 'old.md'} (no record generates it)" in err
    assert f"{readme} (its generated sections differ" in err
    assert "t1.md" not in err  # untouched files are not named
    # A changed record makes its tables stale too.
    record = json.loads((results / "toy" / "record.json").read_text())
    record["results"]["claims"][0]["values"] = [20.0, 20.0, 20.0]
    records.atomic_write_json(results / "toy" / "record.json", record)
    stale = report.check(results, results)
    assert f"{results / 'toy' / 'tables' / 'claims.tex'} (differs from what the records generate)" in stale
    # Regenerating fixes everything (and removes the orphan).
    assert main(["report", "--results", str(results), "--readme", str(readme), "--no-figures"]) == 0
    assert report.check(results, results, readme) == [f"{results / 'toy' / 'figures' / 'f1.svg'} (missing)"]
    assert not (results / "toy" / "tables" / "old.md").exists()


def test_readme_without_markers_is_reported(rendered, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no sections\n")
    stale = report.check(rendered / "results", rendered / "results", readme)
    assert stale == [f"{readme} (no {begin} ... {end} markers: add them where the section belongs)"
                     for begin, end in ((report.README_BEGIN, report.README_END),
                                        (report.CITE_BEGIN, report.CITE_END))]


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path / "absent")]) == 2
    assert "error: results folder not found:" in capsys.readouterr().err
    assert main(["report", "--results", str(tmp_path), "--no-readme"]) == 2
    assert f"error: no records under {tmp_path}" in capsys.readouterr().err


def test_committed_results_are_up_to_date():
    results = REPO / "results"
    if not list(results.glob("*/record.json")):
        pytest.skip("no records committed under results/ yet (run `make reproduce-all`, commit results/)")
    # Whether each committed record was made from a clean commit is `prunebench report --check`'s business (CI
    # runs it); the rules themselves are tested on fixtures below.
    stale = report.check(results, results, REPO / "README.md", provenance=False)
    assert not stale, ("committed tables or README sections are stale; run `prunebench report --results "
                       "results --out results` and commit:\n" + "\n".join(stale))


def test_readme_how_to_cite_section_is_current():
    text = (REPO / "README.md").read_text()
    body = text[text.index(report.CITE_BEGIN) + len(report.CITE_BEGIN):text.index(report.CITE_END)]
    assert body.strip("\n") == report.how_to_cite_section().strip("\n"), \
        "README 'How to cite' is stale: run `prunebench report`"


def test_report_imports_no_torch():
    code = "import prunebench.report, sys; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("change, expected", [
    ({"dirty": True}, "made from a dirty source tree (0123456789ab-dirty)"),
    ({"git_commit": COMMIT + "-dirty", "dirty": None}, "made from a dirty source tree (0123456789ab-dirty)"),
    ({"git_commit": "0123456789ab"}, "commit '0123456789ab' is not a full 40-hex hash"),
    ({"units": None}, "its units carry no provenance"),
    ({"units": [{"git_commit": "f" * 40, "dirty": False, "prunebench": "0.0.9", "units": 3, "stale": 3}]},
     "3 unit(s) were computed by other code or configuration (--reuse-stale)"),
    ({"units": [{"git_commit": COMMIT, "dirty": True, "prunebench": "0.1.0", "units": 3, "stale": 0}]},
     "3 unit(s) were computed from a dirty source tree"),
])
def test_check_fails_on_records_not_from_a_clean_commit(tmp_path, capsys, change, expected):
    record = _record(tables=[], figures=[], curves=[])
    for key, value in change.items():
        if value is None:
            record["provenance"].pop(key)
        else:
            record["provenance"][key] = value
    _write(tmp_path / "results", record)
    (tmp_path / "README.md").write_text(README)
    args = ["report", "--results", str(tmp_path / "results"), "--readme", str(tmp_path / "README.md")]
    assert main(args) == 0
    section = (tmp_path / "README.md").read_text()
    assert "**Provenance**: " in section  # the mark is shown where the record is summarised
    if "dirty source tree (" in expected:
        assert "0123456789ab-dirty" in section
    assert main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'results' / 'toy' / 'record.json'}: {expected}" in err
    assert report.check(tmp_path / "results", tmp_path / "results", tmp_path / "README.md", provenance=False) == []
