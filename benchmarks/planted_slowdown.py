"""Show that ``asv continuous`` flags a planted 2x slowdown of a curvature method.

    python benchmarks/planted_slowdown.py [--bench REGEX] [--factor 1.5] [--env-dir DIR] [--keep]

Steps: clone the checkout's HEAD into a temporary folder; commit there, on a branch ``planted``, a change
that makes the exact Hessian diagonal do all of its work twice (``prunebench.curvature.diagonal._native``
wrapped so that ``method="exact"`` runs it two times); run ``asv continuous -f FACTOR main planted`` on one
benchmark with a configuration that points asv at the clone (results and html in the temporary folder, so the
committed history is untouched; by default the checkout's ``.asv/env`` is reused, so nothing is reinstalled
but the project); print asv's output and exit 0 when asv reports ``PERFORMANCE DECREASED`` with the benchmark
flagged, 1 when it does not. Takes a few minutes (two builds, two benchmark runs), which is why it is a script
and not part of the test suite (tests/test_asv_planted_slowdown.py tests its pieces, and runs it end to end
when PRUNEBENCH_RUN_ASV=1).

asv imports every module of this folder during discovery; this one defines no benchmark and does nothing on
import.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = "reference/prunebench/curvature/diagonal.py"
DEFAULT_BENCH = (r"HessianDiagonal.time_hessian_diag"
                 r"\('exact', 'native', 'mlp-256-128-64-10', 'cpu', 'float32', 128\)")
PLANT = '''

# Planted by benchmarks/planted_slowdown.py: the exact diagonal does all of its work twice.
_unplanted_native = _native


def _native(model, params, loss_fn, inputs, targets, method, *args):
    if method == "exact":
        _unplanted_native(model, params, loss_fn, inputs, targets, method, *args)
    return _unplanted_native(model, params, loss_fn, inputs, targets, method, *args)
'''


def plant(source: str) -> str:
    """``diagonal.py``'s source with the 2x slowdown of the exact diagonal appended."""
    if not re.search(r"^def _native\(model, params, loss_fn, inputs, targets, method\b", source, re.MULTILINE):
        raise ValueError(f"{TARGET} has no `def _native(model, params, loss_fn, inputs, targets, method, ...)` to "
                         "wrap; update PLANT in benchmarks/planted_slowdown.py to the new entry point")
    return source.rstrip("\n") + "\n" + PLANT


def flagged(output: str, name: str = "time_hessian_diag") -> bool:
    """True when asv's ``continuous`` output reports a regression of benchmark ``name``: a table row whose
    Change column is ``+`` and that names it, and the closing ``PERFORMANCE DECREASED.``."""
    rows = [line for line in output.splitlines() if line.strip().lstrip("|").lstrip().startswith("+")
            and name in line]
    return bool(rows) and "PERFORMANCE DECREASED." in output


def sample_summary(results_dir: Path, name: str = "time_hessian_diag") -> dict[str, dict[str, float]]:
    """Per commit (8 hex digits): asv's value (the median) and the fastest of the recorded samples of the
    benchmark ``name``, read from asv's result files. On a busy machine the samples are bimodal (a call is
    either undisturbed or preempted for a scheduler slice), so the ratio of the fastest samples is the cleaner
    measure of the planted factor."""
    out = {}
    for path in sorted(results_dir.glob("*/*.json")):
        data = json.loads(path.read_text())
        if "results" not in data:
            continue
        for key, values in data["results"].items():
            if not key.endswith(name):
                continue
            record = dict(zip(data["result_columns"], values, strict=False))
            for value, samples in zip(record["result"], record.get("samples") or [], strict=False):
                if value is not None and value == value and samples:
                    out[data["commit_hash"][:8]] = {"value": value, "fastest": min(samples),
                                                    "samples": len(samples)}
    return out


def _git(*args: str, cwd: Path) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="planted", GIT_AUTHOR_EMAIL="planted@invalid",
               GIT_COMMITTER_NAME="planted", GIT_COMMITTER_EMAIL="planted@invalid")
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout


def make_clone(tmp: Path) -> Path:
    """A clone of HEAD (branch ``main``) with the branch ``planted`` one commit ahead."""
    repo = tmp / "repo"
    head = _git("rev-parse", "HEAD", cwd=ROOT).strip()
    _git("clone", "--quiet", "--shared", "--no-checkout", str(ROOT), str(repo), cwd=tmp)
    _git("checkout", "--quiet", "-B", "main", head, cwd=repo)
    _git("checkout", "--quiet", "-b", "planted", cwd=repo)
    target = repo / TARGET
    target.write_text(plant(target.read_text()))
    _git("commit", "--quiet", "-am", "planted: the exact Hessian diagonal does its work twice", cwd=repo)
    return repo


def asv_config(tmp: Path, repo: Path, env_dir: Path) -> Path:
    """The checkout's asv.conf.json pointed at the clone, with results and html kept in ``tmp``."""
    from asv.util import load_json

    conf = load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    conf.update({"repo": str(repo), "branches": ["main"], "benchmark_dir": str(ROOT / "benchmarks"),
                 "results_dir": str(tmp / "results"), "html_dir": str(tmp / "html"), "env_dir": str(env_dir)})
    path = tmp / "asv.conf.json"
    path.write_text(json.dumps(conf, indent=1))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=DEFAULT_BENCH, help="asv --bench regex of the benchmark to watch")
    parser.add_argument("--factor", type=float, default=1.5, help="asv continuous -f (default 1.5)")
    parser.add_argument("--env-dir", type=Path, default=ROOT / ".asv" / "env",
                        help="asv environments to reuse (default: the checkout's .asv/env)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    parser.add_argument("--verbose", action="store_true", help="print asv's whole output")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="prunebench-planted-"))
    try:
        repo = make_clone(tmp)
        config = asv_config(tmp, repo, args.env_dir.resolve())
        cmd = [sys.executable, "-m", "asv", "continuous", "--config", str(config), "-f", str(args.factor),
               "--interleave-rounds", "--show-stderr", "--bench", args.bench, "main", "planted"]
        print("$ " + " ".join(cmd), flush=True)
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        output = done.stdout + done.stderr
        skipped = [line for line in output.splitlines() if re.search(r"\bn/a\s*$", line)]
        if args.verbose or not skipped:
            print(output)
        else:
            print("\n".join(line for line in output.splitlines() if not re.search(r"\bn/a\s*$", line)))
            print(f"({len(skipped)} table rows of parameter combinations not selected by --bench left out; "
                  "--verbose prints them)")
        ok = flagged(output)
        summary = sample_summary(tmp / "results")
        for commit, row in summary.items():
            print(f"{commit}: asv value {row['value'] * 1e3:.3f} ms, fastest of {row['samples']} samples "
                  f"{row['fastest'] * 1e3:.3f} ms")
        base, tip = (_git("rev-parse", "--short=8", ref, cwd=repo).strip() for ref in ("main", "planted"))
        if base in summary and tip in summary:
            print(f"planted / main: {summary[tip]['value'] / summary[base]['value']:.2f} by asv's value, "
                  f"{summary[tip]['fastest'] / summary[base]['fastest']:.2f} by the fastest samples")
        print(f"planted 2x slowdown {'FLAGGED' if ok else 'NOT flagged'} by asv continuous -f {args.factor} "
              f"(asv exit status {done.returncode})")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
