"""The obs-mnist experiment (prunebench.experiments.obs_mnist): the samples every method gets, its
configuration and messages, its summary, and one variant pruned to several sparsities."""

from __future__ import annotations

import argparse

import pytest
import torch

from prunebench import methods, prune, tasks
from prunebench.evaluate import evaluate
from prunebench.experiments import get as get_experiment
from prunebench.experiments import obs_mnist
from prunebench.experiments._common import masked_copy
from prunebench.experiments.obs_mnist import run_variant
from prunebench.methods.fullobs import FullOBS
from prunebench.testing import tiny_problem
from prunebench.train import TrainConfig


def _args(**kw):
    base = {"seeds": None, "quick": False, "device": "cpu", "out": None, "jobs": 1, "scheduler": None,
            "root": None, "no_progress": True}
    return argparse.Namespace(**{**base, **kw})


def test_obs_mnist_gives_every_method_the_samples_obs_full_draws():
    X, y = torch.arange(50.0)[:, None], torch.arange(50)
    expected = FullOBS(samples=7, seed=3)._subset(X, y)[1]
    assert torch.equal(y[obs_mnist.subset(50, 7, 3)], expected)
    assert obs_mnist.subset(50, 50, 3) is None


def test_obs_mnist_config_and_messages():
    experiment = get_experiment("obs-mnist")
    config = experiment.config(_args(group_sizes="1,64", ggn=True), [0, 1, 2])
    assert list(config["variants"]) == ["obs-full-g1", "obs-layer-g1", "obs-full-g64", "obs-full-ggn-g1",
                                        "obs-full-onestep", "obs-layer-onestep", "woodfisher-protocol",
                                        "obd-fisher", "obd-ggn", "obd-exact", "magnitude"]
    assert config["variants"]["obs-layer-g1"]["params"]["blocks"] == "module"
    assert config["variants"]["obs-full-ggn-g1"]["params"]["samples"] == 112
    assert config["variants"]["woodfisher-protocol"]["params"]["samples"] == 100
    units = [u["id"] for u in experiment.units(config)]
    # The cheap variants (rankings, one-step OBS) come first, then sequential OBS.
    assert len(units) == 33 and units[0] == "obs-full-onestep.seed=0" and units[21] == "obs-full-g1.seed=0"
    # `prunebench reproduce all` passes only the common options: the defaults apply.
    defaults = experiment.config(_args(), [0])
    assert defaults["group_sizes"] == [64, 1, 1024] and defaults["damping"] == 1e-5
    assert "obs-full-ggn-g64" not in defaults["variants"]
    with pytest.raises(ValueError, match=r"--group-sizes must be distinct positive integers"):
        experiment.config(_args(group_sizes="1,0"), [0])
    with pytest.raises(ValueError, match=r"--samples must be a positive integer; got 0"):
        experiment.config(_args(samples=0), [0])


def _fake_unit(label, seed, dense, accuracies, stats=None):
    points = [{"sparsity": s, "achieved_sparsity": s, "test_accuracy": a, "train_accuracy": a,
               "train_loss": 1.0, "actual_change": 0.5, "predicted_change": None}
              for s, a in zip(obs_mnist.SPARSITIES, accuracies, strict=True)]
    return {"variant": label, "seed": seed, "dense": {"test_accuracy": dense, "train_accuracy": dense,
                                                     "train_loss": 0.1},
            "points": points, "wall_s": 10.0, "cpu_s": 15.0, "peak_gb": 4.5, "extra_gb": 4.2, "stats": stats,
            "matmul_gflops": {"float32": 60.0, "float64": 30.0}, "load_average": [2.0, 2.0], "threads": 2,
            "device_name": "cpu"}


def test_obs_mnist_summary_has_the_claims_and_tables():
    experiment = get_experiment("obs-mnist")
    config = experiment.config(_args(group_sizes="1,64"), [0, 1, 2])
    stats = {"build_gflops": 40.0, "downdate_gflops": 45.0, "build_s": 30.0, "downdate_s": 200.0,
             "compact_s": 20.0, "select_s": 50.0, "groups": 31000}
    results = {}
    for seed in config["seeds"]:
        for label, spec in config["variants"].items():
            acc = [96, 95, 93, 90 if "full" in label else 80, 70]
            results[f"{label}.seed={seed}"] = _fake_unit(label, seed, 97.0 + seed / 10, acc,
                                                         stats if spec["method"] == "obs-full" else None)
    summary = experiment.summarize(config, results)
    claims = {c["id"]: c for c in summary["claims"]}
    assert set(claims) == {"full-obs-vs-layer-obs-95", "sequential-vs-one-step-layer-95",
                           "full-obs-vs-diag-fisher-95"}
    for claim in claims.values():  # each on our model, none against a number measured on another model
        assert claim["statement"].startswith("On our model") and "task mnist" in claim["metric"]
        assert claim["paper_value"] is None
    assert claims["full-obs-vs-layer-obs-95"]["values"] == [10, 10, 10]
    assert [t["id"] for t in summary["tables"]] == ["obs-mnist-accuracy", "obs-mnist-woodfisher",
                                                    "obs-mnist-cost", "obs-mnist-group-size"]
    woodfisher = {row[0].split(" vs ")[0]: row for row in summary["tables"][1]["rows"]}
    assert woodfisher["woodfisher-protocol"][2] == 84.18 and woodfisher["-"][1] == "not run"
    assert {c["series"] for c in summary["curves"]} == set(config["variants"])


@pytest.fixture(scope="module")
def problem():
    model, _, X, Y = tiny_problem(seed=0)
    y = (Y.reshape(-1) > 0.5).long()
    task = tasks.Task("tiny", "monks-1", "monk-17-3-1", "mse", "binary", TrainConfig())
    return model, task, tasks.TaskData(X, Y, y, X, Y, y)


SPARSITIES = [0.25, 0.75]
COUNTS = [14, 44]
"""round(s x 58) for the 58 weights of the tiny net: 14.5 -> 14 and 43.5 -> 44 (half to even)."""


def test_obs_variant_is_one_path_and_each_point_is_the_one_shot_net(problem):
    model, task, data = problem
    params = {"hessian": "fisher", "damping": 1e-3, "group_size": 1, "dtype": "float64"}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = run_variant(model, task, data, {"method": "obs-full", "params": params}, SPARSITIES, 0, None)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "the model was modified"
    assert out["stats"] is not None and out["wall_s"] > 0
    for s, count, point in zip(SPARSITIES, COUNTS, out["points"], strict=True):
        alone = masked_copy(model)
        result = prune.step(alone, methods.get("obs-full", seed=0, **params), task.loss_fn(), data.x_train,
                            data.t_train, count=count)
        ev = evaluate(alone, task, data)
        assert point["sparsity"] == s and point["achieved_sparsity"] == pytest.approx(count / 58, abs=1e-15)
        assert point["train_loss"] == pytest.approx(ev.loss, rel=1e-9)
        assert point["predicted_change"] == pytest.approx(result.predicted_change, rel=1e-9)


def test_a_variant_without_update_is_ranked_once_and_cut_at_each_sparsity(problem):
    model, task, data = problem
    out = run_variant(model, task, data, {"method": "magnitude", "params": {"scope": "global"}}, SPARSITIES, 0,
                      None)
    assert out["stats"] is None
    for count, point in zip(COUNTS, out["points"], strict=True):
        alone = masked_copy(model)
        prune.step(alone, methods.get("magnitude", scope="global"), task.loss_fn(), data.x_train, data.t_train,
                   count=count)
        assert point["achieved_sparsity"] == pytest.approx(count / 58, abs=1e-15)
        assert point["train_loss"] == pytest.approx(evaluate(alone, task, data).loss, rel=1e-12)
        assert point["predicted_change"] is None
