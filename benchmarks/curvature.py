"""Speed and memory of one gradient, every Hessian diagonal and every inverse, on every backend.

Read each curvature time against ``Gradient.time_gradient`` of the same (model, device, dtype, batch): the
speed targets are ratios to one gradient (docs/benchmarks.md). ``time_`` is wall time (GPU work synchronised
before returning); ``peakmem_`` the peak resident memory of the benchmark process (asv's measure, which
includes the interpreter and torch); ``CudaMemory.track_peak_mib`` the peak CUDA memory of one call above
what was allocated before it (skipped without a GPU).

Skipped (NotImplementedError in setup): CUDA without a GPU; a backend that does not offer a method (BackPACK
and curvlinops have no OBD ``lecun``/``lecun-lm`` or ``hutchinson``; torch.func only the dense ``exact``,
``ggn``, ``fisher``); dense work that does not fit (torch.func and curvlinops diagonals, which cost P
Hessian-vector products, above 2,500 parameters; dense inverses or inverse blocks above 8,000 parameters);
the few combinations in :data:`SLOW`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import common
from .common import ANCHOR_MODELS, BACKENDS, BATCHES, DEVICES, DIAG_METHODS, DTYPES, INVERSE_METHODS

PEER_METHODS = {"native": set(DIAG_METHODS), "torchfunc": {"exact", "ggn", "fisher"},
                "backpack": {"exact", "ggn", "fisher"}, "curvlinops": {"exact", "ggn", "fisher"}}
"""What each backend offers (the table in prunebench.curvature.backends)."""

DENSE_BACKENDS = ("torchfunc", "curvlinops")
"""Backends whose diagonal costs P Hessian-vector products (a dense matrix, column by column)."""

SLOW = {("backpack", "exact", "lenet-usps"): 32}
"""Largest batch timed for combinations that take minutes per call: BackPACK's DiagHessian on the CNN took
24 s at batch 32 on the 2-core reference machine (about 10,000 gradients)."""

REPEAT = (5, 20, 10.0)
"""Timed samples per process round: at least 5, at most 20, stopping after 10 s. More samples than asv's
default (at most 5 per round) narrow the confidence intervals that ``asv continuous`` and ``asv compare`` test
on a busy machine; a slow call still stops after 5 samples."""

Call = tuple[common.Problem, Callable[[], object]]


def gradient_call(model: str, device: str, dtype: str, batch: int, loss: str = "task") -> Call:
    problem = common.problem(model, device, dtype, batch, loss=loss)
    return problem, problem.gradient


def diag_call(method: str, backend: str, model: str, device: str, dtype: str, batch: int) -> Call:
    """``hessian_diag`` of the problem, or a skip when the combination is unsupported or infeasible."""
    if method not in PEER_METHODS[backend]:
        common.skip(f"backend {backend!r} does not offer method {method!r}")
    size = common.parameter_count(model)
    if backend in DENSE_BACKENDS and size > common.DENSE_ORACLE_LIMIT:
        common.skip(f"backend {backend!r} costs P Hessian-vector products; {model} has {size} > "
                    f"{common.DENSE_ORACLE_LIMIT} parameters")
    if batch > SLOW.get((backend, method, model), batch):
        common.skip(f"{backend} {method} on {model} takes minutes per call above batch "
                    f"{SLOW[backend, method, model]}")
    hessian_diag = common.require("curvature", "hessian_diag")
    p = common.problem(model, device, dtype, batch)
    extra = {"probes": common.HUTCHINSON_PROBES} if method == "hutchinson" else {}
    return p, lambda: hessian_diag(p.model, p.loss_fn, p.inputs, p.targets, method=method, backend=backend,
                                   **extra)


def inverse_call(method: str, model: str, device: str, dtype: str, batch: int) -> Call:
    """OBS's ``inverse_hessian`` of the GGN (alpha 1e-3) in ``dtype``; a skip when the matrix is too big."""
    block = method == "block-diagonal"
    size = common.largest_block(model) if block else common.parameter_count(model)
    if size > common.DENSE_INVERSE_LIMIT:
        common.skip(f"a {size} x {size} inverse{' block' if block else ''} of {model} is above the "
                    f"{common.DENSE_INVERSE_LIMIT} limit")
    inverse_hessian = common.require("curvature.inverse", "inverse_hessian")
    p = common.problem(model, device, dtype, batch)
    torch_dtype = getattr(torch, dtype)
    return p, lambda: inverse_hessian(p.model, p.loss_fn, p.inputs, p.targets, method=method, hessian="ggn",
                                      alpha=1e-3, dtype=torch_dtype)


class Gradient:
    """One gradient of E (forward and backward pass): the baseline every curvature cost is read against."""

    param_names = ["model", "device", "dtype", "batch"]
    params = [ANCHOR_MODELS, DEVICES, DTYPES, BATCHES]
    repeat = REPEAT

    def setup(self, model, device, dtype, batch):
        self.problem, self.call = gradient_call(model, device, dtype, batch)

    def time_gradient(self, *params):
        self.call()
        self.problem.sync()

    def peakmem_gradient(self, *params):
        self.call()


class HessianDiagonal:
    """``prunebench.curvature.hessian_diag(model, loss_fn, X, y, method, backend=...)``."""

    param_names = ["method", "backend", "model", "device", "dtype", "batch"]
    params = [DIAG_METHODS, BACKENDS, ANCHOR_MODELS, DEVICES, DTYPES, BATCHES]
    repeat = REPEAT
    timeout = 600

    def setup(self, method, backend, model, device, dtype, batch):
        self.problem, self.call = diag_call(method, backend, model, device, dtype, batch)

    def time_hessian_diag(self, *params):
        self.call()
        self.problem.sync()

    def peakmem_hessian_diag(self, *params):
        self.call()


class Zoo:
    """The benchmark zoo (``prunebench bench-report --zoo``): one gradient and every native diagonal, CPU
    float32, batch 256, cross-entropy; time and peak memory."""

    param_names = ["method", "model"]
    params = [["gradient", "exact", "ggn", "fisher", "lecun", "lecun-lm"], common.ZOO_MODELS]
    repeat = REPEAT
    timeout = 600

    def setup(self, method, model):
        if method == "gradient":
            self.problem, self.call = gradient_call(model, "cpu", "float32", common.ZOO_BATCH, loss="ce")
            return
        hessian_diag = common.require("curvature", "hessian_diag")
        p = common.problem(model, "cpu", "float32", common.ZOO_BATCH, loss="ce")
        self.problem = p
        self.call = lambda: hessian_diag(p.model, p.loss_fn, p.inputs, p.targets, method=method)

    def time_zoo(self, *params):
        self.call()

    def peakmem_zoo(self, *params):
        self.call()


class InverseHessian:
    """``prunebench.curvature.inverse_hessian(..., method, hessian="ggn")``: OBS's inverse."""

    param_names = ["method", "model", "device", "dtype", "batch"]
    params = [INVERSE_METHODS, ANCHOR_MODELS, DEVICES, DTYPES, BATCHES]
    timeout = 600

    def setup(self, method, model, device, dtype, batch):
        self.problem, self.call = inverse_call(method, model, device, dtype, batch)

    def time_inverse_hessian(self, *params):
        self.call()
        self.problem.sync()

    def peakmem_inverse_hessian(self, *params):
        self.call()


class CudaMemory:
    """Peak CUDA memory of one call, in MiB above what was allocated before it (skipped without a GPU)."""

    param_names = ["kind", "model", "dtype", "batch"]
    params = [["gradient", *(f"diag:{m}" for m in DIAG_METHODS), *(f"inverse:{m}" for m in INVERSE_METHODS)],
              ANCHOR_MODELS, DTYPES, BATCHES]

    def setup(self, kind, model, dtype, batch):
        common.use_device("cuda")
        group, _, method = kind.partition(":")
        if group == "gradient":
            self.problem, self.call = gradient_call(model, "cuda", dtype, batch)
        elif group == "diag":
            self.problem, self.call = diag_call(method, "native", model, "cuda", dtype, batch)
        else:
            self.problem, self.call = inverse_call(method, model, "cuda", dtype, batch)

    def track_peak_mib(self, *params):
        device = self.problem.device
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        self.call()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20

    track_peak_mib.unit = "MiB"


class DenseRate:
    """The float64 matmul rate and the dense SPD inverse (Cholesky) at the same size: the P = 8000 target
    compares their flop rates (an inverse is n^3 flop, a product 2 n^3)."""

    param_names = ["size", "device"]
    params = [[2000, 8000], DEVICES]
    number = 1
    warmup_time = 0.0
    repeat = (2, 5, 60.0)
    timeout = 600

    def setup(self, size, device):
        self.device = common.use_device(device)
        self.matrix = common.spd_matrix(size, self.device)

    def time_matmul(self, size, device):
        self.matrix @ self.matrix
        common.sync(self.device)

    def time_spd_inverse(self, size, device):
        torch.cholesky_inverse(torch.linalg.cholesky(self.matrix))
        common.sync(self.device)
