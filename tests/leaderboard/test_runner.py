"""Running entries: bad input refused, the saliency cost measured, entries written and resumed."""

import pytest

from prunebench import leaderboard as lb
from prunebench.leaderboard import runner


def test_run_refuses_bad_sparsities(tmp_path):
    expected = r"sparsities must be increasing, distinct and in \(0, 1\).*got \[0\.9, 0\.5\]"
    with pytest.raises(ValueError, match=expected):
        lb.run(["xor"], lb.resolve_methods(["random"]), seeds=[0], sparsities=[0.9, 0.5], out=tmp_path)


def test_saliency_cost_sees_tensor_memory():
    """The peak-memory measure counts torch allocations (which tracemalloc would miss): a saliency that holds a
    256 MiB temporary reports at least most of it (allocator reuse can hide only what was freed before)."""
    import torch

    from prunebench.methods import Magnitude
    from prunebench.testing import tiny_problem

    class Hungry(Magnitude):
        def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
            scratch = torch.ones(2**26, dtype=torch.float32)  # 256 MiB, touched
            assert float(scratch[-1]) == 1.0
            return super().saliency(model, loss_fn, inputs, targets, mask=mask)

    model, loss_fn, X, Y = tiny_problem()
    cost = runner._saliency_cost(Hungry(), model, loss_fn, X, Y, "cpu")
    assert cost["saliency_time_s"] > 0
    if cost["saliency_peak_mib"] is None:
        pytest.skip("no /proc/self/clear_refs here: peak memory is not measured on this platform")
    assert 200 <= cost["saliency_peak_mib"] <= 400


def test_run_writes_valid_entries_and_resumes(board):
    paths = sorted((board / "entries" / "xor").glob("*.json"))
    assert [p.stem for p in paths] == ["magnitude-global", "obs-exact"]
    entry = lb.read_entry(paths[1])
    assert entry["method"]["params"]["hessian"] == "exact"
    assert entry["method"]["distribution"]["name"] == "prunebench"
    assert [row["seed"] for row in entry["per_seed"]] == [0, 1]
    assert entry["aggregate"]["one_shot"][0]["test_accuracy"]["n"] == 2
    assert entry["provenance"]["seeds"] == [0, 1]
    units = sorted((board / ".work" / "xor" / "obs-exact" / "units").glob("*.json"))
    stamps = [u.stat().st_mtime_ns for u in units]
    lb.run(["xor"], lb.resolve_methods(["obs-exact"]), seeds=[0, 1], sparsities=[0.25, 0.5], out=board,
           progress=False)
    assert [u.stat().st_mtime_ns for u in units] == stamps  # resumed: no unit recomputed
    with pytest.raises(ValueError, match=r"holds units of a different configuration \(differs in \['sparsities'\]\)"):
        lb.run(["xor"], lb.resolve_methods(["obs-exact"]), seeds=[0], sparsities=[0.5], out=board, progress=False)
