"""Measuring what each curvature method costs: time and peak memory of one call, and the dense-inverse rate.

Per model, for a seeded synthetic batch (:func:`problem`), the cases measured are:

- one gradient (forward and backward by autograd): the baseline;
- every Hessian diagonal of :func:`prunebench.curvature.hessian_diag` on every backend that offers it
  (native, BackPACK, curvlinops, torch.func; the last two cost P Hessian-vector products, so only on models
  with at most :data:`DENSE_LIMIT` parameters);
- every inverse of :func:`prunebench.curvature.inverse_hessian` (GGN, float64) on models with at most
  :data:`INVERSE_LIMIT` parameters (largest layer block, for ``block-diagonal``).

Time: a warm-up call, then ``repeats`` x ``number`` calls timed one by one (``number`` calls last about
``min_time``); the time per call is the fastest of them (timeit's min-of-N: the call least disturbed by other
work; the median is kept in the record too). A call slower than ``budget`` seconds is timed from its first two
calls only. GPU work is synchronised inside every timed call.

Memory: the peak memory of one call above what was allocated before it, measured before all the timings (a
first phase, after a warm-up call per case). CUDA: ``torch.cuda`` peak statistics. CPU: the peak of the bytes that
torch's allocator holds for tensors (:func:`prunebench._measure.tensor_memory`, exact to the byte; the process's
resident set cannot resolve the small models' peaks, see ``docs/benchmarks.md``).

The dense-inverse rate: the inverse of a P = :data:`RATE_SIZE` curvature (the GGN of an MLP 99-80-1 without
biases, exactly 8,000 parameters, by ``inverse_hessian(method="cholesky")``: form, factorise, invert) against
the measured float64 matrix-product rate at the same size. A symmetric positive definite inverse costs P^3
flop (Cholesky P^3/3, inverse from the factor 2P^3/3), a product 2P^3, so the achieved fraction is
``(P^3 / t_inverse) / (2 P^3 / t_matmul)``.
"""

from __future__ import annotations

import ctypes
import functools
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from .. import _measure

__all__ = ["BACKENDS", "CLOCKS", "DEFAULT_MODELS", "DENSE_LIMIT", "DIAG_METHODS", "HEAVY", "HEAVY_ZOO",
           "HUTCHINSON_PROBES", "INVERSE_LIMIT", "INVERSE_METHODS", "RATE_SIZE", "ZOO_METHODS", "ZOO_MODELS",
           "flop_count", "measure", "measure_rate", "peak_memory", "problem", "run"]


DEFAULT_MODELS = ("monk-17-3-1", "mlp-64-32-10", "mlp-256-128-64-10", "lenet-300-100", "mlp-784-40-20-10",
                  "lenet-usps")
DIAG_METHODS = ("exact", "lecun", "lecun-lm", "ggn", "fisher", "hutchinson")
INVERSE_METHODS = ("recursion", "woodbury", "cholesky", "block-diagonal")
BACKENDS = {"native": DIAG_METHODS, "backpack": ("exact", "ggn", "fisher"),
            "curvlinops": ("exact", "ggn", "fisher"), "torchfunc": ("exact", "ggn", "fisher")}
"""The diagonal methods each backend offers (as in :mod:`prunebench.curvature.backends`)."""
DENSE_LIMIT = 2500
"""Largest parameter count for the backends whose diagonal costs P Hessian-vector products."""
INVERSE_LIMIT = 8000
"""Largest matrix (or block) inverted: 8000^2 float64 entries are 512 MB."""
RATE_SIZE = 8000
HUTCHINSON_PROBES = 10
ZOO_MODELS = ("mlp-64-32-10", "mlp-256-128-64-10", "lenet-300-100", "mlp-784-40-20-10", "mlp-64-32x6-10",
              "lenet-usps", "lenet1990", "lenet-zip1989", "cnn-dwsep", "cnn-dilated", "cnn-relu-maxpool")
"""The benchmark zoo (``--zoo``): MLPs of several widths and depths, and CNNs with average and max pooling,
strided, grouped (depthwise), dilated and masked (partially connected) convolutions."""
ZOO_METHODS = ("exact", "ggn", "fisher", "lecun", "lecun-lm")
HEAVY = {
    ("backpack", "exact", "lenet-usps"): "BackPACK's DiagHessian on lenet-usps: 101 s and 9.7 GB per call at "
                                         "batch 128 on the 2-core reference machine (3761 gradients)",
}
"""(backend, method, model) cases measured only with ``heavy=True`` (``--heavy``), and why."""
HEAVY_ZOO = {
    ("backpack", "exact"): "BackPACK's DiagHessian on the zoo's CNNs (on lenet-usps 101 s and 9.7 GB per call at "
                           "batch 128: thousands of gradients)",
}
"""(backend, method) cases measured on the zoo's CNNs only with ``heavy=True``, and why."""


# ------------------------------------------------------------------------------------------------- workload

def problem(model: str, batch: int, *, dtype: str = "float32", device: str = "cpu", seed: int = 0,
            loss: str = "task"):
    """``(net, loss_fn, inputs, targets)``: a seeded ``model`` and a synthetic standard-normal batch.

    Loss (reduction "mean"): ``loss="ce"``, cross-entropy on class indices for every model (the zoo);
    ``"task"``, as the models' tasks train them: cross-entropy for nets ending in a Linear layer (logits), MSE
    for nets ending in a squashing function, with targets in its range (0/1 for one sigmoid output, one-hot
    -1/+1 for LeNet's scaled tanh). The asv suite defines the same workload in ``benchmarks/common.py``
    (there, in the suite, so that old commits are measured on the same work).
    """
    import torch
    from torch import nn

    from ..models import build

    torch_dtype = getattr(torch, dtype)
    net = build(model, seed=seed, dtype=torch_dtype)
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
    return net.to(device), loss_fn, inputs.to(device), targets.to(device)


def _rate_problem(size: int, dtype: str, device: str):
    """An MLP ``(size // 80 - 1)``-80-1 without biases and tanh hidden units: exactly ``size`` parameters when
    80 divides it; MSE on a batch of 256."""
    import torch
    from torch import nn

    from ..models import Net

    hidden = 80 if size >= 160 else max(1, size // 2)
    n_in = size // hidden - 1
    torch_dtype = getattr(torch, dtype)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = Net(f"MLP({n_in}-{hidden}-1, tanh, no bias)", (n_in,), nn.Linear(n_in, hidden, bias=False),
                  nn.Tanh(), nn.Linear(hidden, 1, bias=False)).to(torch_dtype)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(256, n_in, generator=generator, dtype=torch_dtype)
    targets = torch.randn(256, 1, generator=generator, dtype=torch_dtype)
    return net.to(device), nn.MSELoss(), inputs.to(device), targets.to(device)


# ------------------------------------------------------------------------------------------------ measuring

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _steady_allocator() -> bool:
    """Let glibc keep freed blocks up to 32 MiB in the heap for reuse, as its adaptive default does in a steady
    state (handing every large temporary back and faulting it in again costs page faults: it made the exact
    diagonal of lenet-300-100 3x slower). The timing phase's setting, also the asv suite's
    (``benchmarks/common.py``). Returns False where glibc is absent."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
        libc.mallopt(_M_TRIM_THRESHOLD, 64 * 2**20)
    except (OSError, AttributeError):
        return False
    return True


def peak_memory(fn: Callable[[], Any], device: str) -> int:
    """Peak bytes of one ``fn()`` above the memory in use before it: on CUDA from ``torch.cuda``'s statistics
    (:func:`prunebench._measure.measure`), on the CPU the tensor memory (:func:`prunebench._measure.tensor_memory`)."""
    with _measure.measure(device) if device.startswith("cuda") else _measure.tensor_memory() as usage:
        fn()
    return usage.peak_bytes


def flop_count(fn: Callable[[], Any]) -> int | None:
    """Floating-point operations of one ``fn()`` in matrix products and convolutions (torch's FLOP counter;
    elementwise work is not counted); ``None`` where the counter cannot follow ``fn`` (curvlinops' products
    under ``torch.func`` transforms)."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    except RuntimeError:
        return None
    return counter.get_total_flops()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
"""``wall``: elapsed time (what a user waits for; needed for GPUs). ``cpu``: CPU time of this process, which a
preemption by other jobs does not inflate: on a shared machine with one torch thread, the cost itself."""


def measure(fn: Callable[[], Any], device: str = "cpu", *, repeats: int = 5, min_time: float = 0.05,
            budget: float = 5.0, clock: str = "wall") -> dict[str, Any]:
    """Time of ``fn`` on ``clock`` (:data:`CLOCKS`; see the module docstring): ``{"seconds",
    "median_seconds", "calls"}``.

    After a warm-up call, ``repeats`` x ``number`` calls are timed one by one (``number`` calls last about
    ``min_time``); ``seconds`` is the fastest call, ``median_seconds`` the median. On a shared machine a call
    is either undisturbed or preempted for a whole scheduler slice, so the fastest call is the stable estimate
    of the undisturbed cost (timeit's min-of-N, with N single calls: every call here takes far longer than the
    timer's resolution). A call slower than ``budget`` seconds is timed from two calls only.
    """
    import torch

    now = CLOCKS[clock]

    def call():
        start = now()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)
        return now() - start

    first = call()  # warm-up: lazy imports, allocator caches, kernel selection
    second = call()
    if first > budget:
        return {"seconds": min(first, second), "median_seconds": max(first, second), "calls": 2}
    number = max(1, math.ceil(min_time / max(min(first, second), 1e-9)))
    times = [second] + [call() for _ in range(repeats * number)]
    return {"seconds": min(times), "median_seconds": statistics.median(times), "calls": len(times)}


def _cases(model: str, parameters: int, largest_block: int, peers: bool,
           heavy: bool, zoo: bool = False) -> list[tuple[str, str, str]]:
    """``(kind, method, backend)`` for one model: the gradient, then diagonals, then inverses (the zoo: the
    diagonals of :data:`ZOO_METHODS` and the peers' exact, GGN and Fisher diagonals; no torch.func, no
    inverses)."""
    cases = [("gradient", "gradient", "autograd")]
    for backend, methods in BACKENDS.items():
        if backend != "native" and not peers or zoo and backend == "torchfunc":
            continue
        if backend in ("curvlinops", "torchfunc") and parameters > DENSE_LIMIT:
            continue
        if zoo:
            methods = ZOO_METHODS if backend == "native" else ("exact", "ggn", "fisher")
        cases += [("diag", method, backend) for method in methods
                  if heavy or not _heavy(backend, method, model)]
    if zoo:
        return cases
    for method in INVERSE_METHODS:
        size = largest_block if method == "block-diagonal" else parameters
        if size <= INVERSE_LIMIT:
            cases.append(("inverse", method, "native"))
    return cases


def _call(kind: str, method: str, backend: str, net, loss_fn, X, y) -> Callable[[], Any]:
    import torch

    from ..curvature import hessian_diag, inverse_hessian

    if kind == "gradient":
        return lambda: torch.autograd.grad(loss_fn(net(X), y), list(net.parameters()))
    if kind == "diag":
        extra = {"probes": HUTCHINSON_PROBES} if method == "hutchinson" else {}
        return lambda: hessian_diag(net, loss_fn, X, y, curvature=method, backend=backend, **extra)
    return lambda: inverse_hessian(net, loss_fn, X, y, solver=method, curvature="ggn", alpha=1e-3,
                                   dtype=torch.float64)


def _heavy(backend: str, method: str, model: str) -> bool:
    return (backend, method, model) in HEAVY or (backend, method) in HEAVY_ZOO and _is_cnn(model)


@functools.cache
def _is_cnn(model: str) -> bool:
    """Whether the model has a convolution (the zoo's CNN targets) or not (the MLP targets)."""
    from torch import nn

    from ..models import build

    return any(isinstance(m, (nn.Conv1d, nn.Conv2d)) for m in build(model).modules())


def run(models: Sequence[str] = DEFAULT_MODELS, *, batch: int = 128, dtype: str = "float32",
        device: str = "cpu", repeats: int = 5, min_time: float = 0.05, budget: float = 5.0,
        peers: bool = True, heavy: bool = False, clock: str = "wall", zoo: bool = False, loss: str = "task",
        progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Measure every case of every model (the :data:`HEAVY` ones only with ``heavy``); one row per case:
    ``model, P, kind, method, backend, seconds, median_seconds, calls, peak_bytes`` (``zoo``: the zoo's cases,
    ``flops``, and for the native diagonals ``column_bytes``, :func:`prunebench.curvature.diagonal.column_bytes`).

    Two phases: every peak memory first (after a warm-up call; the profiler's events would slow the timings
    down), then every time, with glibc's allocator in its steady, heap-reusing mode (:func:`_steady_allocator`).
    """
    from ..curvature.diagonal import column_bytes

    cases = []
    for name in models:
        net, loss_fn, X, y = problem(name, batch, dtype=dtype, device=device, loss=loss)
        P = sum(p.numel() for p in net.parameters())
        block = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in net.modules())
        for kind, method, backend in _cases(name, P, block, peers, heavy, zoo):
            row = {"model": name, "P": P, "kind": kind, "method": method, "backend": backend}
            if zoo and kind == "diag" and backend == "native":
                row["column_bytes"] = column_bytes(net, loss_fn, X, method)
            cases.append((row, _call(kind, method, backend, net, loss_fn, X, y)))
    for row, fn in cases:
        if progress is not None:
            progress(f"memory of {row['model']}: {row['kind']} {row['method']} ({row['backend']})")
        fn()
        row["peak_bytes"] = peak_memory(fn, device)
        if zoo:
            row["flops"] = flop_count(fn)
    _steady_allocator()
    for row, fn in cases:
        if progress is not None:
            progress(f"time of {row['model']}: {row['kind']} {row['method']} ({row['backend']})")
        row.update(measure(fn, device, repeats=repeats, min_time=min_time, budget=budget, clock=clock))
    return [row for row, _ in cases]


def measure_rate(size: int = RATE_SIZE, *, device: str = "cpu", repeats: int = 2,
                 clock: str = "wall") -> dict[str, Any]:
    """The P = ``size`` inverse against the float64 matmul rate (module docstring). Times are min-of-N."""
    import torch

    from ..curvature import inverse_hessian

    net, loss_fn, X, y = _rate_problem(size, "float64", device)
    P = sum(p.numel() for p in net.parameters())

    now = CLOCKS[clock]

    def timed(fn, *args):
        best = math.inf
        for _ in range(repeats):
            start = now()
            fn(*args)
            if device.startswith("cuda"):
                torch.cuda.synchronize(device)
            best = min(best, now() - start)
        return best

    def spd_inverse(matrix):
        return torch.cholesky_inverse(torch.linalg.cholesky(matrix))

    spd_inverse(torch.eye(256, dtype=torch.float64, device=device))  # warm-up: load the LAPACK paths
    a = torch.rand(P, P, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).to(device)
    matmul = timed(torch.matmul, a, a)
    a += a.T.clone()
    a.diagonal().add_(2 * P)  # diagonally dominant: positive definite
    lapack = timed(spd_inverse, a)
    del a
    inverse = timed(functools.partial(inverse_hessian, solver="cholesky", curvature="ggn", alpha=1e-3),
                    net, loss_fn, X, y)
    matmul_rate = 2.0 * P**3 / matmul
    return {"P": P, "batch": X.shape[0], "matmul_seconds": matmul, "matmul_gflops": matmul_rate / 1e9,
            "inverse_seconds": inverse, "inverse_gflops": P**3 / inverse / 1e9,
            "inverse_fraction": (P**3 / inverse) / matmul_rate,
            "lapack_seconds": lapack, "lapack_fraction": (P**3 / lapack) / matmul_rate}
