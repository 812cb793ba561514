"""``prunebench bench-report``: what each curvature method costs, as a ratio to one gradient and to BackPACK.

Every number comes from one process and one run, so a method and its peers are measured on the same machine
under the same load (asv, in ``benchmarks/``, tracks the same kernels across commits; this report compares
them with each other). Per model, for a seeded synthetic batch:

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
first phase, after a warm-up call per case). CUDA: ``torch.cuda`` peak statistics. CPU: the process's peak
resident set (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``) with glibc told to map every block of
64 KiB or more separately, so freed tensors leave the resident set; resolution one page.

The dense-inverse rate: the inverse of a P = :data:`RATE_SIZE` curvature (the GGN of an MLP 99-80-1 without
biases, exactly 8,000 parameters, by ``inverse_hessian(method="cholesky")``: form, factorise, invert) against
the measured float64 matrix-product rate at the same size. A symmetric positive definite inverse costs P^3
flop (Cholesky P^3/3, inverse from the factor 2P^3/3), a product 2P^3, so the achieved fraction is
``(P^3 / t_inverse) / (2 P^3 / t_matmul)``.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["BACKENDS", "CLOCKS", "COLORS", "DEFAULT_MODELS", "DENSE_LIMIT", "DIAG_METHODS", "HEAVY",
           "INVERSE_LIMIT", "INVERSE_METHODS", "RATE_SIZE", "TABLE_COLUMNS", "TARGETS", "check_targets",
           "markdown", "measure", "measure_rate", "peak_memory", "plot", "plot_zoo", "problem", "rate_table",
           "ratio_rows", "ratio_table", "register_cli", "run", "targets_table", "write"]

log = logging.getLogger(__name__)

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
MLP_MODELS = ("mlp-64-32-10", "mlp-256-128-64-10", "lenet-300-100")
"""The MLPs of the exact-diagonal target (lenet-300-100 is the MLP 784-300-100-10)."""
CNN_MODELS = ("lenet-usps",)

TARGETS = (
    ("exact diagonal <= 3x a gradient on the MLPs", "exact", MLP_MODELS, 3.0),
    ("exact diagonal <= 10x a gradient on the CNN", "exact", CNN_MODELS, 10.0),
    ("lecun-lm <= 1.5x a gradient", "lecun-lm", None, 1.5),
    ("ggn <= 3x a gradient", "ggn", None, 3.0),
)
"""(statement, native method, models or None for every model, largest ratio to one gradient): the default
report's targets."""
ZOO_MODELS = ("mlp-64-32-10", "mlp-256-128-64-10", "lenet-300-100", "mlp-784-40-20-10", "mlp-64-32x6-10",
              "lenet-usps", "lenet1990", "lenet-zip1989", "cnn-dwsep", "cnn-dilated", "cnn-relu-maxpool")
"""The benchmark zoo (``--zoo``): MLPs of several widths and depths, and CNNs with average and max pooling,
strided, grouped (depthwise), dilated and masked (partially connected) convolutions."""
ZOO_TARGETS = (
    ("exact diagonal <= 2x a gradient on the MLPs", "exact", "mlp", 2.0),
    ("exact diagonal <= 10x a gradient on the CNNs", "exact", "cnn", 10.0),
    ("ggn <= 2x a gradient on the MLPs", "ggn", "mlp", 2.0),
    ("ggn <= 3x a gradient on the CNNs", "ggn", "cnn", 3.0),
    ("lecun <= 1.5x a gradient", "lecun", None, 1.5),
    ("lecun-lm <= 1.5x a gradient", "lecun-lm", None, 1.5),
)
"""The zoo's time targets; every native diagonal must also peak at most :data:`ZOO_MEMORY_TARGET` times one
gradient's memory. ``"mlp"``/``"cnn"``: the models with no / some convolution."""
ZOO_MEMORY_TARGET = 3.0
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
RATE_TARGET = 0.5
MEMORY_FLOOR = 0.25 * 2**20
"""Peaks below this (bytes) are too close to the page resolution of the CPU measurement to divide by."""

TABLE_COLUMNS = ("model", "P", "method", "backend", "time (ms)", "x gradient", "x BackPACK", "peak (MiB)",
                 "mem x gradient", "mem x BackPACK")
ZOO_COLUMNS = (*TABLE_COLUMNS, "FLOP x gradient", "target missed by")
"""The zoo table adds the counted floating-point operations (matrix products and convolutions, by
``torch.utils.flop_counter``) as a ratio to one gradient's, and for a missed target the factor it is missed by
and why: the FLOP ratio says how much of the time ratio is arithmetic the method must do."""


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

    from .models import build

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

    from .models import Net

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


def _malloc_mode(memory: bool) -> bool:
    """Set glibc's allocator for a phase. ``memory=True``: every block of 64 KiB or more is mapped separately,
    so a freed tensor leaves the resident set and the peak of one call is its own. ``False`` (timing): large
    blocks are reused from the heap, as glibc's adaptive default does in a steady state (mapping every large
    temporary anew costs page faults: it made the exact diagonal of lenet-300-100 3x slower). Returns False
    where glibc is absent."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        if memory:
            libc.mallopt(_M_MMAP_THRESHOLD, 64 * 2**10)
            libc.mallopt(_M_TRIM_THRESHOLD, 128 * 2**10)
            libc.malloc_trim(0)
        else:
            libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
            libc.mallopt(_M_TRIM_THRESHOLD, 64 * 2**20)
    except (OSError, AttributeError):
        return False
    return True


def _status() -> tuple[int, int]:
    """(current, peak) resident set of this process in bytes (Linux ``VmRSS``, ``VmHWM``)."""
    lines = Path("/proc/self/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def peak_memory(fn: Callable[[], Any], device: str) -> int | None:
    """Peak bytes of one ``fn()`` above the memory in use before it; None where it cannot be measured (CPU
    memory off Linux). For CPU memory call it after ``_malloc_mode(memory=True)`` (see :func:`run`)."""
    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before, _ = _status()
    except (OSError, KeyError):
        fn()
        return None
    fn()
    return max(_status()[1] - before, 0)


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

    from .curvature import hessian_diag, inverse_hessian

    if kind == "gradient":
        return lambda: torch.autograd.grad(loss_fn(net(X), y), list(net.parameters()))
    if kind == "diag":
        extra = {"probes": HUTCHINSON_PROBES} if method == "hutchinson" else {}
        return lambda: hessian_diag(net, loss_fn, X, y, method=method, backend=backend, **extra)
    return lambda: inverse_hessian(net, loss_fn, X, y, method=method, hessian="ggn", alpha=1e-3,
                                   dtype=torch.float64)


def _heavy(backend: str, method: str, model: str) -> bool:
    return (backend, method, model) in HEAVY or (backend, method) in HEAVY_ZOO and _is_cnn(model)


@functools.cache
def _is_cnn(model: str) -> bool:
    """Whether the model has a convolution (the zoo's CNN targets) or not (the MLP targets)."""
    from torch import nn

    from .models import build

    return any(isinstance(m, (nn.Conv1d, nn.Conv2d)) for m in build(model).modules())


def run(models: Sequence[str] = DEFAULT_MODELS, *, batch: int = 128, dtype: str = "float32",
        device: str = "cpu", repeats: int = 5, min_time: float = 0.05, budget: float = 5.0,
        peers: bool = True, heavy: bool = False, clock: str = "wall", zoo: bool = False, loss: str = "task",
        progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Measure every case of every model (the :data:`HEAVY` ones only with ``heavy``); one row per case:
    ``model, P, kind, method, backend, seconds, median_seconds, calls, peak_bytes`` (``zoo``: the zoo's cases
    and ``flops`` too).

    Two phases: every peak memory first (each large block mapped separately, from a heap that has never held
    large free blocks, after a warm-up call), then every time (allocator in its steady, heap-reusing mode):
    the memory mode slows allocation-heavy methods down, and a heap full of freed blocks would hide
    allocations from the resident set.
    """
    cases = []
    for name in models:
        net, loss_fn, X, y = problem(name, batch, dtype=dtype, device=device, loss=loss)
        P = sum(p.numel() for p in net.parameters())
        block = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in net.modules())
        for kind, method, backend in _cases(name, P, block, peers, heavy, zoo):
            row = {"model": name, "P": P, "kind": kind, "method": method, "backend": backend}
            cases.append((row, _call(kind, method, backend, net, loss_fn, X, y)))
    _malloc_mode(memory=True)
    for row, fn in cases:
        if progress is not None:
            progress(f"memory of {row['model']}: {row['kind']} {row['method']} ({row['backend']})")
        fn()
        row["peak_bytes"] = peak_memory(fn, device)
        if zoo:
            row["flops"] = flop_count(fn)
    _malloc_mode(memory=False)
    for row, fn in cases:
        if progress is not None:
            progress(f"time of {row['model']}: {row['kind']} {row['method']} ({row['backend']})")
        row.update(measure(fn, device, repeats=repeats, min_time=min_time, budget=budget, clock=clock))
    return [row for row, _ in cases]


def measure_rate(size: int = RATE_SIZE, *, device: str = "cpu", repeats: int = 2,
                 clock: str = "wall") -> dict[str, Any]:
    """The P = ``size`` inverse against the float64 matmul rate (module docstring). Times are min-of-N."""
    import torch

    from .curvature import inverse_hessian

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
    inverse = timed(functools.partial(inverse_hessian, method="cholesky", hessian="ggn", alpha=1e-3),
                    net, loss_fn, X, y)
    matmul_rate = 2.0 * P**3 / matmul
    return {"P": P, "batch": X.shape[0], "matmul_seconds": matmul, "matmul_gflops": matmul_rate / 1e9,
            "inverse_seconds": inverse, "inverse_gflops": P**3 / inverse / 1e9,
            "inverse_fraction": (P**3 / inverse) / matmul_rate,
            "lapack_seconds": lapack, "lapack_fraction": (P**3 / lapack) / matmul_rate}


# ------------------------------------------------------------------------------------------------ reporting

def ratio_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with ``time_x_gradient``, ``time_x_backpack``, ``mem_x_gradient``, ``mem_x_backpack`` added
    (None where there is no reference or the reference is below :data:`MEMORY_FLOOR`)."""
    rows = [dict(r) for r in rows]
    grad = {r["model"]: r for r in rows if r["kind"] == "gradient"}
    backpack = {(r["model"], r["method"]): r for r in rows if r["backend"] == "backpack"}

    def ratio(value, ref, floor=0.0):
        if value is None or ref is None or ref <= floor:
            return None
        return value / ref

    for r in rows:
        g, b = grad.get(r["model"]), backpack.get((r["model"], r["method"])) if r["kind"] == "diag" else None
        if "flops" in r:
            r["flops_x_gradient"] = ratio(r["flops"], g and g.get("flops"))
        r["time_x_gradient"] = ratio(r["seconds"], g and g["seconds"])
        r["time_x_backpack"] = ratio(r["seconds"], b and b["seconds"])
        r["mem_x_gradient"] = ratio(r["peak_bytes"], g and g["peak_bytes"], MEMORY_FLOOR)
        r["mem_x_backpack"] = ratio(r["peak_bytes"], b and b["peak_bytes"], MEMORY_FLOOR)
    return rows


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def ratio_table(rows: Iterable[Mapping[str, Any]], zoo: bool = False) -> str:
    """The Markdown table (:data:`TABLE_COLUMNS`; ``zoo``: :data:`ZOO_COLUMNS`), one section per model, rows in
    measuring order."""
    rows = ratio_rows(rows)
    columns = ZOO_COLUMNS if zoo else TABLE_COLUMNS
    missed = _missed(zoo_targets(rows)) if zoo else {}
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        label = r["method"] if r["kind"] != "inverse" else f"inverse {r['method']}"
        peak = None if r["peak_bytes"] is None else r["peak_bytes"] / 2**20
        cells = [r["model"], str(r["P"]), label, r["backend"], _fmt(r["seconds"] * 1e3, 3),
                 _fmt(r["time_x_gradient"]), _fmt(r["time_x_backpack"]), _fmt(peak),
                 _fmt(r["mem_x_gradient"]), _fmt(r["mem_x_backpack"])]
        if zoo:
            cells += [_fmt(r.get("flops_x_gradient")), missed.get((r["model"], r["method"], r["backend"]), "")]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def zoo_targets(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each zoo target per model it covers (:data:`ZOO_TARGETS`, then the memory target of every native
    diagonal but the Fisher): ``{target, model, method, value, threshold, met, flops}``."""
    rows = ratio_rows(rows)
    native = [r for r in rows if r["kind"] == "diag" and r["backend"] == "native"]
    out = []
    for statement, method, family, threshold in ZOO_TARGETS:
        for r in native:
            if r["method"] == method and (family is None or (family == "cnn") == _is_cnn(r["model"])):
                out.append({"target": statement, "model": r["model"], "method": method,
                            "value": r["time_x_gradient"], "threshold": threshold,
                            "met": r["time_x_gradient"] <= threshold, "flops": r.get("flops_x_gradient")})
    for r in native:
        if r["method"] != "fisher" and r["mem_x_gradient"] is not None:
            out.append({"target": f"{r['method']}: peak memory <= {ZOO_MEMORY_TARGET:g}x a gradient's",
                        "model": r["model"],
                        "method": r["method"], "value": r["mem_x_gradient"], "threshold": ZOO_MEMORY_TARGET,
                        "met": r["mem_x_gradient"] <= ZOO_MEMORY_TARGET, "flops": None})
    return out


def _missed(targets: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], str]:
    """``(model, method, "native") -> text`` for the missed targets: by how much, and the FLOP count against
    the gradient's (above the target: that much arithmetic misses the target even at the rate the gradient's
    kernels reach; below: the time goes elsewhere, to memory traffic and many small kernels). The counts are
    of the kernels as called (a transposed convolution counts as torch's FLOP counter counts it)."""
    out: dict[tuple[str, str, str], list[str]] = {}
    for t in targets:
        if t["met"]:
            continue
        factor = t["value"] / t["threshold"]
        if "peak memory" in t["target"]:
            text = f"memory {factor:.2f}x over its {t['threshold']:g}x"
        else:
            text = f"{factor:.2f}x over {t['threshold']:g}x"
            if t["flops"] is not None:
                why = ("more arithmetic than the target allows at the gradient's rate" if t["flops"] > t["threshold"]
                       else "less: the rest is memory traffic and small kernels")
                text += f" ({t['flops']:.1f}x the gradient's FLOPs, {why})"
        out.setdefault((t["model"], t["method"], "native"), []).append(text)
    return {k: "; ".join(v) for k, v in out.items()}


def check_targets(rows: Iterable[Mapping[str, Any]], rate: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each speed target of the curvature benchmark (ratios to one gradient), per model it covers:
    ``{target, model, value, threshold, met}``."""
    rows = ratio_rows(rows)
    out = []
    for statement, method, models, threshold in TARGETS:
        for r in rows:
            if r["kind"] == "diag" and r["backend"] == "native" and r["method"] == method and (
                    models is None or r["model"] in models):
                out.append({"target": statement, "model": r["model"], "value": r["time_x_gradient"],
                            "threshold": threshold, "met": r["time_x_gradient"] <= threshold})
    if rate is not None:
        out.append({"target": f"inverse of a P = {rate['P']} curvature >= {RATE_TARGET:.0%} of the float64 "
                              "matmul rate", "model": f"mlp-{rate['P']}", "value": rate["inverse_fraction"],
                    "threshold": RATE_TARGET, "met": rate["inverse_fraction"] >= RATE_TARGET})
    return out


def targets_table(targets: Iterable[Mapping[str, Any]]) -> str:
    lines = ["| target | model | measured | threshold | met |", "|---|---|---|---|---|"]
    for t in targets:
        lines.append(f"| {t['target']} | {t['model']} | {_fmt(t['value'])} | {_fmt(t['threshold'])} | "
                     f"{'yes' if t['met'] else 'no'} |")
    return "\n".join(lines)


def rate_table(rate: Mapping[str, Any]) -> str:
    return "\n".join([
        "| quantity | seconds | GFLOP/s | fraction of matmul rate |", "|---|---|---|---|",
        f"| float64 matmul {rate['P']} x {rate['P']} | {rate['matmul_seconds']:.3f} | "
        f"{rate['matmul_gflops']:.1f} | 1.00 |",
        f"| inverse_hessian(method='cholesky'), P = {rate['P']}, N = {rate['batch']} | "
        f"{rate['inverse_seconds']:.3f} | {rate['inverse_gflops']:.1f} | {rate['inverse_fraction']:.2f} |",
        f"| LAPACK potrf + potri alone (torch.cholesky_inverse) | {rate['lapack_seconds']:.3f} | "
        f"{rate['P'] ** 3 / rate['lapack_seconds'] / 1e9:.1f} | {rate['lapack_fraction']:.2f} |",
    ])


COLORS = {"gradient": "#000000", "exact": "#D55E00", "lecun": "#56B4E9", "lecun-lm": "#0072B2",
          "ggn": "#009E73", "fisher": "#E69F00", "hutchinson": "#CC79A7", "inverse recursion": "#7F7F7F",
          "inverse woodbury": "#8C564B", "inverse cholesky": "#9467BD", "inverse block-diagonal": "#BCBD22"}
"""One colour per curvature method in every cost figure (backends differ by marker and dash)."""
STYLES = {"autograd": ("o", ""), "native": ("o", ""), "backpack": ("s", (4, 2)), "curvlinops": ("^", (1, 1)),
          "torchfunc": ("D", (6, 2, 1, 2))}


def plot(rows: Iterable[Mapping[str, Any]]):
    """Cost against parameter count: time per call (left) and as a ratio to one gradient (right), log-log;
    colour = method, marker and dash = backend. Returns ``(fig, axes)``; nothing is shown."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.figure import Figure

    frame = pd.DataFrame(ratio_rows(rows))
    frame["curvature"] = [f"inverse {m}" if k == "inverse" else m
                          for k, m in zip(frame["kind"], frame["method"], strict=True)]
    frame["ms"] = frame["seconds"] * 1e3
    methods = [m for m in COLORS if m in set(frame["curvature"])]
    backends = [b for b in STYLES if b in set(frame["backend"])]
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, column, label in ((axes[0], "ms", "time per call (ms)"),
                              (axes[1], "time_x_gradient", "time / one gradient")):
        data = frame.dropna(subset=[column]).sort_values("P")
        sns.lineplot(data=data, x="P", y=column, hue="curvature", hue_order=methods, palette=COLORS,
                     style="backend", style_order=backends, markers={b: STYLES[b][0] for b in backends},
                     dashes={b: STYLES[b][1] for b in backends}, ax=ax, legend=ax is axes[1], errorbar=None)
        ax.set(xscale="log", yscale="log", xlabel="parameters P", ylabel=label)
        ax.grid(True, which="major", alpha=0.3)
    legend = axes[1].get_legend()
    if legend is not None:
        legend.set_bbox_to_anchor((1.02, 1.0))
        legend.set_loc("upper left")
    return fig, axes


def plot_zoo(rows: Iterable[Mapping[str, Any]]):
    """The zoo per model: each diagonal's time (left) and peak memory (right) as ratios to one gradient, log
    scale; colour = method, marker = backend; dotted lines at the targets (time: 1.5x, 2x, 3x, 10x; memory:
    3x). Returns ``(fig, axes)``; nothing is shown."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.figure import Figure

    frame = pd.DataFrame([r for r in ratio_rows(rows) if r["kind"] == "diag"])
    order = list(dict.fromkeys(frame["model"]))
    methods = [m for m in COLORS if m in set(frame["method"])]
    backends = [b for b in STYLES if b in set(frame["backend"])]
    fig = Figure(figsize=(12, 0.45 * len(order) + 1.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, column, label, lines in ((axes[0], "time_x_gradient", "time / one gradient", (1.5, 2, 3, 10)),
                                     (axes[1], "mem_x_gradient", "peak memory / one gradient's", (3,))):
        data = frame.dropna(subset=[column])
        sns.scatterplot(data=data, x=column, y="model", hue="method", hue_order=methods, palette=COLORS,
                        style="backend", style_order=backends, markers={b: STYLES[b][0] for b in backends},
                        s=60, alpha=0.85, ax=ax, legend=ax is axes[1])
        for x in lines:
            ax.axvline(x, color="0.5", linestyle=":", linewidth=1)
        ax.set(xscale="log", xlabel=label, ylabel="")
        ax.set_yticks(range(len(order)), order)
        ax.grid(True, axis="x", which="major", alpha=0.3)
    legend = axes[1].get_legend()
    if legend is not None:
        legend.set_bbox_to_anchor((1.02, 1.0))
        legend.set_loc("upper left")
    return fig, axes


def write(out: str | Path, rows: list[dict], rate: dict | None, config: dict, wall_time: float,
          device: str, dtype: str, notes: Sequence[str] = ()) -> dict[str, Path]:
    """Write ``bench-report.md`` (tables), ``bench-report.json`` (a record with provenance),
    ``bench-cost.{png,svg}`` and, for the zoo, ``bench-zoo.{png,svg}`` (:func:`plot_zoo`) to ``out``; returns the
    paths."""
    from . import records

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    zoo = bool(config.get("zoo"))
    targets = zoo_targets(rows) if zoo else check_targets(rows, rate)
    prov = records.provenance(device=device, dtype=dtype, seeds=[0], wall_time=wall_time)
    record = records.make_record("bench-report", config, {"rows": ratio_rows(rows), "rate": rate,
                                                          "targets": targets, "notes": list(notes)}, prov)
    paths = {"json": records.atomic_write_json(out / "bench-report.json", record)}
    text = markdown(rows, rate, targets, prov, notes, config.get("clock", "wall"), zoo)
    paths["md"] = out / "bench-report.md"
    paths["md"].write_text(text)
    figures = [("bench-cost", plot(rows)[0])] + ([("bench-zoo", plot_zoo(rows)[0])] if zoo else [])
    for stem, fig in figures:
        for fmt in ("png", "svg"):
            key = fmt if stem == "bench-cost" else f"{stem}-{fmt}"
            paths[key] = out / f"{stem}.{fmt}"
            fig.savefig(paths[key], format=fmt, dpi=150 if fmt == "png" else None,
                        metadata={"Software": None} if fmt == "png" else {"Date": None, "Creator": None})
    return paths


def markdown(rows, rate, targets, prov: Mapping[str, Any], notes: Sequence[str] = (),
             clock: str = "wall", zoo: bool = False) -> str:
    """The report: provenance line, ratio table, notes, speed targets and the dense-inverse rate (``zoo``: the
    zoo's table and targets)."""
    clock_text = {"wall": "elapsed (wall-clock) time", "cpu": "process CPU time (`--clock cpu`)"}[clock]
    title = ("# Curvature cost on the benchmark zoo: ratios to one gradient, BackPACK and curvlinops beside" if zoo
             else "# Curvature cost: ratios to one gradient and to BackPACK")
    parts = [title, "",
             f"Measured by `{prov['command']}` on {prov['device_name']} ({prov['device']}, {prov['threads']} "
             f"thread(s)), torch {prov['torch']}, prunebench {prov['prunebench']} at {prov['git_commit']}, "
             f"{prov['created']}; dtype {prov['dtype']} for the diagonals, float64 for the inverses. Time: "
             f"{clock_text}, the fastest of many single calls (the median is in the record); memory: peak "
             "above the memory in use before the call. `-`: no reference (BackPACK has no such method) or a "
             "reference below "
             "0.25 MiB.", "",
             ratio_table(rows, zoo), *(["", *(f"- {note}" for note in notes)] if notes else []), "",
             "## Targets", "", targets_table(targets)]
    if rate is not None:
        parts += ["", "## Dense inverse against the matmul rate", "", rate_table(rate)]
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------------------------ CLI

def _cmd(args: argparse.Namespace) -> int:
    import torch

    from . import records
    from ._validation import output_folder
    from .models import MODELS

    if args.zoo:  # the zoo's workload, unless given explicitly
        args.models = args.models or list(ZOO_MODELS)
        args.batch = args.batch or 256
        args.out = args.out or "results/bench-zoo"
        args.inverse_size = 0
    args.models = args.models or list(DEFAULT_MODELS)
    args.batch = args.batch or 128
    args.out = args.out or "results/bench"
    output_folder(args.out, "--out")
    records.require_clean(records.git_state([args.out]), args.allow_dirty)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        raise ValueError(f"models must be names from `prunebench models`; got {unknown}")
    if args.dtype not in ("float32", "float64"):
        raise ValueError(f"--dtype must be float32 or float64; got {args.dtype!r}")
    if args.clock not in CLOCKS:
        raise ValueError(f"--clock must be one of {sorted(CLOCKS)}; got {args.clock!r}")
    if args.clock == "cpu" and args.device.startswith("cuda"):
        raise ValueError("--clock cpu measures CPU time, which misses GPU work; use --clock wall with "
                         "--device cuda")
    if args.threads < 1:
        raise ValueError(f"--threads must be a positive integer; got {args.threads}")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _measure_and_write(args)
    finally:
        torch.set_num_threads(threads)


def _measure_and_write(args: argparse.Namespace) -> int:
    import torch

    start = time.perf_counter()

    def progress(message: str) -> None:
        print(f"  measuring {message}", file=sys.stderr, flush=True)

    load_before = os.getloadavg()
    rows = run(args.models, batch=args.batch, dtype=args.dtype, device=args.device, repeats=args.repeats,
               min_time=args.min_time, budget=args.budget, peers=not args.no_peers, heavy=args.heavy,
               clock=args.clock, zoo=args.zoo, loss="ce" if args.zoo else "task",
               progress=None if args.quiet else progress)
    rate = None if args.inverse_size == 0 else measure_rate(args.inverse_size, device=args.device,
                                                             clock=args.clock)
    load_after = os.getloadavg()
    config = {"models": list(args.models), "batch": args.batch, "dtype": args.dtype, "device": args.device,
              "repeats": args.repeats, "min_time": args.min_time, "budget": args.budget,
              "peers": not args.no_peers, "heavy": args.heavy, "clock": args.clock,
              "inverse_size": args.inverse_size, "zoo": args.zoo, "loss": "ce" if args.zoo else "task",
              "threads": torch.get_num_threads(), "hutchinson_probes": HUTCHINSON_PROBES}
    heavy = {**HEAVY, **HEAVY_ZOO} if args.zoo else HEAVY
    notes = [] if args.heavy else [f"Not measured (pass --heavy): {why}." for why in heavy.values()]
    if args.zoo:
        notes.append(f"curvlinops and torch.func take P Hessian-vector products per diagonal: measured only on "
                     f"models with P <= {DENSE_LIMIT}.")
    notes.append(f"Machine load (1-minute average, {os.cpu_count()} cores) {load_before[0]:.1f} at the start, "
                 f"{load_after[0]:.1f} at the end of the measurements.")
    paths = write(args.out, rows, rate, config, time.perf_counter() - start, args.device, args.dtype, notes)
    print(paths["md"].read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def register_cli(subparsers) -> None:
    """Add ``bench-report`` to the ``prunebench`` command line."""
    p = subparsers.add_parser(
        "bench-report", help="measure each curvature method's time and memory as ratios to one gradient and "
                             "to BackPACK; write a Markdown table, a cost-vs-size plot and a record")
    p.add_argument("--out", default=None,
                   help="output folder (default: results/bench, with --zoo results/bench-zoo)")
    p.add_argument("--allow-dirty", action="store_true",
                   help="write the record although tracked source files differ from the commit (marked dirty)")
    p.add_argument("--models", nargs="+", default=None,
                   help=f"model names (`prunebench models`; default {' '.join(DEFAULT_MODELS)}, with --zoo the "
                        "zoo)")
    p.add_argument("--batch", type=int, default=None, help="samples per batch (default 128, with --zoo 256)")
    p.add_argument("--zoo", action="store_true",
                   help="the benchmark zoo: its models, batch 256, cross-entropy for every model, the native "
                        "diagonals with BackPACK and curvlinops beside, FLOP counts, the zoo's targets; no "
                        "inverses")
    p.add_argument("--dtype", default="float32", help="float32 (default) or float64, for the diagonals")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: ratios do not depend on other jobs sharing the cores)")
    p.add_argument("--clock", default="wall",
                   help="wall (default: elapsed time) or cpu (process CPU time: not inflated when other jobs "
                        "preempt this one on a shared machine; CPU only, use with --threads 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per case; the minimum is kept")
    p.add_argument("--min-time", type=float, default=0.05, help="seconds per repeat at least (default 0.05)")
    p.add_argument("--budget", type=float, default=5.0,
                   help="a call slower than this many seconds is timed from two calls only (default 5)")
    p.add_argument("--inverse-size", type=int, default=RATE_SIZE,
                   help=f"P of the dense-inverse rate check (default {RATE_SIZE}; 0 skips it)")
    p.add_argument("--no-peers", action="store_true",
                   help="native methods only (no BackPACK, curvlinops or torch.func)")
    p.add_argument("--heavy", action="store_true",
                   help="also measure the cases of bench_report.HEAVY (BackPACK's DiagHessian on lenet-usps: "
                        "minutes and about 10 GB per call)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd)
