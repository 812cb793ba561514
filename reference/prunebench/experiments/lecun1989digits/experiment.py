"""The experiments ``obd-digits`` and ``obd-usps``: options, units, and the record they make."""

from __future__ import annotations

import argparse
import copy
import dataclasses
from typing import Any

from ... import methods, tasks
from ..._validation import fraction, integer, positive_number
from ...sweep import torch_threads
from ...train import TrainConfig
from ..base import Experiment
from .claims import _claims, _sensitivity_table
from .curves import deletion_counts, deletion_curve, rank_once_curve
from .diagonals import _diagonal_table, diagonal_distances
from .figures import _curves
from .protocol import CURVATURES, DB_TOLERANCE, HEADLINE, VARIANTS, _plan, _rule_text, _variant_list, protocol
from .tables import _objective_table, _per_seed, _trained_table

__all__ = ["ObdDigits", "ObdUsps"]


class ObdDigits(Experiment):
    """LeCun, Denker & Solla (1990), Figs. 1-2, on scikit-learn's 8x8 digits (offline)."""

    name = "obd-digits"
    title = "Optimal Brain Damage: deleting parameters of a shared-weight net on 8x8 digits"
    paper = "lecun1990obd"
    task = "digits"
    default_seeds = 10
    quick_seeds = 2
    full = {"max_fraction": 0.9, "retrain_max_fraction": 0.6, "sensitivity_seeds": 2, "diagonal_samples": None,
            "sensitivity_retrain": ["retrain-budget", "step-5%"],
            "dense_rules": {"tol": {"epochs": 20000, "grad_rms_tol": 1e-4},
                            "tight": {"epochs": 20000, "grad_rms_tol": 3e-5},
                            "budget": {"epochs": 600}},
            "retrain_rules": {"tol": {"epochs": 1000, "grad_rms_tol": 1e-4}, "budget": {"epochs": 20}},
            "variants": list(VARIANTS)}
    quick = {"max_fraction": 0.9, "retrain_max_fraction": 0.6, "sensitivity_seeds": 1, "diagonal_samples": 200,
             "sensitivity_retrain": [],
             "dense_rules": {"tol": {"epochs": 400, "grad_rms_tol": 1e-3}},
             "retrain_rules": {"tol": {"epochs": 100, "grad_rms_tol": 1e-3}},
             "variants": ["headline"], "step": 0.1}
    """Protocol of the full and the ``--quick`` run: the deletion ranges (Figs. 1a/1b to ``max_fraction``,
    Fig. 2 to ``retrain_max_fraction``, the claims' 60%), the stopping rules (changes to the task's
    :class:`~prunebench.train.TrainConfig`), the sensitivity protocols and how many seeds their retrained
    series get; ``step`` (quick only) overrides the headline's round size. The quick run's tolerance is looser
    and its caps low: it checks the pipeline, its verdicts are not the reproduction."""
    threads = 1
    """Intra-op threads per unit. These nets are too small to gain from more: on the shared 2-core machine a
    forward and backward pass of the digits net took 12 ms of CPU with 1 thread and 1 s with 2. Parallelism
    comes from ``--jobs``."""
    data_note = ("Data: scikit-learn's 8x8 digits (1,797 images, 1,198 train / 599 test), not the paper's "
                 "16x16 zip-code digits (about 9,300 train / 3,350 test, handwritten and printed).")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--step", type=float, default=None,
                            help=f"the headline's round size, a fraction of the free parameters (default "
                                 f"{HEADLINE['step']}; {self.quick['step']} with --quick)")
        parser.add_argument("--dense-tol", type=float, default=None,
                            help="RMS gradient per free parameter at which dense training stops (default "
                                 f"{self.full['dense_rules']['tol']['grad_rms_tol']:g})")
        parser.add_argument("--retrain-tol", type=float, default=None,
                            help="RMS gradient per remaining free parameter at which each round's "
                                 "retraining stops (default "
                                 f"{self.full['retrain_rules']['tol']['grad_rms_tol']:g})")
        parser.add_argument("--variants", default=None,
                            help="comma-separated protocols of the sensitivity table among "
                                 f"{', '.join(VARIANTS)} (default: all; 'headline' for none)".replace("%", "%%"))
        parser.add_argument("--sensitivity-seeds", type=int, default=None,
                            help="seeds of the retrained series of the sensitivity protocols (default "
                                 f"{self.full['sensitivity_seeds']}); the headline and every series "
                                 "without retraining run on all seeds")

    def config(self, args: argparse.Namespace, seeds: list[int]) -> dict[str, Any]:
        protocol_ = copy.deepcopy(self.quick if args.quick else self.full)
        step = protocol_.pop("step", HEADLINE["step"])
        if getattr(args, "step", None) is not None:
            step = fraction(args.step, "--step")
        if getattr(args, "dense_tol", None) is not None:
            protocol_["dense_rules"]["tol"]["grad_rms_tol"] = positive_number(args.dense_tol, "--dense-tol")
        if getattr(args, "retrain_tol", None) is not None:
            protocol_["retrain_rules"]["tol"]["grad_rms_tol"] = positive_number(args.retrain_tol, "--retrain-tol")
        if getattr(args, "variants", None) is not None:
            protocol_["variants"] = _variant_list(args.variants)
        if getattr(args, "sensitivity_seeds", None) is not None:
            protocol_["sensitivity_seeds"] = integer("--sensitivity-seeds", args.sensitivity_seeds, 1)
        deletion_counts(1, step, protocol_["max_fraction"])
        protocol_["headline"] = {**HEADLINE, "step": step}
        needed = {protocol(protocol_, v)["dense"] for v in protocol_["variants"]}
        needed_retrain = {protocol(protocol_, v)["retrain"] for v in protocol_["variants"]}
        missing = sorted((needed - set(protocol_["dense_rules"]))
                         | (needed_retrain - set(protocol_["retrain_rules"])))
        if missing:
            raise ValueError(f"--variants asks for stopping rules this run does not define: {missing}; "
                             "drop those protocols (the --quick run has only the headline's)")
        task = tasks.get(self.task)
        return {**super().config(args, seeds), "task": task.name,
                "dtype": str(task.dtype).removeprefix("torch."), **protocol_}

    def units(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        # Headline dense nets first: the first units train them, the others load them cached.
        seen: dict[str, dict] = {}
        for by_role in _plan(config).values():
            for by_seed in by_role.values():
                for unit in by_seed.values():
                    seen.setdefault(unit["id"], unit)
        for s in config["seeds"][: config["sensitivity_seeds"]]:
            seen[f"diagonals.dense=tol.seed={s}"] = {"id": f"diagonals.dense=tol.seed={s}", "dense": "tol",
                                                     "method": "diagonals", "seed": s}
        headline = {u["id"] for by_seed in _plan(config)["headline"].values() for u in by_seed.values()}

        def priority(u: dict) -> tuple:  # the headline first, then the cheap series, retraining last
            return (u["id"] not in headline, u["dense"] != "tol", "retrain" in u, u["id"])

        return sorted(seen.values(), key=priority)

    def unit_inputs(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        """A unit depends on the protocol it names and the shared settings, not on which other protocols or
        seeds the run holds: a run of fewer protocols reuses the saved units."""
        chooses = ("seeds", "variants", "sensitivity_seeds", "sensitivity_retrain")
        return {"config": {k: v for k, v in config.items() if k not in chooses}, "unit": unit}

    def _task(self, config: dict[str, Any], dense: str) -> tasks.Task:
        task = tasks.get(config["task"])
        return dataclasses.replace(task, recipe=dataclasses.replace(task.recipe, **config["dense_rules"][dense]))

    def run_unit(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        with torch_threads(self.threads):
            return self._run_unit(config, unit)

    def _run_unit(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        task, seed = self._task(config, unit["dense"]), unit["seed"]
        model, data, info = task.trained(seed, config["root"], device=config["device"])
        if unit["method"] == "diagonals":
            return {"method": "diagonals", "seed": seed, "dense": unit["dense"],
                    "layers": diagonal_distances(model, task.loss_fn(), data.x_train[: config["diagonal_samples"]],
                                                 data.t_train[: config["diagonal_samples"]])}
        method = (methods.get("obd", curvature=unit["method"]) if unit["method"] in CURVATURES
                  else methods.get("random", seed=seed) if unit["method"] == "random"
                  else methods.get("magnitude", scope="global"))
        total = model.free_parameters()
        if "retrain" in unit:
            retrain = TrainConfig(optimizer="lbfgs", **config["retrain_rules"][unit["retrain"]])
            counts = deletion_counts(total, unit["step"], config["retrain_max_fraction"])
            points = deletion_curve(model, task, data, method, counts, retrain=retrain, seed=seed)
        elif unit["schedule"] == "once":
            points = rank_once_curve(model, task, data, method,
                                     deletion_counts(total, unit["step"], config["max_fraction"]))
        else:
            points = deletion_curve(model, task, data, method,
                                    deletion_counts(total, unit["step"], config["max_fraction"]))
        fitted = info["fit"]
        trained = {"loss": fitted["loss"], "grad_norm": fitted["grad_norm"],
                   "grad_rms": fitted.get("grad_rms"), "stop": fitted.get("stop", "budget"),
                   "converged": fitted.get("converged"), "iterations": fitted["iterations"],
                   "train_accuracy": info["train_accuracy"], "test_accuracy": info["test_accuracy"],
                   "test_loss": points[0]["test_loss"]}
        return {**{k: v for k, v in unit.items() if k != "id"}, "total_parameters": total, "arch": model.arch,
                "trained": trained, "points": points}

    def summarize(self, config: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        plan = _plan(config)
        diagonals = [r for r in results.values() if r["method"] == "diagonals"]
        results = {k: r for k, r in results.items() if r["method"] != "diagonals"}
        runs = {v: {role: {s: results[u["id"]] for s, u in by_seed.items()} for role, by_seed in by_role.items()}
                for v, by_role in plan.items()}
        first = next(iter(results.values()))
        total = first["total_parameters"]
        claims = _claims(runs["headline"], total, DB_TOLERANCE)
        curves, figures = _curves(runs, config, total)
        tables = [_trained_table(results), _sensitivity_table(runs, config, total), _objective_table(runs, total),
                  _diagonal_table(diagonals, config)]
        return {"title": self.title, "paper": self.paper, "claims": claims, "tables": tables,
                "curves": curves, "figures": figures, "deviations": self.deviations(config, first),
                "per_seed": _per_seed(results)}

    def deviations(self, config: dict[str, Any], unit: dict[str, Any]) -> list[str]:
        """Every way this run differs from the paper's experiment."""
        h = config["headline"]
        dense = self._task(config, h["dense"]).recipe
        return [
            self.data_note,
            self.arch_note(unit),
            "Objective: torch.nn.MSELoss(reduction='mean'), the mean over samples and the 10 outputs, on "
            "-1/+1 targets (scaled-tanh outputs); dB = 10 log10 of it. The paper's E sums over the outputs: "
            "a constant factor 10, a shift of 10 dB that moves no curve relative to another.",
            f"Headline protocol (the verdicts of the claims table; the closest to the paper): dense training "
            f"{_recipe_text(dense)}, {config['dtype']}, no weight decay, until "
            f"{_rule_text(config['dense_rules'][h['dense']], 'L-BFGS iterations')}; Figs. 1a/1b: parameters "
            f"ranked once at the dense net by OBD with the {h['curvature']} diagonal and deleted in rounds of "
            f"{h['step']:.0%} up to {config['max_fraction']:.0%}; Fig. 2: rounds of {h['step']:.0%}, each "
            f"retrained with the masks kept until "
            f"{_rule_text(config['retrain_rules'][h['retrain']], 'L-BFGS iterations')}, saliencies recomputed "
            f"after it, up to {config['retrain_max_fraction']:.0%}. The paper states none of the optimiser, "
            "the stopping point, the chunk size or the retraining budget.",
            "Why this gradient tolerance: OBD's extremal approximation drops the term -sum g_k u_k of the "
            "deleted parameters from its prediction. The tolerance is the loosest at which that term, measured "
            "for every dense net at 30% deleted (table obd-trained), stays a small fraction of the 1 dB claims "
            "tolerance (26% of E0); the RMS form makes it independent of the net's size. The dense-tight "
            "protocol (a tolerance about three times smaller) and dense-budget (the former fixed budget) show "
            "whether any verdict moves with it. Retraining stops at the same RMS tolerance over the parameters "
            "left.",
            "Runs that did not meet their stopping rule (cap reached, or the line search stalled) are flagged "
            "in the record and left out of every claim; each claim's note and the sensitivity table say how "
            "many.",
            "Fig. 1b: the prediction is E0 plus the sum of the dense net's saliencies of the deleted "
            "parameters (parameters ranked once), as in the paper.",
            f"Sensitivity protocols ({', '.join(config['variants'])}): one choice changed at a time. Series "
            "on the headline's dense nets run on every seed; protocols with other dense nets, and the "
            f"retrained series of {', '.join(config['sensitivity_retrain']) or 'no protocol'}, on the first "
            f"{config['sensitivity_seeds']} seeds; the other protocols' retrained series were not run (their "
            "Fig. 2 claims show '—'), for the time they take.",
            "Beyond the paper: OBD with the full LeCun recursion (f'' kept), the exact Hessian diagonal and "
            "the Gauss-Newton diagonal, in the sensitivity table.",
        ]

    def arch_note(self, unit: dict[str, Any]) -> str:
        return (f"Architecture: {unit['arch']} with {unit['total_parameters']} free parameters (biases "
                "included), an 8x8 scale-down of the 1990 zip-code net (2,578 free parameters, whose H3 saw "
                "only some H2 maps and whose subsampling had trainable coefficients): the offline stand-in.")


class ObdUsps(ObdDigits):
    """LeCun, Denker & Solla (1990), Figs. 1-2, on USPS 16x16 digits with the 1990 zip-code network."""

    name = "obd-usps"
    title = "Optimal Brain Damage: deleting parameters of the 1990 zip-code net on USPS digits"
    task = "usps-lenet1990"
    needs_data = "usps"
    full = {**ObdDigits.full, "sensitivity_seeds": 3, "diagonal_samples": 300,
            "dense_rules": {"tol": {"finish_lbfgs": 3000, "grad_rms_tol": 1e-4},
                            "tight": {"finish_lbfgs": 3000, "grad_rms_tol": 3e-5},
                            "budget": {"finish_lbfgs": 100}},
            "retrain_rules": {"tol": {"epochs": 500, "grad_rms_tol": 1e-4}, "budget": {"epochs": 10}}}
    quick_seeds = 1
    quick = {**ObdDigits.quick, "diagonal_samples": 8, "max_fraction": 0.6,
             "dense_rules": {"tol": {"epochs": 1, "finish_lbfgs": 10}},
             "retrain_rules": {"tol": {"epochs": 3}}}
    """A pass over the USPS training set with the 1990 net takes about 80 times the multiply-adds of one over
    the digits set, and its first layer's Hessian (2,304 units) makes the sharing table dearer: the diagonals
    are compared on 300 samples. The dense nets start with the task's Adam epochs, then L-BFGS to the
    tolerance. ``--quick`` (a check of the pipeline in under two minutes of CPU, not a reproduction): one seed,
    and budgets instead of the stopping rules (one Adam epoch and 10 L-BFGS iterations; 3 per round)."""
    data_note = ("Data: USPS 16x16 handwritten digits (7,291 train / 2,007 test), the closest public proxy "
                 "for the paper's zip-code digits (about 9,300 train / 3,350 test, handwritten and printed).")

    def arch_note(self, unit: dict[str, Any]) -> str:
        return (f"Architecture: {unit['arch']} with {unit['total_parameters']} free parameters, the 1990 "
                "zip-code net as rebuilt from its paper (prunebench.models, lenet1990: every inferred detail in "
                "its docstring).")


def _recipe_text(recipe: TrainConfig) -> str:
    """One line: how the dense networks were trained."""
    lbfgs = "full-batch L-BFGS (strong Wolfe line search)"
    if recipe.optimizer == "lbfgs":
        return lbfgs
    return (f"{recipe.optimizer} (lr {recipe.lr:g}, batches of {recipe.batch_size or 'all'}) for "
            f"{recipe.epochs} epochs, then {lbfgs}")
