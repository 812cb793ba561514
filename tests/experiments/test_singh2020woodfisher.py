"""The woodfisher-mnist experiment: its units, claims and tables from synthetic unit results (no data needed)."""

from __future__ import annotations

import argparse

from prunebench.experiments import get
from prunebench.experiments.singh2020woodfisher import METHODS, PER_SEED, PUBLISHED


def _args(**kw):
    base = {"quick": False, "device": "cpu", "root": None, "ours_seeds": "0,1"}
    return argparse.Namespace(**{**base, **kw})


def _result(label: str, spec: dict, top1: float, top5: float, dense: float | None = None) -> dict:
    out = {"label": label, "method": spec["method"], "params": spec["params"], "ranking": spec["ranking"],
           "samples": spec["samples"], "test_accuracy": top1, "top5_accuracy": top5, "seconds": 1.0,
           "peak_gb": 0.5, "sparsity": 0.95}
    if dense is not None:
        out["fit"] = {"test_accuracy": dense, "train_accuracy": dense}
    return out


def test_units_cover_every_part_and_the_sweep():
    experiment = get("woodfisher-mnist")
    config = experiment.config(_args(), [0, 1, 2])
    ids = [u["id"] for u in experiment.units(config)]
    assert {f"published.{label}" for label in METHODS} <= set(ids)
    assert {f"recipe.{label}.seed={s}" for label in PER_SEED for s in (0, 1, 2)} <= set(ids)
    assert {f"ours.{label}.seed={s}" for label in PER_SEED for s in (0, 1)} <= set(ids)
    assert "sweep.woodfisher-block.n=4096.damping=1e-05" in ids and "sweep.kfac.n=100.damping=0.001" in ids
    assert ids[-1].startswith("published.full-obs")  # the expensive units last
    assert len(ids) == len(set(ids))


def test_summary_claims_tables_and_decomposition():
    experiment = get("woodfisher-mnist")
    config = experiment.config(_args(), [0, 1])
    units = experiment.units(config)
    accuracy = {"woodfisher-block": 0.8418, "woodfisher-block-layer": 0.30, "diagfisher-layer": 0.1988,
                "diagfisher-global": 0.78, "kfac": 0.8100}
    results = {}
    for u in units:
        top1 = accuracy.get(u["label"], 0.85)
        dense = None if u["model"] == "published" else 0.915
        results[u["id"]] = _result(u["label"], u["spec"], top1, 0.99, dense)
    summary = experiment.summarize(config, results)
    claims = {c["id"]: c for c in summary["claims"]}
    assert claims["published-woodfisher-block-top-1"]["values"] == [84.18]
    assert claims["published-woodfisher-block-top-1"]["rule"] == {"op": "within", "target": 84.18,
                                                                  "tolerance": 0.5}
    assert claims["published-kfac-top-1"]["values"] == [81.0]
    assert claims["published-full-obs-g64-vs-woodfisher-block"]["rule"] == {"op": ">=", "threshold": 84.18}
    assert claims["recipe-dense-accuracy"]["values"] == [91.5, 91.5]
    tables = {t["id"]: t for t in summary["tables"]}
    assert set(tables) == {"woodfisher-mnist-published", "woodfisher-mnist-gap", "woodfisher-mnist-sensitivity",
                           "woodfisher-mnist-recipe", "woodfisher-mnist-ours"}
    gap = {row[0]: row[1] for row in tables["woodfisher-mnist-gap"]["rows"]}
    assert gap["WoodFisher (global) - diagonal Fisher (layer): the published gap"] == 64.3
    assert gap["ranking first: ranking scope (diagfisher-global - diagfisher-layer)"] == 58.12
    published = {row[0]: row for row in tables["woodfisher-mnist-published"]["rows"]}
    assert published["kfac"][4] == PUBLISHED["kfac"][0]
    assert published["woodfisher-block"][-1].startswith("prunebench prune --task mnist-woodfisher")
    assert "--sample-order 1" in published["woodfisher-block"][-1]
    assert "different model" in tables["woodfisher-mnist-ours"]["notes"][0]
