"""Shared set-up of the asv suite: anchor models, seeded synthetic batches, devices, dtypes, explicit skips.

The suite always comes from the working tree while the package comes from the commit being measured, so this
module imports only torch and :mod:`prunebench.models` (present since the first commit) at import time. Newer
parts of the package are fetched inside ``setup`` with :func:`require`, which turns their absence into a skip.

A skip is ``NotImplementedError`` raised in ``setup`` (asv's convention): CUDA cases where there is no GPU,
and combinations that are unsupported or infeasible (a dense P x P matrix of a model with 40,000 parameters).

Environment:
    PRUNEBENCH_BENCH_THREADS: torch CPU threads per benchmark (default 1, so that results do not depend on how
        many other jobs share the machine; set it to the core count on a dedicated machine).
"""

from __future__ import annotations

import ctypes
import importlib
import os
from dataclasses import dataclass
from functools import cache
from typing import NoReturn

import torch
from torch import nn

from prunebench.models import build


def _steady_allocator() -> None:
    """glibc: keep freed blocks up to 32 MiB in the heap for reuse (mmap threshold 32 MiB, trim threshold 64 MiB),
    the steady state of a long run and the setting of ``prunebench bench-report``'s timing phase. Under glibc's
    defaults a call's large temporaries are often handed back and faulted in again on the next call, depending on
    the heap's history: the GGN diagonal of lenet-usps measured 16 ms to 31 ms (median) in repeated runs of one
    commit, so the suite would time the allocator, not the code. Written here rather than imported from
    ``prunebench.report.bench``: the suite also measures old commits, whose package lacks it."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to set
        return
    libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
    libc.mallopt(-1, 64 * 2**20)  # M_TRIM_THRESHOLD


_steady_allocator()

ANCHOR_MODELS = ["mlp-64-32-10", "mlp-256-128-64-10", "lenet-usps", "lenet-300-100", "monk-17-3-1",
                 "monk-17-2-1", "mlp-784-40-20-10"]
"""The anchor models of the curvature benchmark (lenet-300-100 is the MLP 784-300-100-10 of the speed targets)."""

ZOO_MODELS = ["mlp-64-32-10", "mlp-256-128-64-10", "lenet-300-100", "mlp-784-40-20-10", "mlp-64-32x6-10",
              "lenet-usps", "lenet1990", "lenet-zip1989", "cnn-dwsep", "cnn-dilated", "cnn-relu-maxpool"]
"""The benchmark zoo of ``prunebench bench-report --zoo`` (``prunebench.report.bench.ZOO_MODELS``; a test keeps
the two equal), timed on CPU in float32 at batch :data:`ZOO_BATCH` with cross-entropy for every model."""
ZOO_BATCH = 256

DEVICES = ["cpu", "cuda"]
DTYPES = ["float32", "float64"]
BATCHES = [32, 128]

DIAG_METHODS = ["exact", "lecun", "lecun-lm", "ggn", "fisher", "hutchinson"]
BACKENDS = ["native", "torchfunc", "backpack", "curvlinops"]
INVERSE_METHODS = ["recursion", "woodbury", "cholesky", "block-diagonal"]

HUTCHINSON_PROBES = 10
"""Rademacher probes per Hutchinson estimate in the benchmarks (its cost is linear in the probes)."""

DENSE_ORACLE_LIMIT = 2500
"""Largest parameter count for the torch.func dense oracle (P backward passes and a P x P matrix)."""

DENSE_INVERSE_LIMIT = 8000
"""Largest P (or largest block, for block-diagonal) of a dense inverse: 8000^2 float64 entries are 512 MB."""

THREADS = int(os.environ.get("PRUNEBENCH_BENCH_THREADS", "1"))


def skip(reason: str) -> NoReturn:
    """Skip the current parameter combination (asv records it as skipped, not failed)."""
    raise NotImplementedError(reason)


def require(module: str, name: str | None = None):
    """Import ``prunebench.<module>`` (and its attribute ``name``); skip when this commit does not have it."""
    try:
        mod = importlib.import_module(f"prunebench.{module}")
        return mod if name is None else getattr(mod, name)
    except (ImportError, AttributeError) as exc:
        skip(f"prunebench.{module}{'.' + name if name else ''} is not available in this commit ({exc})")


def use_device(device: str) -> torch.device:
    """The torch device for ``device`` ("cpu" or "cuda"), with the benchmark thread count set; skips CUDA when
    there is no GPU."""
    torch.set_num_threads(THREADS)
    if device == "cuda" and not torch.cuda.is_available():
        skip("no CUDA device on this machine")
    return torch.device(device)


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timing covers the computation and not only its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@cache
def parameter_count(model: str) -> int:
    return build(model).free_parameters()


def largest_block(model: str) -> int:
    """Parameters of the largest layer (weight and bias together): a layer-block-diagonal inverse's block."""
    net = build(model)
    return max(sum(p.numel() for p in m.parameters(recurse=False)) for m in net.modules()
               if any(True for _ in m.parameters(recurse=False)))


@dataclass
class Problem:
    """A model, its objective and one batch: ``E = loss_fn(model(inputs), targets)``."""

    model: nn.Module
    loss_fn: nn.Module
    inputs: torch.Tensor
    targets: torch.Tensor
    device: torch.device

    def gradient(self) -> tuple[torch.Tensor, ...]:
        """One gradient of E with respect to every parameter (forward and backward pass): the baseline."""
        params = [p for p in self.model.parameters()]
        loss = self.loss_fn(self.model(self.inputs), self.targets)
        return torch.autograd.grad(loss, params)

    def sync(self) -> None:
        sync(self.device)


@cache
def problem(model: str, device: str, dtype: str, batch: int, seed: int = 0, loss: str = "task") -> Problem:
    """A seeded ``model`` and a synthetic standard-normal batch of ``batch`` samples (``device``, ``dtype``).

    Loss (reduction "mean"), as the models' tasks train them: cross-entropy with class-index targets for the
    nets that end in a Linear layer (logits: the 64-32-10 and 256-128-64-10 MLPs, LeNet-300-100,
    784-40-20-10); MSE for the nets that end in a squashing function, with targets in its range (0/1 for the
    sigmoid MONK nets, one-hot -1/+1 for LeNet's scaled tanh).

    The workload is defined here, in the suite, and not in the package: asv measures old commits with the
    suite of the working tree, so the same parameters always mean the same work. Cached per process: asv runs
    ``setup`` before every timed call, and a model rebuilt each time makes every call a cold first call (fresh
    pages, cold caches: 2-8x slower and far noisier than the steady state). Benchmarks must not modify it.
    ``loss="ce"``: cross-entropy for every model (the zoo). A model this commit does not have is a skip.
    """
    dev = use_device(device)
    torch_dtype = getattr(torch, dtype)
    try:
        net = build(model, seed=seed, dtype=torch_dtype)
    except ValueError as exc:
        skip(f"model {model!r} is not in this commit ({exc})")
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, *net.input_shape, generator=generator, dtype=torch_dtype)
    outputs = [m for m in net.modules() if isinstance(m, nn.Linear)][-1].out_features
    labels = torch.randint(0, max(outputs, 2), (batch,), generator=generator)
    if isinstance(net[-1], nn.Linear) or loss == "ce":
        loss_fn, targets = nn.CrossEntropyLoss(), labels
    elif outputs == 1:
        loss_fn, targets = nn.MSELoss(), labels.to(torch_dtype).unsqueeze(1)
    else:
        loss_fn, targets = nn.MSELoss(), 2 * nn.functional.one_hot(labels, outputs).to(torch_dtype) - 1
    return Problem(net.to(dev), loss_fn, inputs.to(dev), targets.to(dev), dev)


def matmul_flops(n: int) -> float:
    """Floating-point operations of an n x n by n x n matrix product."""
    return 2.0 * n**3


def inverse_flops(n: int) -> float:
    """Floating-point operations of inverting an n x n symmetric positive definite matrix by Cholesky: n^3/3
    to factor and 2n^3/3 to form the inverse from the factor."""
    return float(n) ** 3


def spd_matrix(n: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """A symmetric positive definite float64 matrix of size n in O(n^2): symmetric entries in [-1, 1] plus n I
    (diagonally dominant, so positive definite by Gershgorin's theorem)."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.rand(n, n, generator=generator, dtype=torch.float64) * 2 - 1
    a = (a + a.T) / 2
    a.diagonal().add_(n)
    return a.to(device)
