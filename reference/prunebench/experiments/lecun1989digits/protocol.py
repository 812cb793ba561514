"""The protocols of the OBD reproduction: the headline closest to the paper, the sensitivity variants, and the
plan of units (series x seeds) they need."""

from __future__ import annotations

from typing import Any

__all__ = ["CURVATURES", "HEADLINE", "PAPER_OBD", "VARIANTS", "protocol"]


PAPER_OBD = "obd-lecun-lm"
"""The paper's OBD: LeCun's diagonal with the Levenberg-Marquardt approximation."""

CURVATURES = ("lecun-lm", "lecun", "exact", "ggn")
"""OBD's Hessian diagonals a protocol may use (:mod:`prunebench.curvature.diagonal`)."""

HEADLINE = {"dense": "tol", "retrain": "tol", "step": 0.02, "schedule": "once", "curvature": "lecun-lm"}
"""The protocol closest to the paper: dense net and every retraining at a minimum (gradient tolerance), rounds
of 2% of the free parameters (the paper's chunk size is not stated; small rounds approach one parameter at a
time), Figs. 1a/1b ranked once at the dense net, LeCun's Levenberg-Marquardt diagonal."""

VARIANTS: dict[str, dict[str, Any]] = {
    "headline": {},
    "dense-tight": {"dense": "tight"},
    "dense-budget": {"dense": "budget"},
    "retrain-budget": {"retrain": "budget"},
    "step-1%": {"step": 0.01},
    "step-5%": {"step": 0.05},
    "recompute": {"schedule": "recompute"},
    "curvature-lecun": {"curvature": "lecun"},
    "curvature-exact": {"curvature": "exact"},
    "curvature-ggn": {"curvature": "ggn"},
}
"""The protocols of the sensitivity table: the headline, and one choice changed at a time."""

DB_TOLERANCE = 1.0
"""dB: 'almost the same', 'agrees', 'significantly below' on the paper's log scale: a factor 1.26 in MSE."""

RANDOM_GAP = 10.0
"""dB: 'random deletion does not fit on the same scale' read as at least a decade of MSE worse than OBD."""

BELOW_FRACTION = 0.9
"""Claim obd-below-magnitude: OBD at or below magnitude on at least this fraction of the rounds."""

RANGE_END = 0.9
"""The deletion range of claims obd-below-magnitude and obd-magnitude-gap: up to 90% deleted. Beyond, both
nets approach the constant-output objective and their order is noise."""

TOLERANCE_SCALES = (0.5, 2.0)
"""The dB tolerances are also applied halved and doubled in the sensitivity table."""


def _rule_text(rule: dict[str, Any], unit: str) -> str:
    """One line: a stopping rule (``grad_rms_tol`` and its cap) or a budget, for L-BFGS ``unit``s."""
    if rule.get("grad_rms_tol") is not None:
        cap = rule.get("finish_lbfgs") or rule.get("epochs")
        return f"RMS gradient per free parameter <= {rule['grad_rms_tol']:g} (cap {cap} {unit})"
    return f"a budget of {rule.get('finish_lbfgs') or rule.get('epochs')} {unit} (no tolerance)"


def _variant_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"--variants must be a comma-separated list of distinct protocols among "
                         f"{', '.join(VARIANTS)} (the headline always runs); got {text!r}")
    return ["headline"] + [n for n in names if n != "headline"]


def protocol(config: dict[str, Any], variant: str) -> dict[str, Any]:
    """The five protocol choices of ``variant``: the run's headline with the variant's changes."""
    return {**config.get("headline", HEADLINE), **VARIANTS[variant]}


def _unit_id(unit: dict[str, Any]) -> str:
    name = f"obd-{unit['method']}" if unit["method"] in CURVATURES else unit["method"]
    how = f"retrain={unit['retrain']}" if "retrain" in unit else unit["schedule"]
    return f"{name}.{how}.step={unit['step']:g}.dense={unit['dense']}.seed={unit['seed']}"


def _plan(config: dict[str, Any]) -> dict[str, dict[str, dict[int, dict]]]:
    """Variant -> role (obd, magnitude, random, retrained) -> seed -> unit.

    The headline's series run on every seed, and so do the series without retraining of a protocol that keeps
    the headline's dense nets. A protocol with other dense nets runs on the first ``sensitivity_seeds``; a
    protocol that changes the retrained series runs it there too if it is in ``sensitivity_retrain``, else
    not at all (its Fig. 2 claims are then absent from the sensitivity table)."""
    seeds, headline = config["seeds"], protocol(config, "headline")
    few = seeds[: config["sensitivity_seeds"]]
    plan = {}
    for variant in config["variants"]:
        p = protocol(config, variant)
        base = {"dense": p["dense"], "step": p["step"]}
        own = seeds if p["dense"] == headline["dense"] else few
        roles = {"obd": ({**base, "method": p["curvature"], "schedule": p["schedule"]}, own),
                 "magnitude": ({**base, "method": "magnitude", "schedule": "once"}, own),
                 "random": ({**base, "method": "random", "schedule": "once"}, own)}
        retrained = {**base, "method": p["curvature"], "retrain": p["retrain"]}
        if all(p[k] == headline[k] for k in ("dense", "step", "curvature", "retrain")):
            roles["retrained"] = (retrained, seeds)
        elif variant in config["sensitivity_retrain"]:
            roles["retrained"] = (retrained, few)
        plan[variant] = {role: {s: {"id": _unit_id({**spec, "seed": s}), **spec, "seed": s} for s in on}
                         for role, (spec, on) in roles.items()}
    return plan
