"""The claims table and the extra tables of a record in Markdown, LaTeX and CSV (:mod:`prunebench.report.tables`)."""

from prunebench import report
from report_cases import COMMIT, ORIGIN, toy_claim, toy_record


def test_claims_golden_markdown_latex_csv():
    second = toy_claim(id="c2", statement="Accuracy | test", paper_value=None, unit="%", values=[97.0],
                    rule={"op": ">=", "threshold": 95}, tolerance_note="")
    record = toy_record(claims=[toy_claim(), second])
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
    record = toy_record()
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
