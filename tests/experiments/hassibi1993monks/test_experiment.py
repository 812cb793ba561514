"""The obs-monks experiment (prunebench.experiments.hassibi1993monks.experiment): a smoke run through the CLI."""

import json

import pytest

from prunebench.experiments.hassibi1993monks.protocol import PAPER


@pytest.mark.data
def test_obs_monks_quick_run(reproduce_quick, data_root):
    record, _ = reproduce_quick("obs-monks", "--seeds", "1", "--root", str(data_root))
    results = record["results"]
    assert [t["id"] for t in results["tables"]] == ["monks-bpwd", "monks-pruning"]
    ids = {c["id"] for c in results["claims"]}
    assert {f"{p}-obs-weights" for p in PAPER} <= ids and {f"{p}-obs-vs-obd" for p in PAPER} <= ids
    for seed in results["per_seed"]:
        dense = seed["dense"]
        assert dense[0] == PAPER[seed["problem"]]["bpwd_weights"]
        for label in ("obs", "obd", "magnitude"):
            left, train = seed["variants"][label]["result"][:2]
            assert left < dense[0] and train >= dense[1]  # the accuracy rule kept the training accuracy
    figures = {f["id"] for f in results["figures"]}
    assert figures == {row["figure"] for row in results["curves"]} == {"monks-train-accuracy"}
    json.dumps(record, allow_nan=False)
