"""The experiments obd-digits and obd-usps (prunebench.experiments.lecun1989digits.experiment): the quick
reproduction end to end, resume, options, units and the protocols they share."""

import argparse
import json
import math
import time

import pytest

from prunebench import cli, records, tasks
from prunebench.experiments import lecun1989digits as obd
from prunebench.experiments.lecun1989digits.protocol import _plan


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
    plan = _plan(config)
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


def test_a_run_of_fewer_protocols_reuses_the_saved_units():
    experiment = obd.ObdDigits()
    big = experiment.config(_options(quick=False), list(range(10)))
    small = experiment.config(_options(quick=False, variants="recompute", sensitivity_seeds=1), [0, 1])
    unit = next(u for u in experiment.units(small) if u["id"].startswith("obd-lecun-lm.recompute"))
    assert unit in experiment.units(big)
    assert experiment.unit_inputs(big, unit) == experiment.unit_inputs(small, unit)
    changed = experiment.config(_options(quick=False, dense_tol=1e-6), [0, 1])
    assert experiment.unit_inputs(changed, unit) != experiment.unit_inputs(small, unit)
