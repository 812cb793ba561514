"""OBD on digits (prunebench.experiments.lecun1989digits): the quick reproduction end to end, resume, and the
bookkeeping of the objective in dB and of the predicted objective of Fig. 1b on a case with a closed form."""

import argparse
import json
import math
import time

import pytest
import torch
from torch import nn

from helpers import assert_close
from prunebench import cli, methods, records, tasks
from prunebench.experiments import lecun1989digits as obd
from prunebench.models import Net
from prunebench.train import TrainConfig


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """`prunebench reproduce obd-digits --quick`, once for the module: (out folder, CPU s, wall s)."""
    out = tmp_path_factory.mktemp("obd-digits-quick")
    cpu, wall = time.process_time(), time.perf_counter()
    assert cli.main(["reproduce", "obd-digits", "--quick", "--out", str(out), "--no-progress"]) == 0
    return out, time.process_time() - cpu, time.perf_counter() - wall


def test_quick_run_is_under_a_minute_and_its_record_validates(quick_run):
    out, cpu, wall = quick_run
    # CPU time of this process (the units run here, on one thread): what --quick costs, whatever else shares
    # the machine. Its wall time on an idle machine is about the same; on a loaded one it is not a property of
    # the code, so it is only reported.
    assert cpu < 60, f"--quick took {cpu:.1f} s of CPU (wall {wall:.1f} s); it must stay under a minute"
    record = records.read_record(out / "record.json")
    assert record["kind"] == "obd-digits"
    assert record["config"]["quick"] is True and record["provenance"]["seeds"] == [0, 1]
    results = record["results"]
    ids = {c["id"] for c in results["claims"]}
    assert {"obd-below-magnitude", "obd-magnitude-gap", "prediction-agrees-30pct", "prediction-departs-60pct",
            "retrained-training-60pct", "retrained-test-60pct", "random-far-worse"} <= ids
    for claim in results["claims"]:
        assert len(claim["values"]) == 2 and all(math.isfinite(v) for v in claim["values"]), claim
        assert claim["source"].startswith("[paper]") and claim["tolerance_note"], claim
    figures = {f["id"] for f in results["figures"]}
    assert {"fig1a", "fig1a-random", "fig1b", "fig2a", "fig2b"} <= figures
    curve_figures = {row["figure"] for row in results["curves"]}
    assert figures == curve_figures
    fig2a = {row["series"] for row in results["curves"] if row["figure"] == "fig2a"}
    assert fig2a == {"obd-lecun-lm", "obd-lecun-lm + retraining"}
    assert any("2,578" in d for d in results["deviations"])


def test_the_report_accepts_the_record(quick_run):
    from prunebench import report

    record = records.read_record(quick_run[0] / "record.json")
    assert [c.verdict in report.VERDICTS for c in report.evaluate_claims(record)]


def test_rerun_skips_every_unit(quick_run, monkeypatch):
    out = quick_run[0]
    units = sorted(p.name for p in (out / "units").iterdir())
    # seeds x (OBD, magnitude, random without retraining + OBD with retraining), and one diagonals unit
    assert len(units) == 2 * 4 + 1

    def fail(self, config, unit):
        raise AssertionError(f"unit {unit['id']} was recomputed")

    monkeypatch.setattr(obd.ObdDigits, "run_unit", fail)
    before = json.loads((out / "record.json").read_text())
    assert cli.main(["reproduce", "obd-digits", "--quick", "--out", str(out), "--no-progress"]) == 0
    after = json.loads((out / "record.json").read_text())
    assert after["results"] == before["results"]


# ------------------------------------------------------------------------------------------- bookkeeping


def test_db_and_cumulative_prediction():
    assert obd.to_db(0.01) == pytest.approx(-20.0, abs=1e-12)
    assert obd.to_db(1.0) == 0.0
    assert obd.predicted_objective(0.5, [0.25, 0.0, 1.0]) == [0.75, 0.75, 1.75]
    assert obd.predicted_objective(0.5, []) == []


def test_to_db_rejects_non_positive():
    with pytest.raises(ValueError, match=r"mse must be a positive float to be shown in dB; got 0.0"):
        obd.to_db(0.0)


def test_deletion_counts_follow_the_decimal_step():
    assert obd.deletion_counts(100, 0.05, 0.95) == list(range(5, 96, 5))
    assert obd.deletion_counts(666, 0.05, 0.95)[:3] == [33, 66, 99]
    assert obd.deletion_counts(666, 0.1, 0.9)[-1] == 599


@pytest.mark.parametrize(("args", "message"), [
    ((0, 0.05, 0.95), "total must be a positive integer"),
    ((10, 1.5, 0.95), r"step must be a fraction in \(0, 1\)"),
    ((10, 0.5, 0.2), r"max_fraction must be in \[step, 1\)"),
])
def test_deletion_counts_reject_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        obd.deletion_counts(*args)


def _orthogonal_problem():
    """A linear net y = W x (4 inputs, 2 outputs, no bias) at the least-squares minimum, with X^T X = N I.

    Then E = MSE (mean over N samples and C = 2 outputs) has the diagonal Hessian 2/C for every weight and no
    cross terms, so deleting weight w costs exactly w^2 / C, OBD.s saliency with the exact diagonal, however
    many were deleted before. The predicted objective E0 + sum of saliencies must equal the actual one.
    """
    g = torch.Generator().manual_seed(0)
    n = 40
    q, _ = torch.linalg.qr(torch.randn(n, 4, generator=g, dtype=torch.float64))
    x = q * math.sqrt(n)
    t = torch.randn(n, 2, generator=g, dtype=torch.float64)
    model = Net("Linear(4-2, no bias)", (4,), nn.Linear(4, 2, bias=False)).double()
    with torch.no_grad():
        model[0].weight.copy_((x.T @ t / n).T)
    y = t.argmax(dim=1)
    task = tasks.Task("tiny", "digits", "lenet-digits", "mse", "pm1", TrainConfig(), dtype=torch.float64)
    return model, task, tasks.TaskData(x, t, y, x, t, y)


@pytest.mark.parametrize("curvature", ["exact", "lecun-lm"])
def test_predicted_objective_equals_actual_on_a_quadratic_with_diagonal_hessian(curvature):
    model, task, data = _orthogonal_problem()
    points = obd.deletion_curve(model, task, data, methods.get("obd", curvature=curvature), [2, 3, 6, 8])
    assert [p["deleted"] for p in points] == [0, 2, 3, 6, 8]
    assert [p["remaining"] for p in points] == [8, 6, 5, 2, 0]
    predicted = obd.predicted_objective(points[0]["loss"], [p["saliency_sum"] for p in points[1:]])
    # Exact in exact arithmetic; float64 sums of a few terms of size ~1: 1e-12 relative.
    assert_close(predicted, [p["loss"] for p in points[1:]], rtol=1e-12, atol=0.0, name="predicted objective")
    # Nothing left: the net outputs 0, so E is the mean square of the targets.
    assert points[-1]["loss"] == pytest.approx(float((data.t_train**2).mean()), rel=1e-12)
    dbs = obd._predicted_db(points)
    assert dbs[0] == obd.to_db(points[0]["loss"]) and dbs[-1] == pytest.approx(obd.to_db(points[-1]["loss"]))
    assert model[0].weight.abs().min() > 0, "deletion_curve must work on a copy"


def test_retraining_keeps_deleted_parameters_at_zero():
    model, task, data = _orthogonal_problem()
    with torch.no_grad():
        model[0].weight.add_(0.1)  # away from the minimum, so retraining has something to do
    points = obd.deletion_curve(model, task, data, methods.get("magnitude"), [3, 5],
                                retrain=TrainConfig(epochs=20))
    assert [p["remaining"] for p in points] == [8, 5, 3]
    for p in points[1:]:
        assert p["loss"] <= p["loss_pruned"] + 1e-15
        assert p["test_loss_pruned"] == p["loss_pruned"]  # same data for both splits here


def _options(**kw):
    defaults = {"quick": True, "step": None, "dense_tol": None, "retrain_tol": None, "variants": None,
                "sensitivity_seeds": None, "device": "cpu", "root": None}
    return argparse.Namespace(**{**defaults, **kw})


@pytest.mark.parametrize(("options", "message"), [
    ({"step": 2.0}, r"--step must be a number in \(0, 1\); got 2.0"),
    ({"dense_tol": -1.0}, "--dense-tol must be a positive number, e.g. 1e-5; got -1.0"),
    ({"retrain_tol": 0}, "--retrain-tol must be a positive number, e.g. 1e-5; got 0"),
    ({"variants": "headline,snip"}, "--variants must be a comma-separated list of distinct protocols among"),
    ({"variants": "step-1%,step-1%"}, "--variants must be a comma-separated list of distinct protocols"),
    ({"variants": "dense-tight"}, r"--variants asks for stopping rules this run does not define: \['tight'\]"),
    ({"sensitivity_seeds": 0}, "--sensitivity-seeds must be a positive integer; got 0"),
])
def test_options_are_validated(options, message):
    with pytest.raises(ValueError, match=message):
        obd.ObdDigits().config(_options(**options), [0])


def test_variants_share_units_and_run_changed_series_on_fewer_seeds():
    config = obd.ObdDigits().config(_options(quick=False, variants="recompute,step-5%,step-1%,dense-tight",
                                             sensitivity_seeds=1), [0, 1])
    ids = [u["id"] for u in obd.ObdDigits().units(config)]
    assert len(ids) == len(set(ids))
    fig1 = ("obd-lecun-lm.once", "magnitude.once", "random.once")
    headline = {f"{m}.step=0.02.dense=tol.seed={s}" for s in (0, 1) for m in (*fig1, "obd-lecun-lm.retrain=tol")}
    recompute = {f"obd-lecun-lm.recompute.step=0.02.dense=tol.seed={s}" for s in (0, 1)}
    coarse = {f"{m}.step={step}.dense=tol.seed={s}" for s in (0, 1) for m in fig1 for step in ("0.05", "0.01")}
    tight = {f"{m}.step=0.02.dense=tight.seed=0" for m in fig1}
    # The recompute protocol's retraining is the headline's (all seeds); step-5% retrains on 1 seed, step-1%
    # (not in sensitivity_retrain) not at all; dense-tight trains other nets: 1 seed.
    assert set(ids) == (headline | recompute | coarse | tight | {"diagonals.dense=tol.seed=0",
                                                                 "obd-lecun-lm.retrain=tol.step=0.05.dense=tol.seed=0"})
    assert set(ids[: len(headline)]) == headline  # the headline first
    plan = obd._plan(config)
    assert plan["recompute"]["retrained"] == plan["headline"]["retrained"]
    assert "retrained" not in plan["step-1%"]


def test_usps_runs_the_1990_net_with_the_same_protocol():
    usps = obd.ObdUsps()
    assert usps.needs_data == "usps" and usps.task == "usps-lenet1990"
    assert tasks.get(usps.task).model == "lenet1990"
    config = usps.config(_options(quick=False), [0])
    assert config["headline"] == obd.HEADLINE and config["variants"] == list(obd.VARIANTS)
    assert config["dense_rules"]["tol"]["grad_rms_tol"] == 1e-4
    assert any("USPS" in d for d in usps.deviations(config, {"arch": "LeNet", "total_parameters": 2578}))


def test_rank_once_curve_predicts_exactly_on_a_quadratic_with_the_gradient_term():
    """Away from the minimum E is still exactly quadratic with Hessian (2/C) I, so deleting a set D costs
    exactly sum_D (h u_k^2 / 2 - g_k u_k): the saliencies of the dense net plus the recorded gradient term."""
    model, task, data = _orthogonal_problem()
    with torch.no_grad():
        model[0].weight.add_(0.3)
    points = obd.rank_once_curve(model, task, data, methods.get("obd", curvature="exact"), [2, 5, 8])
    assert [p["deleted"] for p in points] == [0, 2, 5, 8]
    predicted = obd.predicted_objective(points[0]["loss"], [p["saliency_sum"] for p in points[1:]])
    actual = [p["loss"] - p["gradient_term"] for p in points[1:]]
    assert_close(predicted, actual, rtol=1e-12, atol=0.0, name="E0 + saliencies + gradient term")
    assert abs(points[1]["gradient_term"]) > 1e-3, "the net is away from its minimum: the term must show"
    # Ranked once: the order is the dense net's ascending saliency, so each round's sum grows.
    sums = [p["saliency_sum"] / (b["deleted"] - a["deleted"]) for a, b, p in
            zip(points[:-1], points[1:], points[1:], strict=True)]
    assert sums == sorted(sums)
    assert model[0].weight.abs().min() > 0, "rank_once_curve must work on copies"


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
    claims = {c["id"]: c for c in obd._claims(series, 10, obd.DB_TOLERANCE)}
    assert len(claims["prediction-agrees-30pct"]["values"]) == 2
    assert "1 of 3 seeds left out" in claims["prediction-agrees-30pct"]["tolerance_note"]
    assert len(claims["retrained-training-60pct"]["values"]) == 2
    assert len(claims["obd-below-magnitude"]["values"]) == 2


def test_curves_start_from_a_net_with_a_fixed_connection_table():
    """Entries absent from the dense net (a connection table, as in the 1990 net) are no deletions, and a
    net whose pruned weight carries an autograd graph can still be copied."""
    model, task, data = _orthogonal_problem()
    table = torch.ones(2, 4, dtype=torch.float64)
    table[1, 3] = 0
    torch.nn.utils.prune.custom_from_mask(model[0], "weight", table)
    model(data.x_train).sum().backward()  # leaves model[0].weight with a graph, as a checkpoint load does
    for points in (obd.rank_once_curve(model, task, data, methods.get("magnitude"), [2, 4]),
                   obd.deletion_curve(model, task, data, methods.get("magnitude"), [2, 4])):
        assert [p["deleted"] for p in points] == [0, 2, 4]
        assert [p["remaining"] for p in points] == [7, 5, 3]


def test_a_run_of_fewer_protocols_reuses_the_saved_units():
    experiment = obd.ObdDigits()
    big = experiment.config(_options(quick=False), list(range(10)))
    small = experiment.config(_options(quick=False, variants="recompute", sensitivity_seeds=1), [0, 1])
    unit = next(u for u in experiment.units(small) if u["id"].startswith("obd-lecun-lm.recompute"))
    assert unit in experiment.units(big)
    assert experiment.unit_inputs(big, unit) == experiment.unit_inputs(small, unit)
    changed = experiment.config(_options(quick=False, dense_tol=1e-6), [0, 1])
    assert experiment.unit_inputs(changed, unit) != experiment.unit_inputs(small, unit)
