"""Optimal Brain Surgeon on NETtalk: weights remaining and generalisation after pruning, vs OBD and magnitude.

Reference:
    Babak Hassibi and David G. Stork (1993). "Second order derivatives for network pruning: Optimal Brain
    Surgeon". In S. J. Hanson, J. D. Cowan and C. L. Giles (eds.), Advances in Neural Information Processing
    Systems 5 (NIPS 1992), pp. 164-171. Morgan Kaufmann.
    Sejnowski & Rosenberg (1987), "Parallel networks that learn to pronounce English text", Complex Systems 1
    (the task, the 203-80-26 network, the articulatory output code and the "best guess" phoneme).

The claim [paper, abstract]: NETtalk was pruned from 18,000 to 1,560 weights (8.5%) with better
generalisation. The paper reports one network; per-method curves are not recoverable [open].

Protocol (one unit per seed and method):

1. Train the task's network (``nettalk``: 203-80-26 sigmoid, 18,426 weights with biases; ``--quick``: the
   reduced ``nettalk-20``, 203-20-26, 4,626 weights) on MSE over the 26 output bits: Adam, then full-batch
   L-BFGS to a stated tolerance (:mod:`prunebench.tasks`; the reached gradient norm and iterations are
   recorded). Training set: Fahlman's reconstruction of the 1000 most common words (5,603 letters); test set:
   every other dictionary entry (141,331 letters, words never trained on); see :mod:`prunebench.data`.
2. Follow the method's deletion sequence one weight at a time, without retraining: ``obs`` is full-network
   OBS (:class:`prunebench.methods.fullobs.FullOBS`, ``group_size=1``: the paper's one-at-a-time procedure
   with the eq. 5 update and the downdate after every deletion; ONE dense float64 inverse of all weights, no
   layer blocks) of the Gauss-Newton matrix ``(1/N) sum_k sum_c X_kc X_kc^T + alpha I`` (eq. 17's matrix,
   alpha 1e-6) estimated on ``hessian_samples`` random training letters; ``obd`` ranks once by LeCun's
   Levenberg-Marquardt diagonal; ``magnitude`` by |w|. The training bit accuracy is measured on a geometric
   grid of weights remaining (each point 1% fewer weights than the last) and the test accuracies at fixed
   fractions (``checkpoints``, the paper's 1,560 / 18,426 among them).
3. With retraining: the net at each checkpoint of that same sequence, retrained with its mask kept
   (``retrain_iterations`` full-batch L-BFGS iterations), then evaluated ("prune, then retrain": the paper's
   "otherwise stop; retraining may then help").

Where training error starts to rise (the rule, fixed before any run): the weights remaining of the last net
whose training bit accuracy is within ``tolerance`` (0.5 percentage points) of the dense net's; without
retraining on the grid of step 2, with retraining on the checkpoints (the first checkpoint that fails ends
it). Accuracies: *bits*, the fraction of the 26 output units on the right side of 0.5; *phonemes*, the
fraction of letters whose best-guess phoneme (the phoneme code at the smallest angle to the 21 articulatory
outputs, Sejnowski & Rosenberg's rule) is the right one.

Cost at the paper's size (measured on one thread of a 2-core CPU, see the record): the inverse is 18,426^2
float64 = 2.7 GB; its Woodbury build from 500 letters (13,000 vectors) about 2e13 flop, minutes; the
one-at-a-time deletions with compaction about P^3 / 3 = 2e12 flop; peak memory about 6 GB.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
from typing import Any

import torch

from .. import data as datasets
from .. import methods, prune, tasks
from .._validation import integer
from ..train import TrainConfig, fit
from ._common import Meter, masked_copy
from .base import Experiment

__all__ = ["PAPER_FRACTION", "ObsNettalk", "follow_sequence", "phoneme_accuracy"]

PAPER_WEIGHTS = (18_000, 1_560)
"""The paper's NETtalk weight counts before and after OBS [paper, abstract]."""

PAPER_FRACTION = 1_560 / 18_426
"""The paper's remaining fraction, taking 18,000 as the 18,426 weights of 203-80-26 with biases."""

TOLERANCE = 0.5
"""The rule: the training bit accuracy may fall this many percentage points below the dense net's."""

ALPHA = 1e-6
"""OBS's alpha (the eq. 17 recursion's H_0^-1 = I / alpha), inside the paper's 1e-8..1e-4."""

CHECKPOINTS = (1.0, 0.5, 0.35, 0.25, 0.15, 0.1, PAPER_FRACTION, 0.06, 0.04, 0.02)
"""Fractions of weights remaining where the test accuracies are measured and the nets are retrained."""

QUICK_CHECKPOINTS = (1.0, 0.9, 0.8)

GRID = 0.01
"""The training accuracy is measured each time the weights remaining fall by this fraction."""

METHODS = ("obs", "obd", "magnitude")


def phoneme_accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of letters whose best-guess phoneme is right: the phoneme code (21 articulatory units, the
    distinct codes of :data:`prunebench.data.PHONEME_CODES`) at the smallest angle to ``outputs[:, :21]``,
    against the code of ``targets[:, :21]``. ``outputs``, ``targets``: (N, 26)."""
    codes = torch.tensor(sorted({tuple(c) for c in datasets.PHONEME_CODES.values()}), dtype=outputs.dtype,
                         device=outputs.device)
    width = codes.shape[1]
    out, want = outputs[:, :width], targets[:, :width].to(outputs.dtype)
    cosine = (out @ codes.T) / (out.norm(dim=1, keepdim=True).clamp_min(1e-12) * codes.norm(dim=1))
    guess = codes[cosine.argmax(dim=1)]
    return float((guess == want).all(dim=1).to(torch.float64).mean())


def _scores(net, task, data, split: str) -> tuple[float, float]:
    """(bit accuracy %, phoneme accuracy %) of ``net`` on ``split`` ("train" or "test")."""
    x, t, y = (data.x_train, data.t_train, data.y_train) if split == "train" else (
        data.x_test, data.t_test, data.y_test)
    with torch.no_grad():
        out = net(x)
    bits = float((task.predict(out) == y).to(torch.float64).mean())
    return round(100 * bits, 6), round(100 * phoneme_accuracy(out, t), 6)


def _grid(total: int, floor: int, step: float, marks: set[int]) -> list[int]:
    """Weights-remaining counts, descending from ``total`` to ``floor``: each about ``step`` fewer (at least
    one), plus ``marks``."""
    points, r = {total, floor, *marks}, float(total)
    while r > floor:
        r = min(r - 1, r * (1 - step))
        points.add(max(floor, round(r)))
    return sorted((p for p in points if floor <= p <= total), reverse=True)


def follow_sequence(model, task, data, method, *, hessian_data=None, checkpoints=CHECKPOINTS,
                    tolerance: float = TOLERANCE, grid: float = 0.0, retrain: TrainConfig | None = None,
                    seed: int = 0) -> dict[str, Any]:
    """Follow ``method``'s deletion sequence on a copy of ``model`` without retraining, down to the smallest
    checkpoint (or until the method stops).

    ``hessian_data``: ``(inputs, targets)`` given to the method (default the whole training set). ``grid``:
    measure the training accuracy each time the weights remaining fall by this fraction (0: after every
    deletion). ``retrain``: also retrain a copy of the net at each checkpoint with its mask (``seed`` for
    :func:`prunebench.train.fit`). Returns {"train": [[remaining, train %], ...] on the grid, "test":
    [[remaining, train %, test %], ...] at the checkpoints, "accuracy_rule": [remaining, train %] of the last
    grid net within ``tolerance`` of the dense training accuracy, "stopped": why the sequence ended}; with a
    task whose labels are bits, the test rows and the rule also carry the phoneme accuracies (train, test),
    and with ``retrain`` "retrained": [[remaining, train %, test %, ...], ...] per checkpoint (stopping at
    the first outside ``tolerance``) and "retrained_rule" (the last one within it).
    """
    x, t = hessian_data if hessian_data is not None else (data.x_train, data.t_train)
    phonemes = task.targets == "bits"
    net = masked_copy(model)
    total = sum(p.numel() for p in net.parameters())
    marks = sorted({round(f * total) for f in checkpoints}, reverse=True)
    floor = marks[-1]
    measure = set(_grid(total, floor, grid, set(marks))) if grid > 0 else None

    def train_bits() -> float:
        return round(100 * task.accuracy(net, data.x_train, data.y_train), 6)

    def point(model_now, remaining: int) -> list:
        if not phonemes:
            return [remaining, round(100 * task.accuracy(model_now, data.x_train, data.y_train), 6),
                    round(100 * task.accuracy(model_now, data.x_test, data.y_test), 6)]
        (train, train_ph), (test, test_ph) = (_scores(model_now, task, data, s) for s in ("train", "test"))
        return [remaining, train, test, train_ph, test_ph]

    start = train_bits()
    train, test = [[total, start]], [point(net, total)]
    rule, stopped, kept = None, "floor", copy.deepcopy(net.state_dict())
    states = {total: kept} if retrain is not None else {}
    deletions = prune.gradual(net, method, task.loss_fn(), x, t)
    remaining = total
    while remaining > floor:
        try:
            next(deletions)
        except StopIteration as end:
            stopped = end.value
            break
        remaining -= 1
        if measure is not None and remaining not in measure:
            continue
        train.append([remaining, train_bits()])
        if rule is None and train[-1][1] < start - tolerance:
            good = masked_copy(model)
            good.load_state_dict(kept)
            rule = point(good, train[-2][0])
        kept = copy.deepcopy(net.state_dict())
        if remaining in marks:
            test.append(point(net, remaining))
            if retrain is not None:
                states[remaining] = kept
    deletions.close()  # frees the method's state (OBS's inverse) before any retraining
    if test[-1][0] != remaining:
        test.append(point(net, remaining))
        if retrain is not None:
            states[remaining] = copy.deepcopy(net.state_dict())
    out = {"train": train, "test": test, "accuracy_rule": rule or point(net, remaining), "stopped": stopped}
    if retrain is not None:
        out.update(_retrain_checkpoints(model, task, data, states, retrain, seed, start - tolerance, point))
    return out


def _retrain_checkpoints(model, task, data, states: dict[int, dict], retrain: TrainConfig, seed: int,
                         threshold: float, point) -> dict[str, Any]:
    """Retrain the net saved at each checkpoint (most weights first) with its mask; stop at the first whose
    training accuracy falls below ``threshold``."""
    rows, rule = [], None
    for remaining in sorted(states, reverse=True):
        net = masked_copy(model)
        net.load_state_dict(states[remaining])
        if remaining < max(states):
            fit(net, task.loss_fn(), data.x_train, data.t_train, retrain, seed=seed)
        rows.append(point(net, remaining))
        if rows[-1][1] < threshold:
            break
        rule = rows[-1]
    return {"retrained": rows, "retrained_rule": rule or rows[0]}


def method_specs(samples: int, alpha: float) -> dict[str, list]:
    """Label -> [registry name, parameters] (the unit's seed is added to OBS's at run time)."""
    return {"obs": ["obs-full", {"hessian": "ggn", "damping": alpha, "samples": samples, "group_size": 1,
                                 "dtype": "float64"}],
            "obd": ["obd", {"curvature": "lecun-lm"}],
            "magnitude": ["magnitude", {"scope": "global"}]}


class ObsNettalk(Experiment):
    """Hassibi & Stork (1993), NETtalk: full-network OBS, OBD and magnitude pruning, without and with
    retraining, on the paper's 203-80-26 net."""

    name = "obs-nettalk"
    title = "Optimal Brain Surgeon (1993): pruning NETtalk"
    paper = "hassibi1993obs"
    default_seeds = 3
    quick_seeds = 1
    needs_data = "nettalk"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--hessian-samples", type=int, default=500,
                            help="training letters OBS's Gauss-Newton matrix is estimated on (default 500: "
                                 "13,000 output-gradient vectors)")
        parser.add_argument("--retrain-iterations", type=int, default=100,
                            help="full-batch L-BFGS iterations when retraining a pruned net (default 100)")

    def config(self, args: argparse.Namespace, seeds: list[int]) -> dict[str, Any]:
        quick = bool(args.quick)
        samples = integer("--hessian-samples", getattr(args, "hessian_samples", 500), 1,
                          expected="a positive integer (training letters)")
        iterations = integer("--retrain-iterations", getattr(args, "retrain_iterations", 100), 0)
        task = "nettalk-20" if quick else "nettalk"
        return {**super().config(args, seeds), "task": tasks.get(task).name, "dtype": "float32",
                "hessian_samples": min(samples, 100) if quick else samples, "alpha": ALPHA,
                "tolerance": TOLERANCE, "grid": GRID, "retrain_iterations": 10 if quick else iterations,
                "checkpoints": list(QUICK_CHECKPOINTS if quick else CHECKPOINTS),
                "methods": method_specs(min(samples, 100) if quick else samples, ALPHA)}

    def units(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        # Seed-major: a seed's three methods share its trained net (trained by the first, cached).
        return [{"id": f"seed={s}.{label}", "seed": s, "method": label} for s in config["seeds"]
                for label in config["methods"]]

    def run_unit(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        task = tasks.get(config["task"])
        model, data, info = task.trained(unit["seed"], config["root"], device=config["device"])
        (train, train_ph), (test, test_ph) = (_scores(model, task, data, s) for s in ("train", "test"))
        fit_report = info["fit"]
        dense = {"train": train, "test": test, "train_phonemes": train_ph, "test_phonemes": test_ph,
                 "loss": fit_report["loss"], "grad_norm": fit_report["grad_norm"],
                 "iterations": fit_report["iterations"], "fit_wall_s": fit_report["wall_time"]}
        name, params = config["methods"][unit["method"]]
        params = {**params, "seed": unit["seed"]} if name == "obs-full" else params
        method = methods.get(name, **params)
        retrain = TrainConfig(epochs=config["retrain_iterations"])
        load = os.getloadavg()[0]
        with Meter(config["device"]) as meter, meter.span():
            result = follow_sequence(model, task, data, method, checkpoints=config["checkpoints"],
                                     tolerance=config["tolerance"], grid=config["grid"], retrain=retrain,
                                     seed=unit["seed"])
        stats = getattr(method, "last_stats", None)
        # Keep the training accuracy at about every 1% of the deletions only (the file stays small).
        steps = result["train"]
        thinned = steps[:: max(1, len(steps) // 100)]
        result["train"] = thinned if thinned[-1] == steps[-1] else [*thinned, steps[-1]]
        return {"seed": unit["seed"], "method": unit["method"], "dense": dense, **result,
                "wall_s": meter.wall_s, "cpu_s": meter.cpu_s, "peak_gb": meter.peak_gb,
                "extra_gb": meter.extra_gb, "load_average": [load, os.getloadavg()[0]],
                "threads": torch.get_num_threads(), "stats": stats.to_dict() if stats else None}

    def summarize(self, config: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        units = [results[u["id"]] for u in self.units(config)]
        by = {(u["seed"], u["method"]): u for u in units}
        seeds, labels = config["seeds"], list(config["methods"])
        total = units[0]["test"][0][0]
        paper_count = round(PAPER_FRACTION * total)
        tables = [_training_table(by, seeds, config), _pruning_table(by, seeds, labels, total, paper_count,
                                                                     config)]
        return {"title": self.title, "paper": self.paper,
                "claims": _claims(by, seeds, labels, total, paper_count, config), "tables": tables,
                "curves": _curves(units), "figures": _figures(config, len(seeds)),
                "deviations": _deviations(config),
                "per_seed": [{k: u[k] for k in ("seed", "method", "dense", "accuracy_rule", "stopped", "test",
                                                "retrained", "retrained_rule", "wall_s", "peak_gb", "stats")}
                             for u in units]}


def _med(values: list[float], digits: int) -> float:
    return round(statistics.median(values), digits)


def _range(values: list[float], digits: int) -> str:
    low, high = (f"{v:.{digits}f}" for v in (min(values), max(values)))
    return low if low == high else f"{low} to {high}"


def _at(rows: list[list], remaining: int) -> list | None:
    return next((row for row in rows if row[0] == remaining), None)


def _training_table(by, seeds, config) -> dict:
    rows = []
    for s in seeds:
        d = by[(s, "obs")]["dense"]
        rows.append([s, f"{d['loss']:.4e}", f"{d['grad_norm']:.2e}", d["iterations"], round(d["fit_wall_s"], 1),
                     round(d["train"], 2), round(d["test"], 2), round(d["train_phonemes"], 2),
                     round(d["test_phonemes"], 2)])
    recipe = tasks.get(config["task"]).recipe
    return {"id": "nettalk-trained", "title": f"NETtalk ({config['task']}): the dense nets as trained",
            "columns": ["seed", "train MSE", "gradient norm", "iterations", "train s", "train bits %",
                        "test bits %", "train phonemes %", "test phonemes %"],
            "rows": rows,
            "notes": [f"Adam ({recipe.epochs} epochs, lr {recipe.lr:g}, batches of {recipe.batch_size}), then "
                      f"full-batch L-BFGS until the largest gradient entry is <= {recipe.tolerance_grad:g} or "
                      f"{recipe.finish_lbfgs} iterations; iterations count both phases' steps (Adam's "
                      "minibatch steps and L-BFGS iterations); gradient norm: ||dE/dw|| at the end.",
                      "Test: every dictionary entry outside the training words (never trained on)."]}


def _pruning_table(by, seeds, labels, total, paper_count, config) -> dict:
    rows = []
    for retrained in (False, True):
        for label in labels:
            picks = [by[(s, label)] for s in seeds]
            rule = [u["retrained_rule" if retrained else "accuracy_rule"] for u in picks]
            at_paper = [_at(u["retrained" if retrained else "test"], paper_count) for u in picks]
            dense_ph = [u["dense"]["test_phonemes"] for u in picks]
            left = [r[0] for r in rule]
            paper_ph = [a[4] - d for a, d in zip(at_paper, dense_ph, strict=True) if a is not None]
            rows.append([
                label + ("+retrain" if retrained else ""), total, _med(left, 0), _range(left, 0),
                _med([100 * v / total for v in left], 2), _med([r[1] for r in rule], 2),
                _med([u["dense"]["test"] for u in picks], 2), _med([r[2] for r in rule], 2),
                _med(dense_ph, 2), _med([r[4] for r in rule], 2),
                _med(paper_ph, 2) if len(paper_ph) == len(picks) else None,
                _med([u["wall_s"] for u in picks], 0), _med([u["peak_gb"] for u in picks], 2)])
    grid = "" if config["grid"] <= 0 else f" (measured each time the weights fall by {100 * config['grid']:g}%)"
    return {
        "id": "nettalk-pruning",
        "title": f"NETtalk ({config['task']}, {total:,} weights): weights left where training error starts "
                 "to rise, and generalisation",
        "columns": ["method", "weights before", "weights left (median)", "weights left (range)",
                    "% left (median)", "train bits % there", "dense test bits %", "test bits % there",
                    "dense test phonemes %", "test phonemes % there",
                    f"test phonemes at {paper_count:,} weights minus dense (pp)", "run time s", "peak GB"],
        "rows": rows,
        "notes": [f"Paper: 18,000 -> 1,560 weights ({100 * PAPER_FRACTION:.2f}% left) with better "
                  "generalisation [paper, abstract], one network.",
                  f"Median (and range) over {len(seeds)} seeds. Where training error starts to rise: the last "
                  f"net whose training bit accuracy is within {config['tolerance']} pp of the dense net's; "
                  f"without retraining along the deletion sequence{grid}, with retraining (+retrain) at the "
                  "checkpoints " + ", ".join(f"{c:.4g}" for c in config["checkpoints"][1:]) + " of the "
                  f"weights, each retrained with its mask ({config['retrain_iterations']} L-BFGS iterations).",
                  "there: at that net. Phonemes: best guess (smallest angle) among the phoneme codes; bits: "
                  "output units on the right side of 0.5. Test: words never trained on.",
                  "run time: wall seconds of the unit (deletion sequence, evaluations and the retraining at "
                  "every checkpoint), one thread on a shared 2-core CPU; peak GB: the process's resident "
                  "memory (sampled every 20 ms), trained model and data included. obs: one dense float64 "
                  f"inverse of all {total:,} weights from {config['hessian_samples']} training letters."]}


def _single(statement, cid, metric, unit, values, rule, paper_value, note) -> dict:
    return {"id": cid, "statement": statement, "source": "[paper] abstract", "paper_value": paper_value,
            "metric": metric, "unit": unit, "values": values, "rule": rule, "verdict_rule": "single-network",
            "tolerance_note": note}


def _claims(by, seeds, labels, total, paper_count, config) -> list[dict]:
    claims = []
    for retrained, key, how in ((False, "accuracy_rule", "without retraining"),
                                (True, "retrained_rule", "pruned, then retrained with its mask")):
        suffix = "-retrained" if retrained else ""
        claims.append(_single(
            f"OBS prunes NETtalk from 18,000 to 1,560 weights ({how})", f"nettalk-obs-weights{suffix}",
            f"weights left by OBS where training error starts to rise ({config['task']}, {how})", "weights",
            [float(by[(s, "obs")][key][0]) for s in seeds], {"op": "<=", "threshold": paper_count},
            paper_count, f"the paper's one network: {paper_count:,} of {total:,} weights or fewer; training "
                         f"bits within {config['tolerance']} pp of the dense net"))
        rows = "retrained" if retrained else "test"
        gains = [_at(by[(s, "obs")][rows], paper_count) for s in seeds]
        if all(g is not None for g in gains):
            claims.append(_single(
                f"The NETtalk network pruned by OBS to 1,560 weights generalises better than the unpruned one "
                f"({how})", f"nettalk-obs-generalisation{suffix}",
                f"test phoneme accuracy of OBS at {paper_count:,} weights minus the dense net's ({how})", "pp",
                [g[4] - by[(s, "obs")]["dense"]["test_phonemes"] for g, s in zip(gains, seeds, strict=True)],
                {"op": ">", "threshold": 0}, None, "better: a positive difference on words never trained on"))
        for other in labels[1:]:
            claims.append(
                {"id": f"nettalk-obs-vs-{other}{suffix}",
                 "statement": f"OBS removes more weights than {other} for the same training error ({how})",
                 "source": "[paper] abstract", "paper_value": None,
                 "metric": f"weights left by {other} minus by OBS where training error starts to rise ({how})",
                 "unit": "weights",
                 "values": [float(by[(s, other)][key][0] - by[(s, "obs")][key][0]) for s in seeds],
                 "rule": {"op": ">", "threshold": 0}, "verdict_rule": "population",
                 "tolerance_note": "any positive difference"})
    return claims


def _curves(units) -> list[dict]:
    curves = []
    for u in units:
        for remaining, train in u["train"]:
            curves.append({"figure": "nettalk-accuracy", "series": u["method"], "seed": u["seed"],
                           "x": float(remaining), "y": float(train), "panel": "train bits"})
        for row in u["test"]:
            curves.append({"figure": "nettalk-accuracy", "series": u["method"], "seed": u["seed"],
                           "x": float(row[0]), "y": float(row[4]), "panel": "test phonemes"})
        for row in u["retrained"]:
            curves.append({"figure": "nettalk-accuracy", "series": f"{u['method']}+retrain", "seed": u["seed"],
                           "x": float(row[0]), "y": float(row[4]), "panel": "test phonemes"})
    return curves


def _figures(config, n: int) -> list[dict]:
    return [{"id": "nettalk-accuracy", "title": f"NETtalk ({config['task']}): accuracy while pruning",
             "xlabel": "weights remaining", "ylabel": "accuracy (%)", "logx": True, "logy": False,
             "panels": ["train bits", "test phonemes"],
             "caption": "One weight deleted at a time; training bit accuracy without retraining, test phoneme "
                        "accuracy (best guess) at the checkpoints without and with retraining (+retrain). "
                        f"Median over {n} seeds with a 95% bootstrap band."}]


def _deviations(config) -> list[str]:
    quick = config["task"] != "nettalk"
    return [
        *(["Reduced (--quick): 20 hidden units (203-20-26, 4,626 weights) instead of 80 (18,426); compared "
           "at the same fraction of weights."] if quick else []),
        "18,000 read as the 18,426 weights and biases of 203-80-26 (the usual 18,629 counts something else); "
        "1,560 of them is the paper's 8.47%.",
        f"OBS's Gauss-Newton matrix (eq. 17's outer-product form plus alpha I, alpha {config['alpha']:g}) from "
        f"{config['hessian_samples']} random training letters (x 26 outputs), not all 5,603: the build is "
        "linear in the vectors and the full set would cost about ten times more; inverted by Woodbury (the "
        "same matrix as the one-vector recursion up to roundoff).",
        "The paper's schedule of retraining is not recoverable: here each checkpoint's net of the one "
        f"deletion sequence is retrained with its mask ({config['retrain_iterations']} full-batch L-BFGS "
        "iterations), not re-pruned after retraining.",
        "Training: Adam then full-batch L-BFGS on MSE, not the original back-propagation schedule; the "
        "paper's training set and accuracy measure are not stated: we use Fahlman's reconstruction of the "
        "1000 most common words and report output-bit and best-guess phoneme accuracies.",
        f"The rule where training error starts to rise is ours: training bits within {config['tolerance']} pp "
        "of the dense net (the paper's 'L_q much smaller than E' gives no count on NETtalk).",
    ]
