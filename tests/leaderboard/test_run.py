"""The leaderboard: protocol, entries, resume, rendering, the check, and a third-party plug-in end to end."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prunebench import leaderboard as lb
from prunebench.cli import main

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "tests" / "plugin_example"
README_STUB = f"# stub\n\n{lb.README_BEGIN}\n{lb.README_END}\n"


def test_presets_cover_every_obd_curvature_and_obs_hessian():
    from prunebench import methods
    from prunebench.methods.hassibi1993obs import HESSIANS
    from prunebench.methods.lecun1989obd import CURVATURES

    assert {p["curvature"] for m, p in lb.PRESETS.values() if m == "obd"} == set(CURVATURES)
    assert {p["hessian"] for m, p in lb.PRESETS.values() if m == "obs"} == set(HESSIANS)
    assert {p.get("scope") for m, p in lb.PRESETS.values() if m == "magnitude"} == {"global", "layer"}
    for method, params in lb.PRESETS.values():
        methods.get(method, **params)


def test_auc_is_the_normalised_trapezoid():
    expected = (0.5 * (1.0 + 0.8) / 2 + 0.4 * (0.8 + 0.4) / 2) / 0.9
    assert lb.auc([0.5, 0.9], [0.8, 0.4], 1.0) == pytest.approx(expected, rel=1e-15)
    with pytest.raises(ValueError, match=r"sparsities must increase from above 0 and match the accuracies"):
        lb.auc([0.9, 0.5], [0.8, 0.4], 1.0)


def test_resolve_methods():
    assert lb.resolve_methods(None)[0] == ("random", "random", {})
    assert lb.resolve_methods(["obd"], ["curvature=ggn"]) == [("obd-ggn", "obd", {"curvature": "ggn"})]
    assert lb.resolve_methods(["obs-recursion"], ["alpha=1e-4"], "obs-a4") == [
        ("obs-a4", "obs", {"hessian": "recursion", "alpha": 1e-4})]
    with pytest.raises(ValueError, match=r"--method must be a leaderboard preset .* got 'nope'\. Install the plug-in"):
        lb.resolve_methods(["nope"])
    with pytest.raises(ValueError, match=r"--param must look like KEY=VALUE .*; got 'curvature'"):
        lb.resolve_methods(["obd"], ["curvature"])
    with pytest.raises(ValueError, match=r"--param and --name need exactly one --method; got 2"):
        lb.resolve_methods(["obd", "obs"], ["alpha=1"])
    with pytest.raises(ValueError, match=r"--name must be lower-case letters.*; got 'Bad Name'"):
        lb.resolve_methods(["obd"], name="Bad Name")


def test_run_refuses_bad_sparsities(tmp_path):
    expected = r"sparsities must be increasing, distinct and in \(0, 1\).*got \[0\.9, 0\.5\]"
    with pytest.raises(ValueError, match=expected):
        lb.run(["xor"], lb.resolve_methods(["random"]), seeds=[0], sparsities=[0.9, 0.5], out=tmp_path)


def test_saliency_cost_sees_tensor_memory():
    """The peak-memory measure counts torch allocations (which tracemalloc would miss): a saliency that holds a
    256 MiB temporary reports at least most of it (allocator reuse can hide only what was freed before)."""
    import torch

    from prunebench.methods import Magnitude
    from prunebench.testing import tiny_problem

    class Hungry(Magnitude):
        def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
            scratch = torch.ones(2**26, dtype=torch.float32)  # 256 MiB, touched
            assert float(scratch[-1]) == 1.0
            return super().saliency(model, loss_fn, inputs, targets, mask=mask)

    model, loss_fn, X, Y = tiny_problem()
    cost = lb._saliency_cost(Hungry(), model, loss_fn, X, Y, "cpu")
    assert cost["saliency_time_s"] > 0
    if cost["saliency_peak_mib"] is None:
        pytest.skip("no /proc/self/clear_refs here: peak memory is not measured on this platform")
    assert 200 <= cost["saliency_peak_mib"] <= 400


def test_cli_error_is_one_line(capsys):
    assert main(["leaderboard", "run", "--method", "nope", "--task", "xor"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --method must be a leaderboard preset") and "Traceback" not in err


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A small leaderboard on XOR (built in, trains in well under a second): 2 entries, 2 seeds, 2 sparsities."""
    out = tmp_path_factory.mktemp("board")
    entries = lb.resolve_methods(["magnitude-global", "obs-exact"])
    lb.run(["xor"], entries, seeds=[0, 1], sparsities=[0.25, 0.5], out=out, progress=False)
    (out / "README.md").write_text(README_STUB)
    lb.render(out, out / "README.md")
    return out


def _copy(board, tmp_path) -> Path:
    target = tmp_path / "board"
    shutil.copytree(board, target)
    return target


def test_run_writes_valid_entries_and_resumes(board):
    paths = sorted((board / "entries" / "xor").glob("*.json"))
    assert [p.stem for p in paths] == ["magnitude-global", "obs-exact"]
    entry = lb.read_entry(paths[1])
    assert entry["method"]["params"]["hessian"] == "exact"
    assert entry["method"]["distribution"]["name"] == "prunebench"
    assert [row["seed"] for row in entry["per_seed"]] == [0, 1]
    assert entry["aggregate"]["one_shot"][0]["test_accuracy"]["n"] == 2
    assert entry["provenance"]["seeds"] == [0, 1]
    units = sorted((board / ".work" / "xor" / "obs-exact" / "units").glob("*.json"))
    stamps = [u.stat().st_mtime_ns for u in units]
    lb.run(["xor"], lb.resolve_methods(["obs-exact"]), seeds=[0, 1], sparsities=[0.25, 0.5], out=board,
           progress=False)
    assert [u.stat().st_mtime_ns for u in units] == stamps  # resumed: no unit recomputed
    with pytest.raises(ValueError, match=r"holds units of a different configuration \(differs in \['sparsities'\]\)"):
        lb.run(["xor"], lb.resolve_methods(["obs-exact"]), seeds=[0], sparsities=[0.5], out=board, progress=False)


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


def test_check_passes_on_a_fresh_board_and_reruns_it(board):
    assert lb.check(board, board / "README.md", allow_partial=True, rerun="all") == []


def test_check_reports_protocol_departures(board):
    problems = lb.check(board, board / "README.md", rerun="none")
    assert any("sparsities [0.25, 0.5] differ from the protocol's" in p for p in problems)
    assert any("2 seed(s); the protocol needs at least 5" in p for p in problems)
    assert any("task 'xor' is not a protocol task" in p for p in problems)


def test_check_catches_tampering_staleness_and_misplaced_files(board, tmp_path):
    copy = _copy(board, tmp_path)
    path = copy / "entries" / "xor" / "obs-exact.json"
    entry = json.loads(path.read_text())
    entry["per_seed"][0]["one_shot"][1]["test_loss"] *= 1.01
    path.write_text(json.dumps(entry))
    (copy / "LEADERBOARD.md").write_text((copy / "LEADERBOARD.md").read_text() + "edited\n")
    shutil.copy(copy / "entries" / "xor" / "magnitude-global.json", copy / "entries" / "xor" / "other.json")
    problems = "\n".join(lb.check(copy, copy / "README.md", allow_partial=True, rerun="all", entries=["obs-exact"]))
    assert "aggregate/one_shot/1/test_loss/median" in problems and "never edited by hand" in problems
    assert "seed 0 one-shot @0.5 test_loss is" in problems and "(tolerance rtol 1e-06)" in problems
    assert "LEADERBOARD.md is stale or missing" in problems
    assert "it must be named entries/xor/magnitude-global.json" in problems


def test_check_reports_schema_violations(board, tmp_path):
    copy = _copy(board, tmp_path)
    path = copy / "entries" / "xor" / "magnitude-global.json"
    entry = json.loads(path.read_text())
    del entry["provenance"]
    path.write_text(json.dumps(entry))
    problems = lb.check(copy, None, allow_partial=True, rerun="none")
    assert any("does not follow prunebench.leaderboard-entry/1: at (top level): 'provenance' is a required property"
               in p for p in problems)


def test_rendering_imports_no_torch(board):
    code = textwrap.dedent(f"""
        import sys
        from prunebench import leaderboard
        entries = leaderboard.load_entries({str(board)!r})
        leaderboard.markdown(entries), leaderboard.readme_block(entries)
        assert "torch" not in sys.modules, "rendering imported torch"
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


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


def test_committed_leaderboard_passes_check_on_monk(data_root):
    """The committed entries follow the schema and the protocol, the page and README block are current, and every
    MONK-1 entry is reproduced (one seed at 90%, one-shot and retrained) within the stated tolerance."""
    problems = lb.check(REPO / "leaderboard", REPO / "README.md", tasks=["monks-1"], root=data_root,
                        provenance=False)
    assert problems == [], "\n".join(problems)


@pytest.mark.slow
def test_committed_leaderboard_passes_check_on_every_cheap_task(data_root):
    problems = lb.check(REPO / "leaderboard", REPO / "README.md", root=data_root, provenance=False)
    assert problems == [], "\n".join(problems)
