"""The OBD claims (prunebench.experiments.lecun1989digits.claims): which seeds decide them."""

from prunebench.experiments.lecun1989digits.claims import _claims
from prunebench.experiments.lecun1989digits.protocol import DB_TOLERANCE


def test_claims_leave_out_runs_that_missed_their_stopping_rule():
    def run(seed, converged, stops=("tolerance",)):
        points = [{"deleted": d, "loss": 0.1 + d / 100, "test_loss": 0.1 + d / 50, "saliency_sum": 0.01}
                  for d in range(0, 11)]
        for p, stop in zip(points[1:], stops * 10, strict=False):
            p["retrain_stop"] = stop
        return {"trained": {"converged": converged}, "points": points, "seed": seed}

    series = {"obd": {0: run(0, True), 1: run(1, False), 2: run(2, True)},
              "magnitude": {s: run(s, True) for s in range(3)},
              "random": {s: run(s, True) for s in range(3)},
              "retrained": {0: run(0, True), 1: run(1, True), 2: run(2, True, ("tolerance", "cap"))}}
    claims = {c["id"]: c for c in _claims(series, 10, DB_TOLERANCE)}
    assert len(claims["prediction-agrees-30pct"]["values"]) == 2
    assert "1 of 3 seeds left out" in claims["prediction-agrees-30pct"]["tolerance_note"]
    assert len(claims["retrained-training-60pct"]["values"]) == 2
    assert len(claims["obd-below-magnitude"]["values"]) == 2
