"""``prunebench leaderboard``: one-line errors, and a third-party plug-in end to end."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from prunebench.cli import main

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "tests" / "plugin_example"


def test_cli_error_is_one_line(capsys):
    assert main(["leaderboard", "run", "--method", "nope", "--task", "xor"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --method must be a leaderboard preset") and "Traceback" not in err


def test_docs_show_the_plugin_code_verbatim():
    doc = (REPO / "docs" / "plugin-example.md").read_text()
    blocks = re.findall(r"```(?:python|toml)\n(.*?)```", doc, flags=re.S)
    module = (PLUGIN / "prunebench_snip" / "__init__.py").read_text()
    pyproject = (PLUGIN / "pyproject.toml").read_text()
    assert module in blocks
    assert pyproject[pyproject.index("[build-system]"):] in blocks
    assert len(module.splitlines()) <= 35


_PLUGIN_SCRIPT = """
import contextlib, io, json, sys
from pathlib import Path
from prunebench import records
from prunebench.cli import main
from prunebench.testing import check_method

# the checkout under test may hold uncommitted work: the entry is made as if from a clean commit
records.git_state = lambda outputs=(): {"commit": "ab" * 20, "dirty": False, "changed": [], "diff_sha256": None}

out, board = io.StringIO(), Path(sys.argv[1])
with contextlib.redirect_stdout(out):
    assert main(["methods"]) == 0
listing = out.getvalue()
assert "snip" in listing and "[prunebench_snip.Snip]" in listing, listing
passed = check_method("snip")
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["leaderboard", "run", "--method", "snip", "--task", "digits", "--seeds", "1",
                 "--sparsities", "0.5,0.9", "--out", str(board), "--no-progress"]) == 0
    assert main(["leaderboard", "render", "--dir", str(board), "--readme", ""]) == 0
    assert main(["leaderboard", "check", "--dir", str(board), "--readme", "", "--allow-partial",
                 "--rerun", "all", "--no-progress"]) == 0
entry = json.loads((board / "entries" / "digits" / "snip.json").read_text())
print(json.dumps({"passed": passed, "distribution": entry["method"]["distribution"],
                  "auc": entry["aggregate"]["auc"]["one_shot"]["median"]}))
"""


def test_plugin_package_installs_and_runs_on_the_leaderboard(tmp_path):
    """pip-install tests/plugin_example into a throw-away target folder (offline: no index, no build isolation,
    no dependencies), then, in a process that sees it on PYTHONPATH, list it, run the conformance checks and put it
    through `leaderboard run`, `render` and `check`. Nothing is installed into the environment itself."""
    source, target = tmp_path / "src", tmp_path / "site"
    shutil.copytree(PLUGIN, source)  # build in a copy: the checkout gets no build/ or egg-info folders
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, timeout=300)
    assert list(target.glob("prunebench_snip-0.1.0.dist-info/entry_points.txt"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _PLUGIN_SCRIPT, str(tmp_path / "board")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "determinism" in result["passed"] and "pruning" in result["passed"]
    assert result["distribution"] == {"name": "prunebench-snip", "version": "0.1.0"}
    assert 0 < result["auc"] <= 1
