"""Optimal Brain Damage on handwritten digits: Figures 1a, 1b, 2a and 2b, and the claims behind them.

Reference:
    Yann LeCun, John S. Denker and Sara A. Solla (1990). "Optimal Brain Damage". In D. S. Touretzky (ed.),
    Advances in Neural Information Processing Systems 2 (NIPS 1989), pp. 598-605. Morgan Kaufmann.

What the paper shows (PAPERS.md section 1): a shared-weight network trained with MSE on zip-code digits
(2,578 free parameters); parameters deleted by OBD, by magnitude and at random; the objective in dB
(10 log10 MSE on the training set) against the number of remaining free parameters.

- Fig. 1a: OBD's curve lies significantly below magnitude deletion's; random deletion is so much worse that it
  does not fit on the same scale.
- Fig. 1b: the objective predicted from the saliencies (the sum of the deleted parameters' s_k) against the
  actual one: they agree up to about 30% of the parameters deleted (800 of 2578) and depart beyond, where
  off-diagonal and higher-order terms grow.
- Fig. 2a/2b: with retraining after each deletion round, the training (2a) and test (2b) objective stay almost
  the same up to about 60% deleted (1500 parameters).

Protocol (one unit per seed x method x retraining flag):

1. The task's dense network for this seed (:meth:`prunebench.tasks.Task.trained`, MSE on -1/+1 targets,
   cached per (task, seed)); its final gradient norm is recorded (the extremal approximation).
2. Rounds: each deletes the next ``step`` of the free parameters, biases included, up to ``max_fraction``,
   with :func:`prunebench.prune.step`, which asks the method afresh at the current weights, so the saliencies
   are recomputed every round (the paper's procedure, steps 2-6). Without retraining the deleted parameters
   are zeroed (OBS also moves the others: its eq. 5 update). With retraining, after each round
   ``retrain_iterations`` full-batch L-BFGS iterations with the masks kept; the next round's saliencies are
   computed at the retrained weights.
3. After each round: the training and test objective (:func:`prunebench.evaluate.evaluate`), accuracies, and
   the sum of the round's saliencies. The predicted objective of Fig. 1b after round k is E0 plus the sum of
   the saliencies of every parameter deleted so far (:func:`predicted_objective`), each taken when deleted.

Methods (:data:`METHODS`): ``obd-lecun-lm`` (LeCun's diagonal recursion with the Levenberg-Marquardt
approximation, the paper's choice), ``magnitude`` (global |w|), ``random`` (seeded by the unit's seed); and,
beyond the paper, OBD with the full LeCun recursion (``obd-lecun``, f'' terms kept), the exact Hessian
diagonal (``obd-exact``), the Gauss-Newton diagonal (``obd-ggn``) and the empirical Fisher diagonal
(``obd-fisher``), and Optimal Brain Surgeon (Hassibi & Stork 1993) with a dense inverse (``obs``,
``obs-fisher``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import math
import statistics
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import torch

from .. import methods, prune, tasks
from ..evaluate import evaluate
from ..train import TrainConfig, fit
from .base import Experiment

__all__ = ["METHODS", "ObdDigits", "ObdUsps", "deletion_counts", "deletion_curve", "predicted_objective",
           "to_db"]

OBS_ALPHA = 1e-6
"""OBS: the multiple of the identity added to the inverted matrix, the paper's alpha (1e-8..1e-4)."""

METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "obd-lecun-lm": ("obd", {"curvature": "lecun-lm"}),
    "magnitude": ("magnitude", {"scope": "global"}),
    "random": ("random", {}),
    "obd-lecun": ("obd", {"curvature": "lecun"}),
    "obd-exact": ("obd", {"curvature": "exact"}),
    "obd-ggn": ("obd", {"curvature": "ggn"}),
    "obd-fisher": ("obd", {"curvature": "fisher"}),
    "obs": ("obs", {"hessian": "ggn", "damping": OBS_ALPHA, "on_indefinite": "damp"}),
    "obs-fisher": ("obs", {"hessian": "fisher", "damping": OBS_ALPHA, "on_indefinite": "damp"}),
}
"""Series name -> (registry name, parameters); ``random`` also gets the unit's seed. ``obs`` inverts the
Gauss-Newton matrix plus ``1e-6 I`` densely: the matrix of Hassibi & Stork's recursion (eq. 17) started from
alpha = 1e-6 (``hessian="recursion"`` gives the same inverse up to roundoff, at 2.4 times the cost on the
digits net). ``obs-fisher``: the empirical Fisher instead (one vector per sample, not one per sample and
output: what stays affordable on USPS). Both damp more only if a Cholesky factorisation fails."""

PAPER_OBD = "obd-lecun-lm"
"""The paper's OBD: LeCun's diagonal with the Levenberg-Marquardt approximation."""

CURVATURE_SERIES = ("obd-lecun-lm", "obd-lecun", "obd-exact", "obd-ggn", "obd-fisher", "obs", "obs-fisher")
"""The second-order methods, whose predictions are compared in figure fig1b-methods."""

DB_TOLERANCE = 1.0
"""dB: what we call 'almost the same' or 'agrees' on the paper's log scale (a factor 1.26 in MSE)."""

RANDOM_GAP = 10.0
"""dB: 'random deletion does not fit on the same scale' read as at least a decade of MSE worse than OBD."""

BELOW_FRACTION = 0.9
"""Claim obd-below-magnitude: OBD at or below magnitude on at least this fraction of the rounds."""

RANGE_END = 0.9
"""The deletion range of claims obd-below-magnitude and obd-magnitude-gap: up to 90% deleted. Beyond, both
nets approach the constant-output objective and their order is noise."""


def to_db(mse: float) -> float:
    """The paper's objective axis: 10 log10(MSE). ``mse`` must be positive."""
    if not mse > 0:
        raise ValueError(f"mse must be a positive float to be shown in dB; got {mse!r}")
    return 10.0 * math.log10(mse)


def predicted_objective(e0: float, saliency_sums: list[float]) -> list[float]:
    """OBD's Fig. 1b prediction after each round: ``E0 + sum of the saliencies deleted so far``.

    ``saliency_sums[k]`` is the sum of the saliencies of the parameters deleted in round k+1, each evaluated
    when it was deleted. Returns one value per round (without the starting point E0).
    """
    out, total = [], float(e0)
    for s in saliency_sums:
        total += float(s)
        out.append(total)
    return out


def deletion_counts(total: int, step: float, max_fraction: float) -> list[int]:
    """Cumulative numbers of deleted parameters after each round: ``floor(k * step * total)`` for every k with
    ``k * step <= max_fraction`` (on the decimals as written, so 20 x 0.05 is exactly 1)."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise ValueError(f"total must be a positive integer number of parameters; got {total!r}")
    if isinstance(step, bool) or not isinstance(step, int | float) or not 0 < step < 1:
        raise ValueError(f"step must be a fraction in (0, 1), e.g. 0.05 for 5% per round; got {step!r}")
    if (isinstance(max_fraction, bool) or not isinstance(max_fraction, int | float)
            or not step <= max_fraction < 1):
        raise ValueError(f"max_fraction must be in [step, 1), e.g. 0.95; got {max_fraction!r}")
    s, end = Fraction(repr(float(step))), Fraction(repr(float(max_fraction)))
    return [math.floor(k * s * total) for k in range(1, math.floor(end / s) + 1)]


def _point(ev: dict, saliency_sum: float, loss_before: float) -> dict[str, Any]:
    return {"deleted": ev["total_parameters"] - ev["remaining_parameters"],
            "remaining": ev["remaining_parameters"], "loss": ev["loss"], "test_loss": ev["test_loss"],
            "train_accuracy": ev["train_accuracy"], "test_accuracy": ev["test_accuracy"],
            "saliency_sum": float(saliency_sum), "loss_before": float(loss_before)}


def deletion_curve(model, task: tasks.Task, data: tasks.TaskData, method: methods.PruningMethod,
                   counts: list[int], *, retrain: TrainConfig | None = None,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Delete parameters of a copy of ``model`` in rounds up to the cumulative ``counts``, recomputing the
    method's saliencies every round, and retraining after each when ``retrain`` is given.

    Returns one point per round, the trained network first (``deleted`` 0): ``deleted``, ``remaining`` (free
    parameters), ``loss``/``test_loss`` (the task's MSE; after retraining when ``retrain``), accuracies,
    ``saliency_sum`` (the round's predicted increase of E), ``loss_before`` (E when the round started); with
    ``retrain`` also ``loss_pruned``/``test_loss_pruned`` (before retraining).
    """
    loss_fn = task.loss_fn()
    x, t = data.x_train, data.t_train
    net = copy.deepcopy(model)
    ev = evaluate(net, task, data)
    points = [_point(ev, 0.0, ev["loss"])]
    for count in counts:
        before = points[-1]["loss"]
        result = prune.step(net, method, loss_fn, x, t, count=max(count - points[-1]["deleted"], 0))
        ev = evaluate(net, task, data)
        point = _point(ev, result.predicted_change, before)
        if retrain is not None:
            fit(net, loss_fn, x, t, retrain, seed=seed)
            after = evaluate(net, task, data)
            point.update(loss_pruned=ev["loss"], test_loss_pruned=ev["test_loss"], loss=after["loss"],
                         test_loss=after["test_loss"], train_accuracy=after["train_accuracy"],
                         test_accuracy=after["test_accuracy"])
        points.append(point)
    return points


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _recipe_text(recipe: TrainConfig) -> str:
    """One line: how the dense networks were trained."""
    lbfgs = "full-batch L-BFGS (strong Wolfe line search)"
    if recipe.optimizer == "lbfgs":
        return f"{lbfgs}, {recipe.epochs} iterations"
    first = (f"{recipe.optimizer} (lr {recipe.lr:g}, batches of {recipe.batch_size or 'all'}) for "
             f"{recipe.epochs} epochs")
    return f"{first}, then {lbfgs} for {recipe.finish_lbfgs} iterations" if recipe.finish_lbfgs else first


def _fraction(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{key} must be a number in (0, 1); got {value!r}")
    return float(value)


def _method_list(text: str, key: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"{key} must be a comma-separated list of distinct methods among "
                         f"{', '.join(METHODS)}; got {text!r}")
    return names


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a non-negative integer; got {value!r}")
    return value


class ObdDigits(Experiment):
    """LeCun, Denker & Solla (1990), Figs. 1-2, on scikit-learn's 8x8 digits (offline)."""

    name = "obd-digits"
    title = "Optimal Brain Damage: deleting parameters of a shared-weight net on 8x8 digits"
    paper = "lecun1990obd"
    task = "digits"
    default_seeds = 5
    quick_seeds = 2
    full = {"step": 0.05, "max_fraction": 0.95, "retrain_iterations": 20, "train": None,
            "methods": list(METHODS), "retrain_methods": [PAPER_OBD, "obs"]}
    quick = {"step": 0.1, "max_fraction": 0.9, "retrain_iterations": 5, "train": {"epochs": 100},
             "methods": [PAPER_OBD, "magnitude", "random"], "retrain_methods": [PAPER_OBD]}
    """Protocol of the full and the ``--quick`` run. ``train``: changes to the task's training recipe
    (:class:`~prunebench.train.TrainConfig` fields; None: the task's own). The full digits run takes about
    250 s of CPU on one core (281 s measured with magnitude also retrained); ``--retrain-methods`` adds
    others."""
    threads = 1
    """Intra-op threads per unit. These nets are too small to gain from more: on the shared 2-core machine a
    forward and backward pass of the digits net took 12 ms of CPU with 1 thread and 1 s with 2. Parallelism
    comes from ``--jobs``."""
    data_note = ("Data: scikit-learn's 8x8 digits (1,797 images, 1,198 train / 599 test), not the paper's "
                 "16x16 zip-code digits (about 9,300 train / 3,350 test, handwritten and printed).")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--step", type=float, default=None,
                            help="fraction of the free parameters deleted per round (default "
                                 f"{self.full['step']}; {self.quick['step']} with --quick)")
        parser.add_argument("--retrain-iterations", type=int, default=None,
                            help="L-BFGS iterations of retraining after each round (default "
                                 f"{self.full['retrain_iterations']}; {self.quick['retrain_iterations']} "
                                 "with --quick)")
        parser.add_argument("--methods", default=None,
                            help="comma-separated methods run without retraining, among "
                                 f"{', '.join(METHODS)} (default: {','.join(self.full['methods'])}); must "
                                 f"include {PAPER_OBD}")
        parser.add_argument("--retrain-methods", default=None,
                            help="comma-separated methods also run with retraining after each round "
                                 f"(default: {','.join(self.full['retrain_methods'])}; empty for none)")

    def config(self, args: argparse.Namespace, seeds: list[int]) -> dict[str, Any]:
        protocol = dict(self.quick if args.quick else self.full)
        if getattr(args, "step", None) is not None:
            protocol["step"] = _fraction(args.step, "--step")
        if getattr(args, "retrain_iterations", None) is not None:
            protocol["retrain_iterations"] = _count(args.retrain_iterations, "--retrain-iterations")
        if getattr(args, "methods", None) is not None:
            protocol["methods"] = _method_list(args.methods, "--methods")
            if PAPER_OBD not in protocol["methods"]:
                raise ValueError(f"--methods must include {PAPER_OBD} (the paper's OBD, which every claim "
                                 f"compares with); got {args.methods!r}")
        if getattr(args, "retrain_methods", None) is not None:
            protocol["retrain_methods"] = _method_list(args.retrain_methods, "--retrain-methods")
        deletion_counts(1, protocol["step"], protocol["max_fraction"])
        used = dict.fromkeys(protocol["retrain_methods"] + protocol["methods"])
        task = tasks.get(self.task)
        return {**super().config(args, seeds), "task": task.name,
                "dtype": str(task.dtype).removeprefix("torch."), **protocol,
                "specs": {m: {"method": METHODS[m][0], "params": METHODS[m][1]} for m in used}}

    def units(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        # Method-major: the first len(seeds) units train the seeds' networks, the others load them cached.
        plan = [(m, True) for m in config["retrain_methods"]] + [(m, False) for m in config["methods"]]
        return [{"id": f"{m}.{'retrain' if r else 'noretrain'}.seed={s}", "method": m, "retrain": r,
                 "seed": s} for m, r in plan for s in config["seeds"]]

    def _task(self, config: dict[str, Any]) -> tasks.Task:
        task = tasks.get(config["task"])
        if config["train"] is None:
            return task
        return dataclasses.replace(task, recipe=dataclasses.replace(task.recipe, **config["train"]))

    def run_unit(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        with _threads(self.threads):
            return self._run_unit(config, unit)

    def _run_unit(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        task, seed = self._task(config), unit["seed"]
        model, data, info = task.trained(seed, config["root"], device=config["device"])
        spec = config["specs"][unit["method"]]
        params = {**spec["params"], "seed": seed} if spec["method"] == "random" else spec["params"]
        total = model.free_parameters()
        retrain = None
        if unit["retrain"]:
            retrain = TrainConfig(optimizer="lbfgs", epochs=config["retrain_iterations"],
                                  tolerance_grad=task.recipe.tolerance_grad)
        points = deletion_curve(model, task, data, methods.get(spec["method"], **params),
                                deletion_counts(total, config["step"], config["max_fraction"]),
                                retrain=retrain, seed=seed)
        fitted = info["fit"]
        trained = {"loss": fitted["loss"], "grad_norm": fitted["grad_norm"],
                   "iterations": fitted["iterations"], "train_accuracy": info["train_accuracy"],
                   "test_accuracy": info["test_accuracy"],
                   "test_loss": points[0]["test_loss"]}
        return {"method": unit["method"], "retrain": unit["retrain"], "seed": seed, "total_parameters": total,
                "arch": model.arch, "trained": trained, "points": points}

    def summarize(self, config: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        runs: dict[tuple[str, bool], dict[int, dict]] = {}
        for unit in self.units(config):
            r = results[unit["id"]]
            runs.setdefault((r["method"], r["retrain"]), {})[r["seed"]] = r
        first = next(iter(results.values()))
        total = first["total_parameters"]
        curves, figures = _curves(runs, config, total)
        return {"title": self.title, "paper": self.paper, "claims": _claims(runs, total),
                "tables": [_trained_table(runs), _objective_table(runs, config, total)],
                "curves": curves, "figures": figures, "deviations": self.deviations(config, first),
                "per_seed": _per_seed(runs)}

    def deviations(self, config: dict[str, Any], unit: dict[str, Any]) -> list[str]:
        """Every way this run differs from the paper's experiment."""
        used = set(config["methods"]) | set(config["retrain_methods"])
        extra = [m for m in METHODS if m in used and m not in (PAPER_OBD, "magnitude", "random")]
        out = [
            self.data_note,
            f"Architecture: {unit['arch']} with {unit['total_parameters']} free parameters (biases "
            "included), not the 1989 zip-code net's 2,578 (whose H3 saw only some H2 maps and whose "
            "subsampling had trainable coefficients); standard layers, so that every curvature backend "
            "supports it.",
            "Objective: torch.nn.MSELoss(reduction='mean'), the mean over samples and the 10 outputs, on "
            "-1/+1 targets (scaled-tanh outputs); dB = 10 log10 of it. The paper's E sums over the outputs: "
            "a constant factor 10, a shift of 10 dB that moves no curve relative to another.",
            f"Training: {_recipe_text(self._task(config).recipe)}, {config['dtype']}, no weight decay; the "
            "paper's optimiser and stopping point are not stated. Each net's final gradient norm is in table "
            "obd-trained.",
            f"Deletion in rounds of {config['step']:.0%} of the free parameters up to "
            f"{config['max_fraction']:.0%}, saliencies recomputed every round; the paper's chunk size is not "
            "stated.",
            f"Retraining: {config['retrain_iterations']} full-batch L-BFGS iterations after each round with "
            "the masks kept; the paper's retraining budget is not stated.",
            "Fig. 1b: the prediction is E0 plus the sum of the deleted parameters' saliencies, each computed "
            "when its round started (after earlier rounds, so where the gradient is no longer zero).",
        ]
        if extra:
            out.append(f"Beyond the paper: {', '.join(extra)} (see prunebench.experiments.lecun1989digits."
                       "METHODS); OBS with the dense inverse of its matrix plus 1e-6 I (alpha = 1e-6 of "
                       "Hassibi & Stork's eq. 17), recomputed every round, deleting one parameter at a time "
                       "with its weight update within a round.")
        return out


class ObdUsps(ObdDigits):
    """LeCun, Denker & Solla (1990), Figs. 1-2, on USPS 16x16 digits, the closest public proxy for theirs."""

    name = "obd-usps"
    title = "Optimal Brain Damage: deleting parameters of a shared-weight net on USPS digits"
    task = "usps"
    needs_data = "usps"
    full = {**ObdDigits.full, "step": 0.1, "max_fraction": 0.9, "retrain_iterations": 10,
            "methods": [PAPER_OBD, "magnitude", "random", "obd-fisher", "obs-fisher"],
            "retrain_methods": [PAPER_OBD]}
    """A pass over the USPS training set costs about 50 times one over the digits set (0.6 s of CPU for a
    forward and backward pass, one thread); a round of OBD with the LM diagonal about 2 s, the Gauss-Newton
    diagonal 5 s, the exact one 16 s, and the dense Gauss-Newton matrix of OBS about 30 s. Hence rounds of
    10%, 10 retraining iterations per round, and of the methods beyond the paper only the empirical Fisher
    ones (``--methods`` adds the others)."""
    quick = {**ObdDigits.quick, "train": {"epochs": 2, "finish_lbfgs": 10}, "retrain_iterations": 3}
    data_note = ("Data: USPS 16x16 handwritten digits (7,291 train / 2,007 test), the closest public proxy "
                 "for the paper's zip-code digits (about 9,300 train / 3,350 test, handwritten and printed).")


# ---------------------------------------------------------------------------------------------- summary


def _at(points: list[dict], fraction: float, total: int) -> dict:
    """The point whose deleted fraction is closest to ``fraction`` (the earlier one on a tie)."""
    return min(points, key=lambda p: (abs(p["deleted"] / total - fraction), p["deleted"]))


def _predicted_db(points: list[dict]) -> list[float]:
    """dB of the Fig. 1b prediction at every point (the first is E0 itself)."""
    e0 = points[0]["loss"]
    sums = [p["saliency_sum"] for p in points[1:]]
    return [to_db(e0)] + [to_db(v) for v in predicted_objective(e0, sums)]


def _db_at(points: list[dict], fraction: float, total: int, key: str = "loss") -> float:
    return to_db(_at(points, fraction, total)[key])


def _claim(id_, statement, source, metric, unit, values, rule, note, paper_value=None) -> dict:
    return {"id": id_, "statement": statement, "source": source, "paper_value": paper_value, "metric": metric,
            "unit": unit, "values": [float(v) for v in values], "rule": rule, "tolerance_note": note}


def _claims(runs, total: int) -> list[dict]:
    obd = runs[(PAPER_OBD, False)]
    seeds = sorted(obd)
    claims = []
    if ("magnitude", False) in runs:
        mag = runs[("magnitude", False)]
        fractions, gaps = [], []
        for s in seeds:
            pairs = [(o["loss"], m["loss"]) for o, m in zip(obd[s]["points"][1:], mag[s]["points"][1:],
                                                             strict=True)
                     if o["deleted"] / total <= RANGE_END + 1e-12]
            fractions.append(sum(o <= m for o, m in pairs) / len(pairs))
            gaps.append(statistics.fmean(to_db(m) - to_db(o) for o, m in pairs))
        claims.append(_claim(
            "obd-below-magnitude",
            "OBD's objective curve lies below magnitude deletion's over the deletion range, without "
            "retraining", "[paper] Fig. 1a",
            f"fraction of the deletion rounds up to {RANGE_END:.0%} deleted where OBD's training objective "
            "is <= magnitude's", "", fractions, {"op": ">=", "threshold": BELOW_FRACTION},
            "'below over the range', allowing one round in ten to tie or cross (the curves meet at 0 deleted "
            "and near total deletion); range and threshold fixed before any run"))
        claims.append(_claim(
            "obd-magnitude-gap", "OBD's curve is significantly below magnitude deletion's", "[paper] Fig. 1a",
            f"mean over the rounds up to {RANGE_END:.0%} deleted of magnitude's minus OBD's training "
            "objective", "dB", gaps, {"op": ">=", "threshold": DB_TOLERANCE},
            f"'significantly' read as at least {DB_TOLERANCE:g} dB (a factor 1.26 in MSE), the smallest "
            "difference we call visible on the paper's log scale"))
    gap30, growth = [], []
    for s in seeds:
        points = obd[s]["points"]
        predicted = _predicted_db(points)
        gap = {}
        for f in (0.3, 0.6):
            p = _at(points, f, total)
            gap[f] = abs(predicted[points.index(p)] - to_db(p["loss"]))
        gap30.append(gap[0.3])
        growth.append(gap[0.6] - gap[0.3])
    claims.append(_claim(
        "prediction-agrees-30pct",
        "The objective predicted from the saliencies agrees with the actual one up to about 30% of the "
        "parameters deleted (800 of 2,578)", "[paper] Fig. 1b",
        "|predicted - actual| training objective at 30% deleted (OBD, no retraining)", "dB", gap30,
        {"op": "<=", "threshold": DB_TOLERANCE},
        f"'good agreement' read as within {DB_TOLERANCE:g} dB (a factor 1.26 in MSE)",
        paper_value="about 800 of 2578 deleted"))
    claims.append(_claim(
        "prediction-departs-60pct",
        "Beyond about 30% deleted the prediction departs from the actual objective (off-diagonal and "
        "higher-order terms grow)", "[paper] Fig. 1b",
        "|predicted - actual| at 60% deleted minus the same at 30% (OBD, no retraining)", "dB", growth,
        {"op": ">", "threshold": 0.0}, "any growth of the gap: the paper does not quantify the departure"))
    if (PAPER_OBD, True) in runs:
        retrained = runs[(PAPER_OBD, True)]
        for split, key, fig in (("training", "loss", "2a"), ("test", "test_loss", "2b")):
            values = [_db_at(r["points"], 0.6, total, key) - to_db(r["points"][0][key])
                      for _, r in sorted(retrained.items())]
            claims.append(_claim(
                f"retrained-{split}-60pct",
                f"With retraining, the {split} objective stays almost the same up to about 1500 deleted "
                "parameters (60%)", f"[paper] Fig. {fig}",
                f"{split} objective at 60% deleted (OBD, retrained after each round) minus that of the "
                "unpruned net", "dB", values, {"op": "within", "target": 0.0, "tolerance": DB_TOLERANCE},
                f"'almost the same' read as within {DB_TOLERANCE:g} dB (a factor 1.26 in MSE) either way",
                paper_value="almost the same"))
    if ("random", False) in runs:
        rnd = runs[("random", False)]
        values = [_db_at(rnd[s]["points"], 0.3, total) - _db_at(obd[s]["points"], 0.3, total) for s in seeds]
        claims.append(_claim(
            "random-far-worse",
            "Random deletion is so much worse than OBD and magnitude deletion that it does not fit on the "
            "same scale", "[paper] Fig. 1a",
            "random's minus OBD's training objective at 30% deleted (no retraining)", "dB", values,
            {"op": ">=", "threshold": RANDOM_GAP},
            f"'does not fit on the same scale' read as at least {RANDOM_GAP:g} dB (a decade of MSE) worse "
            "than OBD"))
    return claims


def _label(method: str, retrain: bool) -> str:
    return f"{method} + retraining" if retrain else method


def _curve_rows(runs) -> list[dict]:
    rows: list[dict] = []

    def add(figure, series, seed, x, y, panel=None):
        row = {"figure": figure, "series": series, "seed": seed, "x": float(x), "y": float(y)}
        if panel is not None:
            row["panel"] = panel
        rows.append(row)

    for (method, retrain), by_seed in runs.items():
        suffix = "-retrained" if retrain else ""
        for seed, r in sorted(by_seed.items()):
            points = r["points"]
            for p in points:
                train, test, left = to_db(p["loss"]), to_db(p["test_loss"]), p["remaining"]
                if not retrain and method in (PAPER_OBD, "magnitude"):
                    add("fig1a", method, seed, left, train)
                if not retrain and method in (PAPER_OBD, "magnitude", "random"):
                    add("fig1a-random", method, seed, left, train)
                if method == PAPER_OBD:
                    add("fig2a", _label(method, retrain), seed, left, train)
                    add("fig2b", _label(method, retrain), seed, left, test)
                add(f"methods-train{suffix}", method, seed, left, train)
                add(f"methods-test{suffix}", method, seed, left, test)
                add(f"methods-accuracy{suffix}", method, seed, left, 100 * p["test_accuracy"])
            if not retrain and method in CURVATURE_SERIES:
                for p, predicted in zip(points, _predicted_db(points), strict=True):
                    actual = to_db(p["loss"])
                    if method == PAPER_OBD:
                        add("fig1b", "predicted", seed, p["deleted"], predicted)
                        add("fig1b", "actual", seed, p["deleted"], actual)
                    add("fig1b-methods", "predicted", seed, p["deleted"], predicted, panel=method)
                    add("fig1b-methods", "actual", seed, p["deleted"], actual, panel=method)
    return rows


def _curves(runs, config, total: int) -> tuple[list[dict], list[dict]]:
    n = len(next(iter(runs.values())))
    band = f"Median over {n} seeds with a 95% bootstrap band."
    step = (f"{config['step']:.0%} of the {total} free parameters deleted per round, saliencies recomputed "
            "each round")
    retrain = f"{config['retrain_iterations']} L-BFGS iterations with the masks kept"
    left, deleted = "free parameters remaining", "free parameters deleted"
    train_db, test_db = "training objective, 10 log10 MSE (dB)", "test objective, 10 log10 MSE (dB)"

    def fig(id_, title, xlabel, ylabel, caption, panels=None):
        return {"id": id_, "title": title, "xlabel": xlabel, "ylabel": ylabel, "logy": False, "logx": False,
                "panels": panels, "caption": caption}

    figures = [
        fig("fig1a", "Fig. 1a: OBD vs magnitude deletion, no retraining", left, train_db,
            f"Training objective against remaining free parameters, without retraining; {step}. OBD with "
            f"LeCun's Levenberg-Marquardt diagonal (the paper's) and global magnitude deletion. {band}"),
        fig("fig1a-random", "Fig. 1a with random deletion, on its own scale", left, train_db,
            f"As Fig. 1a with random deletion added, on the scale random deletion needs. {band}"),
        fig("fig1b", "Fig. 1b: predicted vs actual objective (OBD)", deleted, train_db,
            "The objective predicted from the saliencies (E0 plus the sum of the saliencies of the deleted "
            f"parameters) and the actual objective, OBD without retraining; {step}. {band}"),
        fig("fig2a", "Fig. 2a: OBD without and with retraining, training set", left, train_db,
            f"Training objective, OBD without retraining and with retraining after each round ({retrain}). "
            f"{band}"),
        fig("fig2b", "Fig. 2b: OBD without and with retraining, test set", left, test_db,
            f"Test-set objective of the networks of Fig. 2a. {band}"),
    ]
    panels = [m for m in CURVATURE_SERIES if (m, False) in runs]
    if len(panels) > 1:
        figures.append(fig("fig1b-methods", "Fig. 1b for every second-order method (beyond the paper)",
                           deleted, train_db, "Predicted (E0 plus the cumulative saliencies) against "
                           "actual training objective without retraining, for each OBD diagonal and for OBS "
                           f"(with its weight update). {band}", panels=panels))
    for suffix, how in (("", "without retraining"),
                        ("-retrained", f"with retraining after each round ({retrain})")):
        if not any(r == bool(suffix) for _, r in runs):
            continue
        figures += [
            fig(f"methods-train{suffix}", f"Every method, {how}: training set", left, train_db,
                f"Training objective against remaining free parameters, {how}; {step}. {band}"),
            fig(f"methods-test{suffix}", f"Every method, {how}: test set", left, test_db,
                f"Test-set objective of the same networks. {band}"),
            fig(f"methods-accuracy{suffix}", f"Every method, {how}: test accuracy", left, "test accuracy (%)",
                f"Test accuracy of the same networks. {band}"),
        ]
    rows = [r for r in _curve_rows(runs) if r["figure"] in {f["id"] for f in figures}]
    return rows, figures


def _median_range(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def _trained_table(runs) -> dict:
    by_seed = {}
    for by in runs.values():
        for s, r in by.items():
            by_seed.setdefault(s, r["trained"])
    rows = [[s, t["iterations"], t["loss"], round(to_db(t["loss"]), 3), round(to_db(t["test_loss"]), 3),
             t["grad_norm"], round(100 * t["train_accuracy"], 2), round(100 * t["test_accuracy"], 2)]
            for s, t in sorted(by_seed.items())]
    return {"id": "obd-trained", "title": "The trained networks, before any deletion",
            "columns": ["seed", "optimiser steps", "training MSE", "training objective (dB)",
                        "test objective (dB)", "gradient norm", "train accuracy %", "test accuracy %"],
            "rows": rows,
            "notes": ["gradient norm: ||dE/dw|| of the training MSE at the end of training; OBD's extremal "
                      "approximation assumes it is zero."]}


def _objective_table(runs, config, total: int) -> dict:
    fractions = (0.3, 0.6, 0.9)
    rows = []
    for (method, retrain), by_seed in runs.items():
        row = [method, "yes" if retrain else "no"]
        for key in ("loss", "test_loss"):
            row += [_median_range([_db_at(r["points"], f, total, key) for r in by_seed.values()])
                    for f in fractions]
        rows.append(row)
    return {"id": "obd-objective-at",
            "title": "Objective (dB) at 30%, 60% and 90% of the free parameters deleted, every method",
            "columns": ["method", "retrained", *(f"{split} dB at {f:.0%}" for split in ("train", "test")
                                                 for f in fractions)],
            "rows": rows,
            "notes": [f"Median [min, max] over seeds; {total} free parameters; rounds of "
                      f"{config['step']:.0%}, saliencies recomputed every round.",
                      "obd-*: OBD with that Hessian diagonal; obs: Optimal Brain Surgeon with the dense "
                      "Gauss-Newton inverse (alpha 1e-6) and its weight update; obs-fisher: the same with "
                      "the empirical Fisher."]}


def _per_seed(runs) -> list[dict]:
    out = []
    for (method, retrain), by_seed in runs.items():
        for s, r in sorted(by_seed.items()):
            points = r["points"]
            out.append({"method": method, "retrain": retrain, "seed": s, "trained": r["trained"],
                        **{key: [p[key] for p in points] for key in ("deleted", "loss", "test_loss",
                                                                     "saliency_sum")}})
    return out
