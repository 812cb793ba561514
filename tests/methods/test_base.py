"""Pruning methods are guests (prunebench.methods.base): a plug-in's bad scores or exceptions are reported as
the method's failure (naming it and what it returned), never as the user's mistake, and the documented plug-in
example (SNIP) works in every command that takes a method."""

import sys
from pathlib import Path

import pytest
import torch

from prunebench import prune, tasks
from prunebench.cli import main
from prunebench.methods import PruningMethod, registry
from prunebench.methods.base import MethodError

PLUGIN = Path(__file__).resolve().parents[1] / "plugin_example"


class _Guest(PruningMethod):
    curvature = None
    moves_weights = False
    citation = "a test double"


class NanScores(_Guest):
    """Magnitudes, with NaN for the first entry."""

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        out = {n: p.detach().abs().clone() for n, p in model.named_parameters()}
        next(iter(out.values())).view(-1)[0] = float("nan")
        return out


class Raises(_Guest):
    """Raises an error of its own."""

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        raise RuntimeError("the plug-in's own bug")


class MissingKey(_Guest):
    """Looks up a parameter name that does not exist."""

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        return {"weight": dict(model.named_parameters())["weight"]}


class WrongShape(_Guest):
    """One flat vector per parameter instead of the parameter's shape."""

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        return {n: p.detach().abs().reshape(-1, 1) for n, p in model.named_parameters()}


GUESTS = {"nan-scores": NanScores, "raises": Raises, "missing-key": MissingKey, "wrong-shape": WrongShape}


@pytest.fixture
def guests():
    sys.path.insert(0, str(PLUGIN))
    from prunebench_snip import Snip

    saved = dict(registry._METHODS)
    for name, cls in {**GUESTS, "snip": Snip}.items():
        registry.register(name, cls, overwrite=True)
    yield
    sys.path.remove(str(PLUGIN))
    registry._METHODS.clear()
    registry._METHODS.update(saved)


@pytest.mark.parametrize(("method", "message"), [
    ("nan-scores", "error: method 'nan-scores' returned a saliency with 1 non-finite of 4 entries in "
                   "'0.weight' (e.g. nan); every entry must be finite (run with -v for the method's "
                   "traceback)\n"),
    ("raises", "error: method 'raises' failed: RuntimeError: the plug-in's own bug (run with -v for the method's "
               "traceback)\n"),
    ("missing-key", "error: method 'missing-key' failed: KeyError: 'weight' (run with -v for the method's "
                    "traceback)\n"),
    ("wrong-shape", "error: method 'wrong-shape' returned a torch.float64 tensor of shape (4, 1) as the saliency "
                    "of '0.weight'; expected a floating-point tensor of shape (2, 2) (run with -v for the "
                    "method's traceback)\n"),
])
def test_check_saliency_reports_the_method_not_the_user(guests, capsys, method, message):
    assert main(["check-saliency", "--task", "xor", "--method", method]) == 1
    assert capsys.readouterr().err == message


def test_verbose_shows_the_plug_ins_traceback(guests, capsys):
    assert main(["-v", "check-saliency", "--task", "xor", "--method", "raises"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: method 'raises' failed: RuntimeError: the plug-in's own bug\nTraceback")
    assert 'raise RuntimeError("the plug-in\'s own bug")' in err


def test_pruning_checks_every_score_vector(guests):
    task = tasks.get("xor")
    model, data, _ = task.trained(0)
    with pytest.raises(MethodError, match=r"^method 'nan-scores' returned a saliency with 1 non-finite"):
        prune.one_shot(model, registry.get("nan-scores"), task.loss_fn(), data.x_train, data.t_train, 0.5)
    with pytest.raises(MethodError, match=r"^method 'raises' failed: RuntimeError: the plug-in's own bug$"):
        prune.one_shot(model, registry.get("raises"), task.loss_fn(), data.x_train, data.t_train, 0.5)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("method", ["nan-scores", "raises", "missing-key"])
def test_leaderboard_run_refuses_a_non_conforming_method_before_any_work(guests, tmp_path, capsys, method):
    assert main(["leaderboard", "run", "--task", "xor", "--method", method, "--seeds", "1", "--out",
                 str(tmp_path / "board"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: method {method!r} ")
    if method == "nan-scores":
        assert "fails the conformance checks of prunebench.testing" in err and "finite" in err
    assert not (tmp_path / "board").exists()


def test_the_documented_snip_example_works_in_every_command(guests, tmp_path, capsys):
    assert main(["methods"]) == 0
    assert "snip" in capsys.readouterr().out
    assert main(["check-saliency", "--task", "xor", "--method", "snip", "--json", str(tmp_path / "s.json")]) == 0
    assert "xor / snip" in capsys.readouterr().out
    board = tmp_path / "board"
    assert main(["leaderboard", "run", "--task", "xor", "--method", "snip", "--seeds", "1", "--sparsities", "0.5",
                 "--out", str(board), "--no-progress"]) == 0
    assert main(["leaderboard", "render", "--dir", str(board), "--readme", "", "--no-figures"]) == 0
    assert (board / "entries" / "xor" / "snip.json").is_file()


class PipeCitation(_Guest):
    """Magnitudes, under a citation with a pipe in it."""

    citation = "Doe | Roe (2024), A | B"

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        return {n: p.detach().abs() for n, p in model.named_parameters()}


def test_a_pipe_in_a_citation_and_a_partial_entry(tmp_path):
    from prunebench import leaderboard as lb

    registry.register("pipe-citation", PipeCitation, overwrite=True)
    try:
        lb.run(["xor"], lb.resolve_methods(["pipe-citation"]), seeds=[0], sparsities=list(lb.SPARSITIES),
               out=tmp_path, progress=False)
        lb.run(["xor"], lb.resolve_methods(["random"]), seeds=list(range(lb.SEEDS)),
               sparsities=list(lb.SPARSITIES), out=tmp_path, progress=False)
    finally:
        registry._METHODS.pop("pipe-citation", None)
    entries = lb.load_entries(tmp_path)
    partial = next(e for e in entries if e["entry"] == "pipe-citation")
    partial["aggregate"]["auc"]["one_shot"]["median"] = 1.0  # the best AUC, yet with one seed it is not ranked
    page = lb.markdown(entries)
    row = next(line for line in page.splitlines() if line.startswith("| pipe-citation"))
    assert row.count("|") - row.count("\\|") == 6  # five cells, the citation's pipes escaped
    assert "Doe \\| Roe (2024), A \\| B" in row
    one_shot = page[page.index("### One-shot"):page.index("### Retrained")].splitlines()
    ranked = [line for line in one_shot if "](entries/xor/" in line]
    assert ranked[0].startswith("|   1 | [random]") and ranked[1].startswith("|   — | [pipe-citation]")
    assert "(partial)" in ranked[1] and "1 (partial: not ranked)" in ranked[1]
    block = lb.readme_block(entries)
    rows = [line for line in block.splitlines() if line.startswith(("| random", "| pipe-citation"))]
    assert rows[0].startswith("| random") and "**" in rows[0]  # ranked first and best, though its AUC is lower
    assert rows[1] == "| pipe-citation | 100.0 (partial) |"
