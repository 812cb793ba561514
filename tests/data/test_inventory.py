"""prunebench.data.inventory: the status of every dataset and its table, on tiny files and on the real root."""

from __future__ import annotations

import pytest

from datafiles import MONKS_TEST, MONKS_TRAIN, monks_bytes, register, usps_bytes, write
from prunebench import data


def test_status_states_and_table(isolated, monkeypatch):
    usps = {"zip.train.gz": usps_bytes([1]), "zip.test.gz": usps_bytes([2])}
    monks = {"monks-1.train": monks_bytes(MONKS_TRAIN), "monks-1.test": monks_bytes(MONKS_TEST)}
    register(monkeypatch, "usps", usps)
    register(monkeypatch, "monks-1", monks)
    write(isolated / "root", "usps", usps)
    write(isolated / "root", "monks", {**monks, "monks-1.test": b"damaged"})
    rows = {r.name: r for r in data.status(isolated / "root")}
    assert list(rows) == data.names()
    assert rows["usps"].state == "verified" and rows["usps"].paths == (str(isolated / "root" / "usps"),)
    assert rows["monks-1"].state == "corrupt" and "monks-1.test" in rows["monks-1"].detail
    assert rows["xor"].state == "builtin" and rows["digits"].state == "builtin"
    assert rows["mnist"].state == "missing"
    assert rows["mnist"].paths == tuple(str(r / "mnist") for r in data.data_roots(isolated / "root"))
    table = data.format_status(rows.values())
    assert table.splitlines()[0].split() == ["dataset", "state", "location", "detail"]
    for path in rows["mnist"].paths:
        assert path in table
    assert data.format_status([]).split() == ["dataset", "state", "location", "detail"]


@pytest.mark.data
def test_real_status(data_root):
    states = {r.name: r.state for r in data.status(data_root)}
    folders = {n: data.SPECS[n].folder for n in data.names()}
    present = {n for n, folder in folders.items() if folder and (data_root / folder).is_dir()}
    assert {n: states[n] for n in present} == dict.fromkeys(present, "verified")
