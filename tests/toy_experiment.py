"""A toy experiment for the tests of the harness and the sweep (``from toy_experiment import Squares, toy_args``)."""

import argparse

from prunebench.experiments import base


class Squares(base.Experiment):
    """A toy experiment: one unit per seed, result seed**2; counts how often run_unit is called."""

    name = "toy-squares"
    title = "toy"
    paper = "prunebench2026"
    default_seeds = 3
    calls: list[str] = []

    def units(self, config):
        return [{"id": f"seed={s}", "seed": s} for s in config["seeds"]]

    def run_unit(self, config, unit):
        Squares.calls.append(unit["id"])
        return {"value": unit["seed"] ** 2}

    def summarize(self, config, results):
        return {"claims": [], "per_seed": {k: v["value"] for k, v in sorted(results.items())}}


def toy_args(out, **kw):
    """The parsed options of ``prunebench reproduce`` for an experiment writing to ``out`` (``kw`` overrides)."""
    defaults = {"seeds": None, "quick": False, "device": "cpu", "root": None, "out": str(out), "jobs": 1,
                "scheduler": None, "no_progress": True}
    return argparse.Namespace(**{**defaults, **kw})
