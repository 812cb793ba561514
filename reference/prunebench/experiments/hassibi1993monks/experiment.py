"""The experiment ``obs-monks``: options, units (one per problem and seed) and the record they make."""

from __future__ import annotations

import argparse
from typing import Any

from ... import methods, tasks
from ..._validation import integer
from ...train import TrainConfig
from ..base import Experiment
from .protocol import MAIN, PROBLEMS, bpwd_task, variant_specs
from .pruning import _point, prune_in_sequence, prune_stepwise
from .summary import _bpwd_table, _claims, _curves, _deviations, _main_table, _variant_table

__all__ = ["ObsMonks"]


class ObsMonks(Experiment):
    """Hassibi & Stork (1993), the MONK's table: OBS, OBD and magnitude pruning of BPWD networks."""

    name = "obs-monks"
    title = "Optimal Brain Surgeon (1993): pruning BPWD networks on the three MONK's problems"
    paper = "hassibi1993obs"
    default_seeds = 10
    quick_seeds = 1
    needs_data = "monks-1"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--retrain-iterations", type=int, default=100,
                            help="L-BFGS iterations of the retraining after each deletion (default 100)")

    def config(self, args: argparse.Namespace, seeds: list[int]) -> dict[str, Any]:
        quick = bool(args.quick)
        return {**super().config(args, seeds), "dtype": "float64", "problems": list(PROBLEMS),
                "retrain_iterations": integer("--retrain-iterations", getattr(args, "retrain_iterations", 100), 0),
                "variants": {p: variant_specs(tasks.get(p).recipe.weight_decay, quick) for p in PROBLEMS}}

    def units(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"id": f"{p}.seed={s}", "problem": p, "seed": s} for p in config["problems"]
                for s in config["seeds"]]

    def run_unit(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        task = tasks.get(unit["problem"])
        model, data, info = task.trained(unit["seed"], config["root"], device=config["device"])
        out = {}
        for label, spec in config["variants"][unit["problem"]].items():
            variant_task = bpwd_task(unit["problem"], spec["bpwd"])
            net, _, fit_info = variant_task.trained(unit["seed"], config["root"], device=config["device"])
            retrain = TrainConfig(epochs=config["retrain_iterations"],
                                  weight_decay=variant_task.recipe.weight_decay) if spec["retrain"] else None
            method = methods.get(spec["method"], **spec["params"])
            if spec["recompute"]:
                out[label] = prune_stepwise(net, variant_task, data, method, retrain=retrain, seed=unit["seed"],
                                            stop_ratio=spec["stop_ratio"], stop_error=spec["stop_error"],
                                            accuracy="accuracy" in spec["rule"])
            else:
                out[label] = prune_in_sequence(net, variant_task, data, method, spec["rule"])
            if spec["bpwd"]:
                out[label]["dense"] = _point(net, variant_task, data)
                out[label]["grad_norm"] = fit_info["fit"]["objective_grad_norm"]
            if label not in MAIN:  # the figures show the main variants only
                del out[label]["curve"]
        return {"problem": unit["problem"], "seed": unit["seed"], "dense": _point(model, task, data),
                "grad_norm": info["fit"]["objective_grad_norm"], "variants": out}

    def summarize(self, config: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        by_problem = {p: [results[u["id"]] for u in self.units(config) if u["problem"] == p]
                      for p in config["problems"]}
        labels = list(next(iter(config["variants"].values())))
        specs = config["variants"]
        tables = [_bpwd_table(by_problem), _main_table(by_problem, labels, specs)]
        if len(labels) > len(MAIN) + 3:
            tables.append(_variant_table(by_problem, labels, specs))
        curves, figures = _curves(by_problem)
        per_seed = [{"problem": u["problem"], "seed": u["seed"], "dense": u["dense"],
                     "grad_norm": u["grad_norm"],
                     "variants": {k: {key: v[key] for key in ("result", "stopped", "dense", "grad_norm") if key in v}
                                  for k, v in u["variants"].items()}}
                    for units in by_problem.values() for u in units]
        return {"title": self.title, "paper": self.paper, "claims": _claims(by_problem), "tables": tables,
                "curves": curves, "figures": figures, "deviations": _deviations(config), "per_seed": per_seed}
