"""The meter: wall time is non-negative and covers the block; a large allocation shows in the peak."""

import time

import pytest

from prunebench._measure import Usage, measure


def test_time_is_non_negative_and_covers_the_block():
    with measure() as usage:
        pass
    assert usage.seconds >= 0
    with measure() as usage:
        time.sleep(0.05)
    assert usage.seconds >= 0.05


def test_a_large_allocation_shows_in_the_peak():
    """256 MiB of torch memory, touched and freed inside the block: the peak counts it (tracemalloc would not)."""
    import torch

    with measure("cpu") as usage:
        scratch = torch.ones(2**26, dtype=torch.float32)
        assert float(scratch[-1]) == 1.0
        del scratch
    if usage.peak_bytes is None:
        pytest.skip("no /proc/self/clear_refs here: peak memory is not measured on this platform")
    assert 200 <= usage.peak_mib <= 400
    with measure("cpu") as small:
        pass
    assert 0 <= small.peak_bytes < usage.peak_bytes


def test_peak_in_mib():
    assert Usage(seconds=1.0, peak_bytes=3 * 2**20).peak_mib == 3.0
    assert Usage().peak_mib is None


@pytest.mark.cuda
def test_cuda_peak_is_the_allocated_increase():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    with measure("cuda") as usage:
        scratch = torch.ones(2**26, dtype=torch.float32, device="cuda")
        del scratch
    assert usage.seconds >= 0 and usage.peak_bytes == 2**28
