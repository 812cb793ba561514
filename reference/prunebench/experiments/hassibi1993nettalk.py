"""Optimal Brain Surgeon on NETtalk: weights remaining and generalisation after pruning, vs OBD and magnitude.

Reference:
    Babak Hassibi and David G. Stork (1993). "Second order derivatives for network pruning: Optimal Brain
    Surgeon". In S. J. Hanson, J. D. Cowan and C. L. Giles (eds.), Advances in Neural Information Processing
    Systems 5 (NIPS 1992), pp. 164-171. Morgan Kaufmann.
    Sejnowski & Rosenberg (1987), "Parallel networks that learn to pronounce English text", Complex Systems 1
    (the task, the 203-80-26 network and the 1000-word training set).

The claim [paper, abstract]: NETtalk was pruned from 18,000 to 1,560 weights (8.5%) with better
generalisation; per-method curves are not recoverable [open].

Protocol (one unit per seed and method): train the task's network (MSE on the 26 output bits, Adam; training
set the ~1000 most common words, 5,603 letters; test set every other dictionary entry, 141,331 letters; see
:mod:`prunebench.data`), then follow the method's deletion sequence one weight at a time, without retraining
(OBS with its update after every deletion). Recorded at every step: the training accuracy (fraction of correct
output bits, :meth:`prunebench.tasks.Task.accuracy`); at fixed fractions of weights remaining, the test
accuracy too. Results:

- weights remaining under the *accuracy rule*: delete while the training bit accuracy stays within
  ``tolerance`` (0.5 percentage points, fixed before any run) of the dense net's; the first deletion that
  drops it further ends the run;
- OBS under the paper's own rule, ``L_q <= stop_ratio E`` (``stop_ratio`` 0.1);
- the test accuracy at the paper's fraction of weights (1560 / 18426 = 8.47%) against the dense net's.

Scale. At the paper's size (203-80-26, 18,426 weights) the dense OBS inverse is 18,426^2 float64 = 2.7 GB and
every deletion's downdate touches all of it: about 17,000 such downdates, hours on a 2-core CPU, minutes on a
GPU (``--task nettalk --device cuda``); the layer-block-diagonal inverse (``--obs-hessian block-diagonal``)
saves little here, because the first layer alone holds 16,320 of the weights. The default is therefore the
*reduced* task ``nettalk-20``: the same data, inputs, outputs and training recipe with 20 hidden units
(203-20-26, 4,626 weights), pruned by the same protocol, compared with the paper at the same *fraction* of
weights. OBS's Gauss-Newton matrix (eq. 17, the recursion from ``alpha I``, alpha = 1e-6) is estimated on a
fixed random subset of ``hessian_samples`` training letters (500: 13,000 output-gradient vectors for 4,626
weights), because all 5,603 letters x 26 outputs would cost ten times more.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from .. import methods, tasks
from ..methods.base import Selection
from ..prune import apply_selection, prunable_names
from .base import Experiment
from .hassibi1993monks import masked_copy
from .hassibi1993xor import non_negative_int

__all__ = ["PAPER_FRACTION", "ObsNettalk", "follow_sequence"]

PAPER_WEIGHTS = (18_000, 1_560)
"""The paper's NETtalk weight counts before and after OBS [paper, abstract]."""

PAPER_FRACTION = 1_560 / 18_426
"""The paper's remaining fraction, taking 18,000 as the 18,426 weights of 203-80-26 with biases."""

TOLERANCE = 0.5
"""Accuracy rule: the training bit accuracy may fall this many percentage points below the dense net's."""

STOP_RATIO = 0.1
"""OBS's own rule: stop when the smallest saliency exceeds this fraction of E."""

CHECKPOINTS = (1.0, 0.75, 0.5, 0.35, 0.25, 0.15, 0.1, PAPER_FRACTION, 0.06, 0.04, 0.02)
"""Fractions of weights remaining at which the test accuracy is measured."""


def follow_sequence(model, task, data, method, *, hessian_data=None, checkpoints=CHECKPOINTS,
                    tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Follow ``method``'s deletion sequence on a copy of ``model`` without retraining, down to the smallest
    checkpoint (or until the method stops).

    ``hessian_data``: ``(inputs, targets)`` given to the method (default the whole training set). Returns
    {"train": [[remaining, train %], ...] one per deletion, "test": [[remaining, train %, test %], ...] at the
    checkpoints, "accuracy_rule": [remaining, train %] of the last net within ``tolerance`` of the dense
    training accuracy, "stopped": why the sequence ended}.
    """
    x, t = hessian_data if hessian_data is not None else (data.x_train, data.t_train)
    base, net = masked_copy(model), masked_copy(model)
    names = prunable_names(net)
    total = sum(p.numel() for p in net.parameters())
    marks = sorted({round(f * total) for f in checkpoints}, reverse=True)
    floor = marks[-1]

    def accuracy(split: str) -> float:
        xs, ys = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
        return round(100 * task.accuracy(net, xs, ys), 6)

    start = accuracy("train")
    train, test = [[total, start]], [[total, start, accuracy("test")]]
    rule, stopped, previous = None, "floor", None
    steps = method.sequence(base, task.loss_fn(), x, t)
    remaining = total
    while remaining > floor:
        try:
            step = next(steps)
        except StopIteration as end:
            stopped = end.value or "exhausted"
            break
        # Each step's delta is cumulative since the start: apply only what is new since the previous step.
        increment = None if step.delta is None else (
            step.delta if previous is None else {k: v - previous[k] for k, v in step.delta.items()})
        previous = step.delta
        apply_selection(net, Selection([step.deletion], increment), names)
        remaining -= 1
        train.append([remaining, accuracy("train")])
        if rule is None and train[-1][1] < start - tolerance:
            rule = train[-2]
        if remaining in marks:
            test.append([remaining, train[-1][1], accuracy("test")])
    if test[-1][0] != remaining:
        test.append([remaining, train[-1][1], accuracy("test")])
    return {"train": train, "test": test, "accuracy_rule": rule or train[-1], "stopped": stopped}


def method_specs(quick: bool) -> dict[str, list]:
    """Label -> [registry name, parameters, "accuracy" or "method" rule]."""
    specs = {"obs": ["obs", {"hessian": "recursion", "alpha": 1e-6}, "accuracy"],
             "obd": ["obd", {"curvature": "lecun-lm"}, "accuracy"],
             "magnitude": ["magnitude", {}, "accuracy"]}
    if not quick:
        specs["obs-stop-rule"] = ["obs", {"hessian": "recursion", "alpha": 1e-6, "stop_ratio": STOP_RATIO},
                                  "method"]
    return specs


class ObsNettalk(Experiment):
    """Hassibi & Stork (1993), NETtalk: OBS, OBD and magnitude pruning without retraining."""

    name = "obs-nettalk"
    title = "Optimal Brain Surgeon (1993): pruning NETtalk"
    paper = "hassibi1993obs"
    default_seeds = 3
    quick_seeds = 1
    needs_data = "nettalk"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--task", default="nettalk-20", choices=("nettalk-20", "nettalk"),
                            help="nettalk-20: the reduced 203-20-26 net (default); nettalk: the paper's "
                                 "203-80-26 (dense OBS inverse 2.7 GB; hours on a CPU)")
        parser.add_argument("--obs-hessian", default="recursion", choices=("recursion", "block-diagonal"),
                            help="OBS inverse: dense eq. 17 recursion (default) or one block per layer")
        parser.add_argument("--hessian-samples", type=int, default=500,
                            help="training letters OBS's Gauss-Newton matrix is estimated on (default 500)")

    def config(self, args: argparse.Namespace, seeds: list[int]) -> dict[str, Any]:
        quick = bool(args.quick)
        task = getattr(args, "task", "nettalk-20")
        specs = method_specs(quick)
        hessian = getattr(args, "obs_hessian", "recursion")
        for spec in specs.values():
            if spec[0] == "obs":
                spec[1]["hessian"] = hessian
        samples = non_negative_int(getattr(args, "hessian_samples", 500), "--hessian-samples")
        return {**super().config(args, seeds), "task": tasks.get(task).name, "dtype": "float32",
                "hessian_samples": 100 if quick else samples, "tolerance": TOLERANCE,
                "checkpoints": [0.9] if quick else list(CHECKPOINTS), "methods": specs}

    def units(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        # One unit per seed: its methods share the trained net (and never race to train it).
        return [{"id": f"seed={s}", "seed": s} for s in config["seeds"]]

    def run_unit(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        task = tasks.get(config["task"])
        model, data, info = task.trained(unit["seed"], config["root"], device=config["device"])
        dense = {"train": round(100 * info["train_accuracy"], 6),
                 "test": round(100 * info["test_accuracy"], 6), "loss": info["fit"]["loss"]}
        out = {}
        for label, (name, params, rule) in config["methods"].items():
            method = methods.get(name, **params)
            hessian_data = None
            if name == "obs" and 0 < config["hessian_samples"] < data.x_train.shape[0]:
                g = torch.Generator().manual_seed(unit["seed"])
                pick = torch.randperm(data.x_train.shape[0], generator=g)[: config["hessian_samples"]]
                pick = pick.to(data.x_train.device)
                hessian_data = (data.x_train[pick], data.t_train[pick])
            result = follow_sequence(model, task, data, method, hessian_data=hessian_data,
                                     checkpoints=config["checkpoints"], tolerance=config["tolerance"])
            # Keep the training accuracy only at about every 1% of the deletions (the file stays small).
            steps = result["train"]
            thinned = steps[:: max(1, len(steps) // 100)]
            result["train"] = thinned if thinned[-1] == steps[-1] else [*thinned, steps[-1]]
            out[label] = {"seed": unit["seed"], "method": label, "rule": rule, "dense": dense, **result}
        return out

    def summarize(self, config: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        units = [r for u in self.units(config) for r in results[u["id"]].values()]
        labels = list(config["methods"])
        seeds = config["seeds"]
        by = {(u["seed"], u["method"]): u for u in units}
        total = units[0]["test"][0][0]
        paper_mark = round(PAPER_FRACTION * total)

        def result_point(u) -> list:
            if u["rule"] == "method":
                return [u["test"][-1][0], u["test"][-1][1]]
            return u["accuracy_rule"]

        def test_at(u, remaining) -> float | None:
            return next((row[2] for row in u["test"] if row[0] == remaining), None)

        rows = []
        for label in labels:
            picks = [by[(s, label)] for s in seeds]
            left = [result_point(u)[0] for u in picks]
            gain = [test_at(u, paper_mark) for u in picks]
            gain = [g - u["dense"]["test"] for g, u in zip(gain, picks, strict=True) if g is not None]
            if label == "obs-stop-rule":
                ended = {u["stopped"] for u in picks}
                stopping = "L_q <= 0.1 E (paper)" + ("" if ended == {"stop-rule"} else
                                                     f"; ended: {', '.join(sorted(ended))}")
            else:
                stopping = f"train bits within {config['tolerance']} pp"
            rows.append([label, stopping, total,
                         _med(left, 0), _range(left, 0), _med([100 * v / total for v in left], 2),
                         _med([u["dense"]["test"] for u in picks], 2),
                         _med(gain, 2) if gain else None, _range(gain, 2) if gain else None])
        table = {
            "id": "nettalk-pruning",
            "title": f"NETtalk ({config['task']}): weights remaining and generalisation, without retraining",
            "columns": ["method", "stopping", "weights before", "weights left (median)",
                        "weights left (range)", "% left (median)", "dense test bit acc. %",
                        f"test gain at {100 * PAPER_FRACTION:.2f}% weights (pp, median)",
                        "test gain (range)"],
            "rows": rows,
            "notes": [f"Paper: 18,000 -> 1,560 weights ({100 * PAPER_FRACTION:.2f}% left) with better "
                      "generalisation [paper, abstract].",
                      f"Median and range over {len(seeds)} seeds. Accuracies are over the 26 output bits.",
                      "test gain: test bit accuracy at the paper's fraction of weights minus the dense net's "
                      "(positive = better generalisation); the sequence is followed without retraining.",
                      f"Every sequence is followed down to {100 * min(config['checkpoints']):g}% of the "
                      "weights (the floor); 'ended: floor': the rule had not stopped it by then."]}
        claims = [
            {"id": "nettalk-obs-fraction",
             "statement": "OBS prunes NETtalk from 18,000 to 1,560 weights",
             "source": "[paper] abstract", "paper_value": round(100 * PAPER_FRACTION, 2),
             "metric": f"% of weights left by OBS under the accuracy rule ({config['task']})", "unit": "%",
             "values": [100 * result_point(by[(s, "obs")])[0] / total for s in seeds],
             "rule": {"op": "<=", "threshold": round(100 * PAPER_FRACTION, 2)},
             "tolerance_note": f"the same fraction or fewer; training bits within {config['tolerance']} pp "
                               "of the dense net, no retraining"},
        ]
        gains = [test_at(by[(s, "obs")], paper_mark) for s in seeds]
        if all(g is not None for g in gains):
            claims.append(
                {"id": "nettalk-obs-generalisation",
                 "statement": "The pruned NETtalk network generalises better than the unpruned one",
                 "source": "[paper] abstract", "paper_value": None,
                 "metric": "test bit accuracy of OBS at the paper's fraction of weights minus the dense "
                           "net's", "unit": "pp",
                 "values": [g - by[(s, "obs")]["dense"]["test"] for g, s in zip(gains, seeds, strict=True)],
                 "rule": {"op": ">=", "threshold": 0},
                 "tolerance_note": "no tolerance: better (or equal) test accuracy"})
        for other in ("obd", "magnitude"):
            if other in labels:
                claims.append(
                    {"id": f"nettalk-obs-vs-{other}",
                     "statement": f"OBS removes more weights than {other} for the same training error",
                     "source": "[paper] abstract", "paper_value": None,
                     "metric": f"weights left by {other} minus by OBS (accuracy rule, no retraining)",
                     "unit": "weights",
                     "values": [float(result_point(by[(s, other)])[0] - result_point(by[(s, 'obs')])[0])
                                for s in seeds],
                     "rule": {"op": ">", "threshold": 0},
                     "tolerance_note": "any positive difference"})
        curves = []
        for u in units:
            if u["method"] == "obs-stop-rule":
                continue
            for remaining, train in u["train"]:
                curves.append({"figure": "nettalk-accuracy", "series": u["method"], "seed": u["seed"],
                               "x": float(remaining), "y": float(train), "panel": "train"})
            for remaining, _, test in u["test"]:
                curves.append({"figure": "nettalk-accuracy", "series": u["method"], "seed": u["seed"],
                               "x": float(remaining), "y": float(test), "panel": "test"})
        title = f"NETtalk ({config['task']}): bit accuracy while pruning"
        figures = [{"id": "nettalk-accuracy", "title": title,
                    "xlabel": "weights remaining", "ylabel": "output-bit accuracy (%)", "logx": True,
                    "logy": False, "panels": ["train", "test"],
                    "caption": "One weight deleted at a time, no retraining; training accuracy at about "
                               "every 1% of the weights, test accuracy at fixed fractions. Median over "
                               f"{len(seeds)} seeds with a 95% bootstrap band."}]
        reduced = config["task"] != "nettalk"
        return {"title": self.title, "paper": self.paper, "claims": claims, "tables": [table],
                "curves": curves, "figures": figures,
                "deviations": [
                    *(["Reduced: 20 hidden units (203-20-26, 4,626 weights) instead of 80 (18,426), so that "
                       "the dense OBS inverse fits the time of a 2-core CPU; compared at the same "
                       "fraction of weights."] if reduced else []),
                    f"OBS's Gauss-Newton inverse (eq. 17, alpha 1e-6) from {config['hessian_samples']} "
                    "random training letters, not all 5,603.",
                    "No retraining during or after pruning; the paper's schedule is not recoverable.",
                    "Training: Adam (60 epochs, lr 1e-2, batches of 256) on MSE, not the original "
                    "back-propagation schedule; output-bit accuracy, not the best-guess phoneme accuracy.",
                    f"Accuracy rule ours: training bits within {config['tolerance']} pp of the dense net.",
                    "Training set: Fahlman's reconstruction of the 1000 most common words (prunebench.data).",
                ],
                "per_seed": [{k: u[k] for k in ("seed", "method", "dense", "accuracy_rule", "stopped",
                                                "test")} for u in units]}


def _med(values: list[float], digits: int) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return round(median, digits)


def _range(values: list[float], digits: int) -> str:
    low, high = (f"{v:.{digits}f}" for v in (min(values), max(values)))
    return low if low == high else f"{low} to {high}"
