"""Shared fixtures: an isolated checkpoint cache per test session and the external data root when present."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Trained checkpoints go to a per-session folder unless PRUNEBENCH_CACHE is set (CI keeps its own)."""
    if "PRUNEBENCH_CACHE" not in os.environ:
        os.environ["PRUNEBENCH_CACHE"] = str(tmp_path_factory.mktemp("prunebench-cache"))
    yield


CLEAN_COMMIT = "0123456789abcdef" * 2 + "01234567"


@pytest.fixture(scope="session", autouse=True)
def _clean_source():
    """Tests run in a checkout that may hold uncommitted work; the code under test sees a clean tree at a fixed
    commit (tests of the dirty-tree rules patch :func:`prunebench.records.git_state` themselves; the real one
    stays at ``records.real_git_state``)."""
    from prunebench import records

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(records, "real_git_state", records.git_state, raising=False)
        patch.setattr(records, "git_state", lambda outputs=(): {"commit": CLEAN_COMMIT, "dirty": False,
                                                                "changed": [], "diff_sha256": None})
        yield


def shared_data_root() -> Path | None:
    """``PRUNEBENCH_DATA`` or ``../shared/datasets`` beside the checkout, when it exists."""
    env = os.environ.get("PRUNEBENCH_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "datasets")
    return next((c for c in candidates if c.is_dir()), None)


@pytest.fixture
def data_root() -> Path:
    """The folder with the verified external datasets; skips the test with a reason when it is absent."""
    root = shared_data_root()
    if root is None:
        pytest.skip("external datasets not found: set PRUNEBENCH_DATA to a folder with monks/, usps/, mnist/, nettalk/")
    return root


def needs_dataset(root: Path | None, folder: str) -> None:
    if root is None or not (root / folder).is_dir():
        pytest.skip(f"dataset folder {folder!r} not found under the data root; set PRUNEBENCH_DATA")


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny kernels: OpenMP wake-up latency dominates them on a shared CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
