"""The experiment harness: seeds, unit files, resume, configuration guard, parallel runs give the same record."""

import argparse
import json

import pytest

from prunebench import experiments, records
from prunebench.experiments import base


class Squares(base.Experiment):
    """A toy experiment: one unit per seed, result seed**2; counts how often run_unit is called."""

    name = "toy-squares"
    title = "toy"
    paper = "prunebench2026"
    default_seeds = 3
    calls: list[str] = []

    def units(self, config):
        return [{"id": f"seed={s}", "seed": s} for s in config["seeds"]]

    def run_unit(self, config, unit):
        Squares.calls.append(unit["id"])
        return {"value": unit["seed"] ** 2}

    def summarize(self, config, results):
        return {"claims": [], "per_seed": {k: v["value"] for k, v in sorted(results.items())}}


@pytest.fixture
def toy():
    Squares.calls = []
    return Squares()


def _args(out, **kw):
    defaults = {"seeds": None, "quick": False, "device": "cpu", "root": None, "out": str(out), "jobs": 1,
                "scheduler": None, "no_progress": True}
    return argparse.Namespace(**{**defaults, **kw})


@pytest.mark.parametrize(("text", "expected"), [("3", [0, 1, 2]), ("0,5,7", [0, 5, 7]), (None, [0, 1, 2, 3])])
def test_parse_seeds(text, expected):
    assert base.parse_seeds(text, 4) == expected


@pytest.mark.parametrize("text", ["-1", "a,b", "0", "1,1", "1.5"])
def test_parse_seeds_rejects_bad_input(text):
    with pytest.raises(ValueError, match="--seeds must"):
        base.parse_seeds(text, 4)


def test_units_are_written_and_skipped_on_rerun(toy, tmp_path):
    path = base.execute(toy, _args(tmp_path))
    record = records.read_record(path)
    assert record["results"]["per_seed"] == {"seed=0": 0, "seed=1": 1, "seed=2": 4}
    assert sorted(p.name for p in (tmp_path / "units").iterdir()) == ["seed=0.json", "seed=1.json", "seed=2.json"]
    assert Squares.calls == ["seed=0", "seed=1", "seed=2"]
    (tmp_path / "units" / "seed=1.json").unlink()  # as if the run had been killed before this unit finished
    again = records.read_record(base.execute(toy, _args(tmp_path)))
    assert Squares.calls[3:] == ["seed=1"]
    assert again["results"] == record["results"]


def test_a_different_configuration_is_refused(toy, tmp_path):
    base.execute(toy, _args(tmp_path))
    with pytest.raises(ValueError, match=r"different configuration \(differs in \['seeds'\]\).*another --out"):
        base.execute(toy, _args(tmp_path, seeds="5"))


def test_bad_jobs_is_refused(toy, tmp_path):
    with pytest.raises(ValueError, match="--jobs must be a positive integer; got 0"):
        base.execute(toy, _args(tmp_path, jobs=0))


def test_unknown_experiment_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"experiment must be one of \[.*'obs-xor'.*\] \(or 'all'\); got 'obs-foo'"):
        experiments.get("obs-foo")


def test_config_is_saved_as_json(toy, tmp_path):
    base.execute(toy, _args(tmp_path, seeds="0,2"))
    assert json.loads((tmp_path / "config.json").read_text())["seeds"] == [0, 2]


def test_a_run_whose_data_is_missing_fails_before_any_unit(tmp_path, monkeypatch):
    # obd-usps reads USPS from the data root: with an empty root it must stop at once with the data message,
    # leaving no config or units behind (nothing half-started to resume).
    from prunebench.data import DatasetError
    from prunebench.experiments import get

    # Only the empty root is searched (not $PRUNEBENCH_DATA, the checkout or the user cache), and offline.
    monkeypatch.setattr("prunebench.data.data_roots", lambda root=None: [tmp_path / "empty"])
    monkeypatch.setattr("prunebench.data._download", lambda spec, roots: (_ for _ in ()).throw(
        DatasetError(f"dataset {spec.name!r} not found (offline test)")))
    experiment = get("obd-usps")
    args = argparse.Namespace(seeds="1", quick=True, device="cpu", root=str(tmp_path / "empty"), jobs=1,
                              scheduler=None, no_progress=True, out=str(tmp_path / "out"))
    for action in experiment_parser_defaults(experiment):
        setattr(args, *action)
    with pytest.raises(DatasetError, match="usps"):
        base.execute(experiment, args)
    assert not (tmp_path / "out").exists()


def experiment_parser_defaults(experiment):
    """(dest, default) of the experiment's own options, as its parser would give them."""
    parser = argparse.ArgumentParser()
    experiment.add_arguments(parser)
    return [(a.dest, a.default) for a in parser._actions if a.dest != "help"]
