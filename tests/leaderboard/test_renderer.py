"""Rendering: the page, the figures and the README block, without torch."""

import re
import subprocess
import sys
import textwrap


def test_render_writes_page_figures_and_readme_block(board):
    page = (board / "LEADERBOARD.md").read_text()
    assert "## xor" in page and "[obs-exact](entries/xor/obs-exact.json)" in page
    assert "published, not run here" in page and "84.18" in page  # the WoodFisher reference rows
    assert "![xor: test accuracy vs sparsity, one-shot and retrained](figures/xor.svg)" in page
    for name in ("xor.png", "xor.svg"):
        assert (board / "figures" / name).stat().st_size > 1000
    readme = (board / "README.md").read_text()
    # two-seed trial entries: shown and marked, not ranked or bolded
    assert re.search(r"\| (magnitude-global|obs-exact) +\| +\d+\.\d \(partial\) \|", readme)
    assert "**" not in readme.split("| entry", 1)[1]


def test_rendering_imports_no_torch(board):
    code = textwrap.dedent(f"""
        import sys
        from prunebench import leaderboard
        entries = leaderboard.load_entries({str(board)!r})
        leaderboard.markdown(entries), leaderboard.readme_block(entries)
        assert "torch" not in sys.modules, "rendering imported torch"
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
