"""Every output file of ``prunebench report``, written from the records alone (:mod:`prunebench.report.output`)."""

import re

from prunebench.cli import main
from report_cases import README, snapshot


def test_report_writes_the_layout(rendered):
    files = set(snapshot(rendered))
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
    before = snapshot(rendered)
    copy_root = tmp_path / "copy"
    for rel, data in before.items():
        if rel.endswith("record.json") or rel == "README.md":
            (copy_root / rel).parent.mkdir(parents=True, exist_ok=True)
            (copy_root / rel).write_bytes(data if rel.endswith(".json") else README.encode())
    args = ["report", "--results", str(copy_root / "results"), "--readme", str(copy_root / "README.md")]
    assert main(args) == 0
    assert snapshot(copy_root) == before  # a fresh render from the records alone gives the same bytes
    assert main(["report", "--results", str(rendered / "results"), "--readme", str(rendered / "README.md"),
                 "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
