"""The record's tables of the trained networks and of the objective at fixed deletion fractions, and the per-seed
series."""

from __future__ import annotations

import statistics

from .curves import _at, _db_at, to_db
from .protocol import HEADLINE

__all__: list[str] = []


def _median_range(values: list[float], digits: int = 2) -> str:
    if not values:
        return "—"
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def _trained_table(results: dict[str, dict]) -> dict:
    """One row per dense net (dense rule x seed): what training reached, and the gradient term of OBD's
    rank-once deletion at 30% (what the extremal approximation drops)."""
    nets: dict[tuple[str, int], dict] = {}
    term: dict[tuple[str, int], float] = {}
    for r in results.values():
        key = (r["dense"], r["seed"])
        nets.setdefault(key, r["trained"])
        if r["method"] == HEADLINE["curvature"] and r.get("schedule") == "once" and "retrain" not in r:
            total = r["total_parameters"]
            p = _at(r["points"], 0.3, total)
            term.setdefault(key, p["gradient_term"] / r["points"][0]["loss"])
    rows = [[d, s, t["iterations"], t.get("stop", "budget"), t.get("grad_rms"), t["loss"],
             round(to_db(t["loss"]), 3), round(to_db(t["test_loss"]), 3),
             None if (d, s) not in term else round(100 * term[(d, s)], 3),
             round(100 * t["train_accuracy"], 2), round(100 * t["test_accuracy"], 2)]
            for (d, s), t in sorted(nets.items())]
    return {"id": "obd-trained", "title": "The trained networks, before any deletion",
            "columns": ["dense rule", "seed", "L-BFGS iterations", "stop", "RMS gradient", "training MSE",
                        "training objective (dB)", "test objective (dB)", "gradient term at 30% (% of E0)",
                        "train accuracy %", "test accuracy %"],
            "rows": rows,
            "notes": ["RMS gradient: ||dE/dw|| / sqrt(free parameters) at the end of training; stop: "
                      "'tolerance' (the rule was met), 'cap' or 'stalled' (not met: left out of the claims), "
                      "'budget' (no rule).",
                      "gradient term at 30%: -sum g_k u_k over the parameters OBD (LM diagonal, ranked once) "
                      "deletes up to 30%, in % of E0: the first-order term Fig. 1b's prediction leaves out "
                      "(1 dB is 26%)."]}


def _objective_table(runs, total: int) -> dict:
    fractions = (0.3, 0.6, 0.9)
    rows = []
    for variant, by_role in runs.items():
        for role, by_seed in by_role.items():
            if variant != "headline" and role in ("magnitude", "random"):
                continue
            row = [variant, role]
            for key in ("loss", "test_loss"):
                row += [_median_range([_db_at(r["points"], f, total, key) for r in by_seed.values()
                                       if _at(r["points"], f, total)["deleted"] / total > f - 0.05])
                        for f in fractions]
            rows.append(row)
    return {"id": "obd-objective-at",
            "title": "Objective (dB) at 30%, 60% and 90% of the free parameters deleted, every protocol",
            "columns": ["protocol", "series", *(f"{split} dB at {f:.0%}" for split in ("train", "test")
                                                for f in fractions)],
            "rows": rows,
            "notes": [f"Median [min, max] over seeds; {total} free parameters; '—' past the series' range "
                      "(retrained series stop at the claims' 60%)."]}


def _per_seed(results: dict[str, dict]) -> list[dict]:
    out = []
    for unit_id, r in sorted(results.items()):
        points = r["points"]
        extra = {key: [p.get(key) for p in points] for key in ("retrain_iterations", "retrain_grad_rms",
                                                               "retrain_stop", "gradient_term")
                 if any(key in p for p in points)}
        out.append({"unit": unit_id, "method": r["method"], "seed": r["seed"], "trained": r["trained"],
                    **{key: [p[key] for p in points] for key in ("deleted", "loss", "test_loss",
                                                                 "saliency_sum")}, **extra})
    return out
