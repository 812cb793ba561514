"""Records: versioned schema, provenance, atomic writes."""

import json

import pytest

from prunebench import records


def _record():
    return records.make_record("unit", {"a": 1}, {"per_seed": [1.0, 2.0]},
                               records.provenance(seeds=[0, 1], wall_time=0.5))


def test_provenance_has_every_required_field():
    prov = records.provenance(seeds=[3], wall_time=1.25, command="prunebench x")
    for key in ("command", "prunebench", "git_commit", "torch", "numpy", "device", "device_name", "dtype",
                "seeds", "wall_time_s"):
        assert key in prov
    assert prov["seeds"] == [3] and prov["command"] == "prunebench x"


def test_round_trip(tmp_path):
    rec = _record()
    path = records.atomic_write_json(tmp_path / "sub" / "r.json", rec)
    assert records.read_record(path) == rec
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_schema_violation_names_the_field(tmp_path):
    rec = _record()
    rec["provenance"]["seeds"] = ["zero"]
    with pytest.raises(records.RecordError, match="at provenance/seeds/0: 'zero' is not of type 'integer'"):
        records.validate_record(rec)
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(records.RecordError, match="is not valid JSON"):
        records.read_record(path)


def test_failed_write_leaves_old_file_intact(tmp_path):
    path = tmp_path / "r.json"
    records.atomic_write_json(path, {"v": 1})
    with pytest.raises(ValueError):
        records.atomic_write_json(path, {"v": float("nan")})  # NaN is not JSON: refused before the rename
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
