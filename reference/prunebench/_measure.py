"""One meter for the cost of a block of code: wall time and peak memory above what was in use before it.

CPU: the process's peak resident set size (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``) minus its
resident set just before; memory the allocator kept from earlier work and reuses is not counted, and where the
peak cannot be reset (not Linux) it is ``None``. CUDA: the increase of ``torch.cuda.max_memory_allocated``, with
the device synchronised before the clock starts and before it stops. :func:`tensor_memory`: the CPU's tensor
memory alone, exact to the byte, for peaks too small for the resident set.

>>> with measure() as usage:
...     total = sum(range(1000))
>>> usage.seconds >= 0
True
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Usage", "measure", "tensor_memory"]


@dataclass
class Usage:
    """What :func:`measure` saw: ``seconds`` of wall time, ``peak_bytes`` above the memory in use before, and
    ``base_bytes`` in use before (both None where they cannot be measured)."""

    seconds: float = 0.0
    peak_bytes: int | None = None
    base_bytes: int | None = None

    @property
    def peak_mib(self) -> float | None:
        """``peak_bytes`` in MiB (2**20 bytes)."""
        return None if self.peak_bytes is None else self.peak_bytes / 2**20


def _status_bytes(key: str) -> int:
    """A size field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {key}")


def _reset_peak_rss() -> int | None:
    """Reset the kernel's peak-RSS mark of this process; the RSS now (bytes), or None where that is impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_bytes("VmRSS")
    except OSError:
        return None


@contextlib.contextmanager
def measure(device: str = "cpu") -> Iterator[Usage]:
    """Measure the ``with`` block on ``device`` (``"cpu"`` or ``"cuda[:N]"``); the :class:`Usage` yielded is
    filled in when the block ends (after a garbage collection before it starts)."""
    usage = Usage()
    gc.collect()
    cuda = device.startswith("cuda")
    if cuda:
        import torch

        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    else:
        before = _reset_peak_rss()
    usage.base_bytes = before
    start = time.perf_counter()
    yield usage
    if cuda:
        torch.cuda.synchronize(device)
    usage.seconds = time.perf_counter() - start
    if cuda:
        usage.peak_bytes = torch.cuda.max_memory_allocated(device) - before
    elif before is not None:
        usage.peak_bytes = max(_status_bytes("VmHWM") - before, 0)


@contextlib.contextmanager
def tensor_memory() -> Iterator[Usage]:
    """Measure the CPU tensor memory of the ``with`` block: ``peak_bytes``, the peak of the bytes torch's allocator
    holds for tensors above what it held before, summed from ``torch.profiler``'s allocation and free events,
    exact to the byte (Python objects and NumPy arrays are not counted); ``seconds`` includes the profiler's
    overhead. The resident set of :func:`measure` cannot resolve peaks below a few hundred KiB: glibc serves
    blocks from free heap chunks that are already resident."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    usage = Usage(base_bytes=0)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        yield usage
    usage.seconds = time.perf_counter() - start
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
    held = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        held += event.nbytes()  # positive when allocated, negative when freed
        peak = max(peak, held)
    usage.peak_bytes = peak
