"""Speed and memory of one gradient, every Hessian diagonal and every inverse, on every backend.

Read each curvature time against ``Gradient.time_gradient`` of the same (model, device, dtype, batch): the
speed targets are ratios to one gradient (docs/benchmarks.md). ``time_`` is wall time (GPU work synchronised
before returning), ``peakmem_`` the peak resident memory of the benchmark process (asv's measure, which
includes the interpreter and torch), ``track_cuda_peak_mib`` the peak CUDA memory of one call above what was
allocated before it (CUDA only).

Skipped (NotImplementedError in setup): CUDA without a GPU; a backend that does not offer a method (BackPACK
and curvlinops have no OBD ``lecun``/``lecun-lm`` or ``hutchinson``; torch.func only the dense ``exact``,
``ggn``, ``fisher``); dense work that does not fit (torch.func or curvlinops diagonals, which cost P matrix-vector
products, above 2,500 parameters; dense inverses or inverse blocks above 8,000 parameters).
"""

from __future__ import annotations

import torch

from . import common
from .common import ANCHOR_MODELS, BACKENDS, BATCHES, DEVICES, DIAG_METHODS, DTYPES, INVERSE_METHODS

PEER_METHODS = {"native": set(DIAG_METHODS), "torchfunc": {"exact", "ggn", "fisher"},
                "backpack": {"exact", "ggn", "fisher"}, "curvlinops": {"exact", "ggn", "fisher"}}
"""What each backend offers (prunebench.curvature.backends documents the same table)."""

DENSE_BACKENDS = ("torchfunc", "curvlinops")
"""Backends whose diagonal costs P Hessian-vector products (a dense matrix, column by column)."""


def _cuda_peak_mib(fn, device: torch.device) -> float:
    """Peak CUDA memory of one ``fn()`` above the memory allocated before it, in MiB."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


class Gradient:
    """One gradient of E (forward and backward pass): the baseline every curvature cost is read against."""

    param_names = ["model", "device", "dtype", "batch"]
    params = [ANCHOR_MODELS, DEVICES, DTYPES, BATCHES]

    def setup(self, model, device, dtype, batch):
        self.problem = common.problem(model, device, dtype, batch)

    def time_gradient(self, *params):
        self.problem.gradient()
        self.problem.sync()

    def peakmem_gradient(self, *params):
        self.problem.gradient()

    def track_cuda_peak_mib(self, *params):
        if self.problem.device.type != "cuda":
            return float("nan")
        return _cuda_peak_mib(self.problem.gradient, self.problem.device)

    track_cuda_peak_mib.unit = "MiB"


class HessianDiagonal:
    """``prunebench.curvature.hessian_diag(model, loss_fn, X, y, method, backend=...)``."""

    param_names = ["method", "backend", "model", "device", "dtype", "batch"]
    params = [DIAG_METHODS, BACKENDS, ANCHOR_MODELS, DEVICES, DTYPES, BATCHES]
    timeout = 600

    def setup(self, method, backend, model, device, dtype, batch):
        if method not in PEER_METHODS[backend]:
            common.skip(f"backend {backend!r} does not offer method {method!r}")
        if backend in DENSE_BACKENDS and common.parameter_count(model) > common.DENSE_ORACLE_LIMIT:
            common.skip(f"backend {backend!r} costs P Hessian-vector products; {model} has "
                        f"{common.parameter_count(model)} > {common.DENSE_ORACLE_LIMIT} parameters")
        hessian_diag = common.require("curvature", "hessian_diag")
        self.problem = p = common.problem(model, device, dtype, batch)
        extra = {"probes": common.HUTCHINSON_PROBES} if method == "hutchinson" else {}

        def call():
            return hessian_diag(p.model, p.loss_fn, p.inputs, p.targets, method=method, backend=backend, **extra)

        self.call = call

    def time_hessian_diag(self, *params):
        self.call()
        self.problem.sync()

    def peakmem_hessian_diag(self, *params):
        self.call()

    def track_cuda_peak_mib(self, *params):
        if self.problem.device.type != "cuda":
            return float("nan")
        return _cuda_peak_mib(self.call, self.problem.device)

    track_cuda_peak_mib.unit = "MiB"


class InverseHessian:
    """``prunebench.curvature.inverse_hessian(..., method, hessian="ggn")``: OBS's inverse, float64."""

    param_names = ["method", "model", "device", "dtype", "batch"]
    params = [INVERSE_METHODS, ANCHOR_MODELS, DEVICES, DTYPES, BATCHES]
    timeout = 600

    def setup(self, method, model, device, dtype, batch):
        size = common.largest_block(model) if method == "block-diagonal" else common.parameter_count(model)
        if size > common.DENSE_INVERSE_LIMIT:
            common.skip(f"a {size} x {size} inverse{' block' if method == 'block-diagonal' else ''} of {model} is "
                        f"above the {common.DENSE_INVERSE_LIMIT} limit")
        inverse_hessian = common.require("curvature.inverse", "inverse_hessian")
        self.problem = p = common.problem(model, device, dtype, batch)
        torch_dtype = getattr(torch, dtype)

        def call():
            return inverse_hessian(p.model, p.loss_fn, p.inputs, p.targets, method=method, hessian="ggn",
                                   alpha=1e-3, dtype=torch_dtype)

        self.call = call

    def time_inverse_hessian(self, *params):
        self.call()
        self.problem.sync()

    def peakmem_inverse_hessian(self, *params):
        self.call()

    def track_cuda_peak_mib(self, *params):
        if self.problem.device.type != "cuda":
            return float("nan")
        return _cuda_peak_mib(self.call, self.problem.device)

    track_cuda_peak_mib.unit = "MiB"


class DenseRate:
    """The machine's float64 matmul rate and the dense SPD inverse at the same size (the P = 8000 target)."""

    param_names = ["size", "device"]
    params = [[2000, 8000], DEVICES]
    timeout = 600

    def setup(self, size, device):
        dev = common.use_device(device)
        self.device = dev
        self.matrix = common.spd_matrix(size, dev)
        self.size = size

    def time_matmul(self, size, device):
        self.matrix @ self.matrix
        common.sync(self.device)

    def time_spd_inverse(self, size, device):
        torch.cholesky_inverse(torch.linalg.cholesky(self.matrix))
        common.sync(self.device)
