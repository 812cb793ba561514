"""The paper's claims about Figs. 1-2, decided under one protocol, and the sensitivity of every verdict to the
protocol and the dB tolerance."""

from __future__ import annotations

import statistics

from ... import stats
from .curves import _at, _db_at, _predicted_db, to_db
from .protocol import BELOW_FRACTION, DB_TOLERANCE, RANDOM_GAP, RANGE_END, TOLERANCE_SCALES, _rule_text, protocol

__all__: list[str] = []


def _dense_ok(run: dict) -> bool:
    """Whether the run's dense net met its stopping rule (a budget, with no rule, counts as met)."""
    return run["trained"].get("converged") is not False


def _retrain_ok(run: dict, fraction: float, total: int) -> bool:
    """Whether every retraining up to ``fraction`` deleted met its rule (a budget counts as met)."""
    end = _at(run["points"], fraction, total)["deleted"]
    return _dense_ok(run) and all(p.get("retrain_stop") in (None, "tolerance", "budget")
                                  for p in run["points"][1:] if p["deleted"] <= end)


def _claim(id_, statement, source, metric, unit, values, rule, note, paper_value=None) -> dict:
    return {"id": id_, "statement": statement, "source": source, "paper_value": paper_value, "metric": metric,
            "unit": unit, "values": [float(v) for v in values], "rule": rule, "tolerance_note": note}


def _kept(note: str, used: int, seeds: int) -> str:
    left = seeds - used
    return note + (f"; {left} of {seeds} seeds left out: a run did not meet its stopping rule" if left else
                   f"; all {seeds} seeds met their stopping rules")


def _claims(series: dict[str, dict[int, dict]], total: int, db: float) -> list[dict]:
    """The claims under one protocol: ``series`` role -> seed -> unit result; ``db`` the dB tolerance."""
    obd, claims = series["obd"], []
    mag, rnd = series.get("magnitude", {}), series.get("random", {})
    paired = [s for s in sorted(obd) if s in mag and _dense_ok(obd[s])]
    fractions, gaps = [], []
    for s in paired:
        pairs = [(o["loss"], m["loss"]) for o, m in zip(obd[s]["points"][1:], mag[s]["points"][1:], strict=True)
                 if o["deleted"] / total <= RANGE_END + 1e-12]
        fractions.append(sum(o <= m for o, m in pairs) / len(pairs))
        gaps.append(statistics.fmean(to_db(m) - to_db(o) for o, m in pairs))
    n = len(obd)
    if paired:
        claims.append(_claim(
            "obd-below-magnitude",
            "OBD's objective curve lies below magnitude deletion's over the deletion range, without "
            "retraining", "[paper] Fig. 1a",
            f"fraction of the deletion rounds up to {RANGE_END:.0%} deleted where OBD's training objective "
            "is <= magnitude's", "", fractions, {"op": ">=", "threshold": BELOW_FRACTION},
            _kept("'below over the range', allowing one round in ten to tie or cross (the curves meet at 0 "
                  "deleted and near total deletion); range and threshold fixed before any run", len(paired), n)))
        claims.append(_claim(
            "obd-magnitude-gap", "OBD's curve is significantly below magnitude deletion's", "[paper] Fig. 1a",
            f"mean over the rounds up to {RANGE_END:.0%} deleted of magnitude's minus OBD's training "
            "objective", "dB", gaps, {"op": ">=", "threshold": db},
            _kept(f"'significantly' read as at least {db:g} dB (a factor {10 ** (db / 10):.2f} in MSE): the "
                  "smallest gap we call visible on the paper's dB axis; the whole 95% CI of the median over "
                  "seeds must clear it", len(paired), n)))
    ok = [s for s in sorted(obd) if _dense_ok(obd[s])]
    gap30, gap60 = [], []
    for s in ok:
        points = obd[s]["points"]
        predicted = _predicted_db(points)
        gaps_at = {}
        for f in (0.3, 0.6):
            p = _at(points, f, total)
            gaps_at[f] = abs(predicted[points.index(p)] - to_db(p["loss"]))
        gap30.append(gaps_at[0.3])
        gap60.append(gaps_at[0.6])
    if ok:
        claims.append(_claim(
            "prediction-agrees-30pct",
            "The objective predicted from the saliencies agrees with the actual one up to about 30% of the "
            "parameters deleted (800 of 2,578)", "[paper] Fig. 1b",
            "|predicted - actual| training objective at 30% deleted (OBD, no retraining)", "dB", gap30,
            {"op": "<=", "threshold": db},
            _kept(f"'good agreement' read as within {db:g} dB (a factor {10 ** (db / 10):.2f} in MSE), the "
                  "tolerance of every dB claim", len(ok), n), paper_value="about 800 of 2578 deleted"))
        claims.append(_claim(
            "prediction-departs-60pct",
            "Beyond about 30% deleted the prediction departs from the actual objective (off-diagonal and "
            "higher-order terms grow)", "[paper] Fig. 1b",
            "|predicted - actual| training objective at 60% deleted (OBD, no retraining)", "dB", gap60,
            {"op": ">", "threshold": db},
            _kept(f"'departs' read as the negation of 'agrees': more than {db:g} dB apart", len(ok), n)))
    retrained = series.get("retrained", {})
    kept = [s for s in sorted(retrained) if _retrain_ok(retrained[s], 0.6, total)]
    if kept:
        for split, key, fig in (("training", "loss", "2a"), ("test", "test_loss", "2b")):
            values = [_db_at(retrained[s]["points"], 0.6, total, key) - to_db(retrained[s]["points"][0][key])
                      for s in kept]
            claims.append(_claim(
                f"retrained-{split}-60pct",
                f"With retraining, the {split} objective stays almost the same up to about 1500 deleted "
                "parameters (60%)", f"[paper] Fig. {fig}",
                f"{split} objective at 60% deleted (OBD, retrained after each round) minus that of the "
                "unpruned net", "dB", values, {"op": "within", "target": 0.0, "tolerance": db},
                _kept(f"'almost the same' read as within {db:g} dB (a factor {10 ** (db / 10):.2f} in MSE) "
                      "either way", len(kept), len(retrained)), paper_value="almost the same"))
    both = [s for s in sorted(rnd) if s in obd and _dense_ok(obd[s])]
    if both:
        values = [_db_at(rnd[s]["points"], 0.3, total) - _db_at(obd[s]["points"], 0.3, total) for s in both]
        claims.append(_claim(
            "random-far-worse",
            "Random deletion is so much worse than OBD and magnitude deletion that it does not fit on the "
            "same scale", "[paper] Fig. 1a",
            "random's minus OBD's training objective at 30% deleted (no retraining)", "dB", values,
            {"op": ">=", "threshold": RANDOM_GAP},
            _kept(f"'does not fit on the same scale' read as at least {RANDOM_GAP:g} dB (a decade of MSE) "
                  "worse than OBD", len(both), n)))
    return claims


_SHORT = {"reproduced": "yes", "partly": "partly", "not reproduced": "no"}


def _decided(claim: dict) -> tuple[str, float]:
    estimate, low, high = stats.bootstrap_ci(claim["values"])
    return stats.ci_verdict(claim["rule"], estimate, low, high), estimate


def _sensitivity_table(runs, config, total: int) -> dict:
    """Every claim's verdict under each protocol, and under the headline with scaled dB tolerances."""
    ids = [c["id"] for c in _claims(runs["headline"], total, DB_TOLERANCE)]
    rows = []

    def row(name, what, claims):
        by_id = {c["id"]: c for c in claims}
        cells = []
        for i in ids:
            if i not in by_id:
                cells.append("—")
                continue
            v, estimate = _decided(by_id[i])
            cells.append(f"{_SHORT[v]} ({estimate:.3g}; n={len(by_id[i]['values'])})")
        rows.append([name, what, *cells])

    headline = protocol(config, "headline")
    for variant in config["variants"]:
        p = protocol(config, variant)
        changed = {k: v for k, v in p.items() if headline[k] != v}
        what = ("closest to the paper: " + ", ".join(f"{k} {v}" for k, v in headline.items())
                if variant == "headline" else ", ".join(f"{k} {v}" for k, v in changed.items()))
        row(variant, what, _claims(runs[variant], total, DB_TOLERANCE))
    for scale in TOLERANCE_SCALES:
        db = DB_TOLERANCE * scale
        row(f"tolerance-{db:g}dB", f"headline runs, dB tolerances {db:g} dB instead of {DB_TOLERANCE:g}",
            _claims(runs["headline"], total, db))
    dense = "; ".join(f"{k}: {_rule_text(v, 'L-BFGS iterations')}" for k, v in config["dense_rules"].items())
    retrain = "; ".join(f"{k}: {_rule_text(v, 'L-BFGS iterations')}"
                        for k, v in config["retrain_rules"].items())
    return {"id": "obd-sensitivity", "title": "Sensitivity: each claim's verdict under each protocol",
            "columns": ["protocol", "what changes", *ids], "rows": rows,
            "notes": ["Cell: verdict (yes = reproduced, partly, no) with the median over seeds and the number "
                      "of seeds used (runs that missed their stopping rule left out); the same rules as the "
                      "claims table.",
                      f"Dense rules: {dense}. Retraining rules (each round): {retrain}.",
                      f"Series on other dense nets, and the retrained series of "
                      f"{', '.join(config['sensitivity_retrain']) or 'no protocol'}, run on the first "
                      f"{config['sensitivity_seeds']} seeds; '—': not run."]}
