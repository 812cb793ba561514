"""The leaderboard's shared fixture: a small board on XOR, run and rendered once per module."""

import shutil
from pathlib import Path

import pytest

from prunebench import leaderboard as lb

README_STUB = f"# stub\n\n{lb.README_BEGIN}\n{lb.README_END}\n"


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A small leaderboard on XOR (built in, trains in well under a second): 2 entries, 2 seeds, 2 sparsities."""
    out = tmp_path_factory.mktemp("board")
    entries = lb.resolve_methods(["magnitude-global", "obs-exact"])
    lb.run(["xor"], entries, seeds=[0, 1], sparsities=[0.25, 0.5], out=out, progress=False)
    (out / "README.md").write_text(README_STUB)
    lb.render(out, out / "README.md")
    return out


@pytest.fixture
def board_copy(board, tmp_path) -> Path:
    """A copy of :func:`board` to tamper with."""
    target = tmp_path / "board"
    shutil.copytree(board, target)
    return target
