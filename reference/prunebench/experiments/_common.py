"""What several experiments share: a masked copy of a model to prune, the intra-op thread count of a block, and a
meter of run time and memory."""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Iterator

import psutil
import torch

from .. import prune
from ..methods.base import Selection

__all__ = ["Meter", "masked_copy", "synchronize", "torch_threads"]


def masked_copy(model):
    """A copy of ``model`` with an all-ones ``torch.nn.utils.prune`` mask on every prunable tensor, so that
    parameter names (``<layer>.weight_orig``) stay the same while entries are deleted."""
    net = copy.deepcopy(model)
    prune.apply_selection(net, Selection(), prune.prunable_names(net))
    return net


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def synchronize(device: torch.device) -> None:
    """Wait for the queued kernels of a CUDA ``device`` (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Meter:
    """Wall and CPU seconds of the measured spans (``with meter.span():``) and the peak memory over the whole
    ``with Meter(device):`` block: the process's resident set size sampled every ``interval`` seconds on the
    CPU, ``torch.cuda.max_memory_allocated`` on a GPU. ``peak_gb`` is the peak, ``extra_gb`` the peak minus
    the memory in use when the block started."""

    def __init__(self, device: torch.device | str = "cpu", interval: float = 0.02):
        self.device = torch.device(device)
        self.interval = interval
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.peak_gb = 0.0
        self.extra_gb = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> Meter:
        self._process = psutil.Process()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            self._base = self._process.memory_info().rss
            self._peak = self._base
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, self._process.memory_info().rss)
        self.peak_gb = peak / 1e9
        self.extra_gb = (peak - self._base) / 1e9

    def span(self) -> _Span:
        return _Span(self)


class _Span:
    def __init__(self, meter: Meter):
        self.meter = meter

    def __enter__(self) -> None:
        synchronize(self.meter.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __exit__(self, *exc) -> None:
        synchronize(self.meter.device)
        self.meter.wall_s += time.perf_counter() - self.wall
        self.meter.cpu_s += time.process_time() - self.cpu
