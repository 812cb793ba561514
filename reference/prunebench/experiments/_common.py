"""What several experiments share: a masked copy of a model to prune and a meter of run time and memory."""

from __future__ import annotations

import copy
import time

import torch

from .. import _measure, prune
from ..methods.base import Selection

__all__ = ["Meter", "masked_copy", "synchronize"]


def masked_copy(model):
    """A copy of ``model`` with an all-ones ``torch.nn.utils.prune`` mask on every prunable tensor, so that
    parameter names (``<layer>.weight_orig``) stay the same while entries are deleted."""
    net = copy.deepcopy(model)
    prune.apply_selection(net, Selection(), prune.prunable_names(net))
    return net


def synchronize(device: torch.device) -> None:
    """Wait for the queued kernels of a CUDA ``device`` (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Meter:
    """Wall and CPU seconds of the measured spans (``with meter.span():``) and the peak memory over the whole
    ``with Meter(device):`` block (:func:`prunebench._measure.measure`: the process's peak resident set on the
    CPU, ``torch.cuda.max_memory_allocated`` on a GPU). ``extra_gb`` is the peak above the memory in use when
    the block started, ``peak_gb`` that plus the memory in use then."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.peak_gb = 0.0
        self.extra_gb = 0.0
        self._block = None

    def __enter__(self) -> Meter:
        self._block = _measure.measure(str(self.device))
        self._usage = self._block.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._block.__exit__(*exc)
        extra, base = self._usage.peak_bytes or 0, self._usage.base_bytes or 0
        self.peak_gb = (base + extra) / 1e9
        self.extra_gb = extra / 1e9

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
