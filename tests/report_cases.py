"""Synthetic records that follow docs/record-schema.md, for the tests of ``prunebench.report`` (tests/report/)."""

import copy
from pathlib import Path

from prunebench import records, report

COMMIT = "0123456789abcdef" * 2 + "01234567"
PROVENANCE = {"command": "prunebench reproduce toy --out results/toy", "prunebench": "0.1.0",
              "git_commit": COMMIT, "dirty": False,
              "units": [{"git_commit": COMMIT, "dirty": False, "prunebench": "0.1.0", "units": 3, "stale": 0}],
              "python": "3.11.9", "torch": "2.13.0", "numpy": "2.4.6",
              "device": "cpu", "device_name": "x86_64", "dtype": "float64", "seeds": [0, 1, 2],
              "wall_time_s": 12.34, "created": "2026-11-21T10:00:00Z"}
ORIGIN = "toy/record.json, sha256 abababababababab"


def toy_claim(**overrides):
    claim = {"id": "c1", "statement": "OBS keeps 14 weights", "source": "[secondary] MONK table",
             "paper_value": 14, "metric": "weights left", "unit": "weights", "values": [13.0, 14.0, 15.0],
             "rule": {"op": "within", "target": 14, "tolerance": 1},
             "tolerance_note": "one weight either way"}
    return {**claim, **overrides}


def toy_curves():
    rows = []
    for series, slope in (("obd", 1.0), ("magnitude", 2.0), ("obd+retrain", 0.5), ("custom curve", 3.0)):
        for seed in range(3):
            for x in (0.0, 1.0, 2.0, 3.0):
                for panel in ("train", "test"):
                    rows.append({"figure": "f1", "series": series, "seed": seed, "x": x, "panel": panel,
                                 "y": slope * x + 0.1 * seed})
    return rows


def toy_record(kind="toy", **results):
    body = {"title": "Toy experiment", "paper": "hassibi1993obs", "claims": [toy_claim()],
            "tables": [{"id": "t1", "title": "Weights", "columns": ["problem", "paper", "ours"],
                        "rows": [["MONK-1", 14, 14.5], ["MONK-2", 15, None]], "notes": ["incl. biases"]}],
            "curves": toy_curves(),
            "figures": [{"id": "f1", "title": "Loss", "xlabel": "deleted", "ylabel": "loss", "logy": False,
                         "logx": False, "panels": ["train", "test"], "caption": "Toy curves."}],
            "deviations": ["synthetic data"], "per_seed": {"raw": [1, 2, 3]}}
    body.update(results)
    return records.make_record(kind, {"quick": False, "seeds": [0, 1, 2]}, body, copy.deepcopy(PROVENANCE))


def write_record(results_dir: Path, record: dict) -> Path:
    return records.atomic_write_json(results_dir / record["kind"] / "record.json", record)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


README = ("# project\n\n## Reproduced results\n\n" + report.README_BEGIN + "\n" + report.README_END
          + "\n\n## How to cite\n\n" + report.CITE_BEGIN + "\n" + report.CITE_END + "\n")
