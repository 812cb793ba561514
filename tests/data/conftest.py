"""Fixtures of the data tests."""

import pytest

from prunebench import data
from prunebench.data import fetch


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No environment root, no checkout root, a private cache: only what a test writes is found."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(fetch, "_find_checkout", lambda start: None)
    return tmp_path
