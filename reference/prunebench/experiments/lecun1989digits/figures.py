"""Figures 1a, 1b, 2a and 2b of the OBD paper, drawn from the headline protocol's series."""

from __future__ import annotations

from .curves import _predicted_db, to_db
from .protocol import PAPER_OBD, VARIANTS, _rule_text, protocol

__all__: list[str] = []


def _curves(runs, config, total: int) -> tuple[list[dict], list[dict]]:
    """Figures 1a, 1b, 2a and 2b from the headline's series (``runs`` role -> seed -> result), and Fig. 1b
    for each OBD diagonal of the sensitivity protocols."""
    headline = runs["headline"]
    n = len(headline["obd"])
    band = f"Median over {n} seeds with a 95% bootstrap band."
    h = protocol(config, "headline")
    step = (f"{h['step']:.0%} of the {total} free parameters per round, ranked once at the dense net by OBD "
            f"({h['curvature']} diagonal)")
    retrain = f"retrained to {_rule_text(config['retrain_rules'][h['retrain']], 'iterations')} after each round"
    left, deleted = "free parameters remaining", "free parameters deleted"
    train_db, test_db = "training objective, 10 log10 MSE (dB)", "test objective, 10 log10 MSE (dB)"
    rows: list[dict] = []

    def add(figure, series, seed, x, y, panel=None):
        row = {"figure": figure, "series": series, "seed": seed, "x": float(x), "y": float(y)}
        if panel is not None:
            row["panel"] = panel
        rows.append(row)

    for role, label in (("obd", PAPER_OBD), ("magnitude", "magnitude"), ("random", "random")):
        for seed, r in sorted(headline[role].items()):
            for p in r["points"]:
                if role != "random":
                    add("fig1a", label, seed, p["remaining"], to_db(p["loss"]))
                add("fig1a-random", label, seed, p["remaining"], to_db(p["loss"]))
                if role == "obd":
                    add("fig2a", label, seed, p["remaining"], to_db(p["loss"]))
                    add("fig2b", label, seed, p["remaining"], to_db(p["test_loss"]))
    for seed, r in sorted(headline["retrained"].items()):
        for p in r["points"]:
            add("fig2a", f"{PAPER_OBD} + retraining", seed, p["remaining"], to_db(p["loss"]))
            add("fig2b", f"{PAPER_OBD} + retraining", seed, p["remaining"], to_db(p["test_loss"]))
    panels = []
    for variant in config["variants"]:
        p = protocol(config, variant)
        if variant != "headline" and set(VARIANTS[variant]) != {"curvature"}:
            continue
        panels.append(p["curvature"])
        for seed, r in sorted(runs[variant]["obd"].items()):
            points = r["points"]
            for point, predicted in zip(points, _predicted_db(points), strict=True):
                if variant == "headline":
                    add("fig1b", "predicted", seed, point["deleted"], predicted)
                    add("fig1b", "actual", seed, point["deleted"], to_db(point["loss"]))
                add("fig1b-curvatures", "predicted", seed, point["deleted"], predicted, panel=p["curvature"])
                add("fig1b-curvatures", "actual", seed, point["deleted"], to_db(point["loss"]),
                    panel=p["curvature"])

    def fig(id_, title, xlabel, ylabel, caption, panels=None):
        return {"id": id_, "title": title, "xlabel": xlabel, "ylabel": ylabel, "logy": False, "logx": False,
                "panels": panels, "caption": caption}

    figures = [
        fig("fig1a", "Fig. 1a: OBD vs magnitude deletion, no retraining", left, train_db,
            f"Training objective against remaining free parameters, without retraining; {step}, or by "
            f"global magnitude. {band}"),
        fig("fig1a-random", "Fig. 1a with random deletion, on its own scale", left, train_db,
            f"As Fig. 1a with random deletion added, on the scale random deletion needs. {band}"),
        fig("fig1b", "Fig. 1b: predicted vs actual objective (OBD)", deleted, train_db,
            "The objective predicted from the saliencies (E0 plus the sum of the dense net's saliencies of "
            f"the deleted parameters) and the actual objective, without retraining; {step}. {band}"),
        fig("fig2a", "Fig. 2a: OBD without and with retraining, training set", left, train_db,
            f"Training objective, OBD without retraining (ranked once) and with retraining ({retrain}, "
            f"saliencies recomputed after it). {band}"),
        fig("fig2b", "Fig. 2b: OBD without and with retraining, test set", left, test_db,
            f"Test-set objective of the networks of Fig. 2a. {band}"),
    ]
    if len(panels) > 1:
        figures.append(fig("fig1b-curvatures", "Fig. 1b for each OBD diagonal (beyond the paper)", deleted,
                           train_db, "Predicted (E0 plus the cumulative dense saliencies) against actual "
                           f"training objective without retraining, ranked once, for each Hessian diagonal. "
                           f"{band}", panels=panels))
    ids = {f["id"] for f in figures}
    return [r for r in rows if r["figure"] in ids], figures
