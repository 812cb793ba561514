"""The MONK's reproduction's protocol: the paper's numbers, the pruning variants and the BPWD nets they start
from."""

from __future__ import annotations

import dataclasses

from ... import tasks

__all__ = ["HEADLINE", "MAIN", "PAPER", "PAPER_ALPHA", "PROBLEMS", "SHORT_TRAINING", "SIZES", "STOP_RATIO",
           "bpwd_task", "describe", "variant_specs"]


PROBLEMS = ("monks-1", "monks-2", "monks-3")

PAPER = {
    "monks-1": {"bpwd_weights": 58, "obs_weights": 14, "train": 100.0, "test": 100.0},
    "monks-2": {"bpwd_weights": 39, "obs_weights": 15, "train": 100.0, "test": 100.0},
    "monks-3": {"bpwd_weights": 39, "obs_weights": 4, "train": 93.4, "test": 97.2},
}
"""Hassibi & Stork's MONK table [secondary; the reductions equal the abstract's 90/76/62%]: BPWD and OBS
weight counts and the accuracies (%) that BPWD and OBS share."""

SIZES = {"monks-1": (124, 432), "monks-2": (169, 432), "monks-3": (122, 432)}
"""Training and test set sizes (PAPERS.md section 3)."""

STOP_RATIO = 0.1
"""OBS's stopping rule: stop when the smallest saliency exceeds this fraction of E ("much smaller than E")."""

MAIN = ("obs", "obd", "magnitude", "obs+retrain", "obd+retrain", "magnitude+retrain")
"""The variants in the main table and the figures (``obs-stop-rule`` is in the table too)."""


PAPER_ALPHA = 1e-4
"""alpha of the variants that follow the paper's procedure: the top of its 1e-8..1e-4 range (for MONK-1 and
-2 also the BPWD weight decay, so that H + alpha I is the Gauss-Newton Hessian of the trained objective)."""


def variant_specs(weight_decay: float, quick: bool) -> dict[str, dict]:
    """Label -> variant for one problem: {"method", "params", "rule", "recompute", "retrain", "stop_ratio",
    "bpwd"}.

    ``rule``: ``"accuracy"`` (delete while the training accuracy stays at the BPWD net's), ``"stop"`` (the
    paper's rule: delete while the smallest L_q <= ``stop_ratio`` E, E the current training error) or
    ``"method"`` (OBS's own ``stop_ratio`` on one downdated inverse, E predicted from the saliencies).
    ``recompute``: recompute the curvature at the current weights before every deletion (the paper's "go to
    step 2") instead of downdating the first inverse. ``retrain``: retrain with the mask after every
    deletion. ``bpwd``: None, or {"weight_decay", "epochs"} of a differently trained BPWD net.
    """
    def variant(rule="accuracy", params=None, method="obs", recompute=False, retrain=False, stop_ratio=None,
                bpwd=None, stop_error="current"):
        base = {"hessian": "recursion", "alpha": weight_decay} if method == "obs" else {}
        return {"method": method, "params": {**base, **(params or {})}, "rule": rule, "recompute": recompute,
                "retrain": retrain, "stop_ratio": stop_ratio, "stop_error": stop_error, "bpwd": bpwd}

    paper = {"hessian": "recursion", "alpha": PAPER_ALPHA}

    def as_paper(params=None, ratio=STOP_RATIO, guard=True, **kw):
        return variant("stop+accuracy" if guard else "stop", {**paper, **(params or {})}, recompute=True,
                       stop_ratio=ratio, **kw)

    specs = {
        "obs-paper": as_paper(),
        "obs-paper-as-written": as_paper(guard=False),
        "obs": variant(),
        "obs-stop-rule": variant("method", {"stop_ratio": STOP_RATIO}),
        "obd": variant(method="obd", params={"curvature": "lecun-lm"}),
        "magnitude": variant(method="magnitude"),
    }
    if quick:
        return specs
    for label in ("obs", "obd", "magnitude"):
        specs[f"{label}+retrain"] = {**specs[label], "recompute": True, "retrain": True}
    specs.update({
        "obs-paper-ratio0.01": as_paper(ratio=0.01, guard=False),
        "obs-paper-ratio1": as_paper(ratio=1.0, guard=False),
        "obs-paper-E0": as_paper(guard=False, stop_error="trained"),
        "obs-paper-alpha1e-08": as_paper({"alpha": 1e-8}),
        "obs-paper-alpha1e-06": as_paper({"alpha": 1e-6}),
        "obs-paper-damping1e-03": as_paper({"damping": 1e-3}),
        "obs-paper-exact": as_paper({"hessian": "exact", "damping": weight_decay, "on_indefinite": "damp"}),
        "obs-paper+retrain": as_paper(retrain=True),
        "obs-recompute": variant(recompute=True),
        "obs-exact": variant(params={"hessian": "exact", "damping": weight_decay, "on_indefinite": "damp"}),
    })
    for alpha in (1e-8, 1e-6, 1e-4):
        specs[f"obs-alpha{alpha:.0e}"] = variant(params={"alpha": alpha})
    for tag, bpwd in (("wdx10", {"weight_decay": 10 * weight_decay, "epochs": None}),
                      ("wdx0.1", {"weight_decay": weight_decay / 10, "epochs": None}),
                      ("short", {"weight_decay": weight_decay, "epochs": SHORT_TRAINING})):
        specs[f"obs-paper-{tag}"] = as_paper(bpwd=bpwd)
        specs[f"obs-{tag}"] = variant(params={"alpha": bpwd["weight_decay"]}, bpwd=bpwd)
    return specs


SHORT_TRAINING = 300
"""L-BFGS iterations of the short-training BPWD variant (the default trains for 3000, to a minimum)."""


def bpwd_task(problem: str, bpwd: dict | None) -> tasks.Task:
    """The task of ``problem``, or a copy trained with another weight decay and/or length (``bpwd``)."""
    task = tasks.get(problem)
    if not bpwd:
        return task
    epochs = bpwd["epochs"] or task.recipe.epochs
    recipe = dataclasses.replace(task.recipe, weight_decay=bpwd["weight_decay"], epochs=epochs)
    return dataclasses.replace(task, name=f"{problem}-wd{bpwd['weight_decay']:g}-it{epochs}", recipe=recipe)


def describe(spec: dict) -> dict[str, str]:
    """The documented settings of a variant, in words: inverse, weights update, stopping, retraining, BPWD."""
    params = spec["params"]
    if spec["method"] != "obs":
        inverse = {"obd": "LeCun's diagonal (OBD)", "magnitude": "none (|w|)"}[spec["method"]]
    elif params.get("hessian") == "exact":
        inverse = f"exact Hessian + {params['damping']:g} I"
    else:
        inverse = f"eq. 17, alpha {params['alpha']:g}" + (f" + {params['damping']:g} I" if params.get("damping")
                                                           else "")
    update = ("recomputed before every deletion" if spec["recompute"] else
              "one inverse, downdated" if spec["method"] == "obs" else "ranked once")
    ratio = spec["stop_ratio"] if spec["rule"] != "method" else params.get("stop_ratio")
    error = "E of the BPWD net" if spec.get("stop_error") == "trained" else (
        "E predicted from the saliencies" if spec["rule"] == "method" else "E of the current net")
    stop = "training accuracy kept" if spec["rule"] == "accuracy" else f"L_q <= {ratio:g} x {error}" + (
        ", training accuracy kept" if spec["rule"] == "stop+accuracy" else "")
    bpwd = spec["bpwd"]
    return {"inverse": inverse, "update": update, "stop": stop,
            "retrain": "after every deletion" if spec["retrain"] else "none",
            "bpwd": "as trained" if not bpwd else (
                f"lambda {bpwd['weight_decay']:g}" + (f", {bpwd['epochs']} L-BFGS iterations" if bpwd["epochs"]
                                                      else ""))}


HEADLINE = "obs-paper"
"""The variant closest to the paper that decides the weight-count claims (module docstring)."""
