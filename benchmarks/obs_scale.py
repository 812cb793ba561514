"""Full-network Optimal Brain Surgeon at scale: time, GFLOP/s and memory to 95% sparsity, and what
the group size costs in accuracy.

``FullOBSScale`` runs ``obs-full`` (:mod:`prunebench.methods.fullobs`) on the 784-40-20-10 MNIST MLP (32,360
weights, one 32,360 x 32,360 float32 inverse, 4.2 GB) from the dense model to 95% sparsity, once per commit in
``setup_cache`` for every group size (the runs take minutes each), and reports per group size and device:

- ``track_seconds`` and ``track_cpu_seconds``: wall and CPU time of the whole run (inverse and deletions);
  the target is under 10 minutes on the 2-core reference machine with ``PRUNEBENCH_BENCH_THREADS=2``;
- ``track_build_gflops`` and ``track_downdate_gflops``: the achieved rate of the Woodbury build and of the
  delayed downdates (flop counted from the matrix sizes), and ``track_matmul_gflops``: ``C -= A B^T``
  (4096 x 4096, rank 256, float32) measured in the same process just before, so that
  ``track_downdate_efficiency`` and ``track_build_efficiency`` (the ratios; target >= 0.5) do not depend on
  how busy the machine was;
- ``track_peak_rss_gib``: the process's peak resident memory during the run (``track_peak_cuda_gib`` on a
  GPU).

The workload is synthetic (standard-normal inputs, random labels, 1,000 samples for the empirical Fisher, an
untrained seeded network): the cost does not depend on what the network learned.

``GroupSizeAccuracy`` answers what grouping costs where group size 1 (the paper's one-at-a-time OBS) is cheap:
the scikit-learn digits MLP 64-32-10 (2,410 weights, trained per commit, seeds 0-2), pruned one-shot to 50%,
75% and 90% by ``obs-full`` at each group size (past 90% this small net is near chance for every method);
``track_test_accuracy`` is the median test accuracy over the seeds and ``track_accuracy_cost`` the median
difference to group size 1 (percentage points, negative = worse).
"""

from __future__ import annotations

import os
import statistics
import time

import torch

from . import common

GROUP_SIZES = [64, 256, 1024]
"""Group sizes timed at full scale (each a run of minutes; group size 1 costs a re-ranking per weight)."""

TARGET = 0.95
SAMPLES = 1000
MODEL = "mlp-784-40-20-10"

ACCURACY_GROUP_SIZES = [1, 4, 16, 64, 256]
ACCURACY_SEEDS = (0, 1, 2)
ACCURACY_SPARSITIES = [0.5, 0.75, 0.9]


def _matmul_gflops(dtype: torch.dtype, device: torch.device, n: int = 4096, k: int = 256) -> float:
    """Best of three ``C -= A A^T`` (``[n, n]``, rank ``k``): the shape of the downdates."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(n, k, generator=g, dtype=dtype).to(device)
    C = torch.zeros(n, n, dtype=dtype, device=device)
    best = float("inf")
    for _ in range(4):
        common.sync(device)
        start = time.perf_counter()
        C.addmm_(A, A.T, alpha=-1.0)
        common.sync(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n * n * k / best / 1e9


def _full_run(group_size: int, device: str) -> dict:
    """One run to 95% with its stats, or the reason it was skipped."""
    if device == "cuda" and not torch.cuda.is_available():
        return {"skip": "no CUDA device on this machine"}
    fullobs = common.require("methods.fullobs")
    meter_cls = common.require("experiments.obs_mnist", "Meter")
    p = common.problem(MODEL, device, "float32", SAMPLES)
    rates = {name: _matmul_gflops(getattr(torch, name), p.device) for name in ("float32", "float64")}
    obs = fullobs.FullOBS(dtype="float32", group_size=group_size, samples=SAMPLES)
    count = int(TARGET * common.parameter_count(MODEL))
    try:
        with meter_cls(p.device) as meter, meter.span():
            obs.select(p.model, p.loss_fn, p.inputs, p.targets, count=count)
    except MemoryError as exc:
        return {"skip": str(exc)}
    stats = obs.last_stats
    return {"seconds": meter.wall_s, "cpu_seconds": meter.cpu_s, "peak_gib": meter.peak_gb * 1e9 / 2**30,
            "build_gflops": stats.gflops("build"), "downdate_gflops": stats.gflops("downdate"),
            "matmul_gflops": rates, "groups": stats.groups, "threads": torch.get_num_threads(),
            "load_average": os.getloadavg()[0]}


class FullOBSScale:
    """Full-network OBS on the 32,360-weight MNIST MLP to 95% sparsity: time, GFLOP/s, memory."""

    param_names = ["group_size", "device"]
    params = [GROUP_SIZES, common.DEVICES]
    timeout = 7200

    def setup_cache(self):
        return {(k, d): _full_run(k, d) for d in common.DEVICES for k in GROUP_SIZES}

    def setup(self, cache, group_size, device):
        result = cache[group_size, device]
        if "skip" in result:
            common.skip(result["skip"])
        self.result = result

    def track_seconds(self, cache, group_size, device):
        return self.result["seconds"]

    def track_cpu_seconds(self, cache, group_size, device):
        return self.result["cpu_seconds"]

    def track_build_gflops(self, cache, group_size, device):
        return self.result["build_gflops"]

    def track_downdate_gflops(self, cache, group_size, device):
        return self.result["downdate_gflops"]

    def track_matmul_gflops(self, cache, group_size, device):
        return self.result["matmul_gflops"]["float32"]

    def track_build_efficiency(self, cache, group_size, device):
        return self.result["build_gflops"] / self.result["matmul_gflops"]["float32"]

    def track_downdate_efficiency(self, cache, group_size, device):
        return self.result["downdate_gflops"] / self.result["matmul_gflops"]["float32"]

    def track_peak_rss_gib(self, cache, group_size, device):
        if device == "cuda":
            common.skip("resident memory is the CPU measure; see track_peak_cuda_gib")
        return self.result["peak_gib"]

    def track_peak_cuda_gib(self, cache, group_size, device):
        if device != "cuda":
            common.skip("CUDA memory only")
        return self.result["peak_gib"]

    track_seconds.unit = "seconds"
    track_cpu_seconds.unit = "seconds"
    track_build_gflops.unit = "GFLOP/s"
    track_downdate_gflops.unit = "GFLOP/s"
    track_matmul_gflops.unit = "GFLOP/s"
    track_build_efficiency.unit = "fraction of matmul"
    track_downdate_efficiency.unit = "fraction of matmul"
    track_peak_rss_gib.unit = "GiB"
    track_peak_cuda_gib.unit = "GiB"


def _accuracy_runs() -> dict | str:
    """Test accuracy (%) per (group size, sparsity, seed) on the digits MLP; a reason string when this commit
    cannot run it."""
    try:
        from prunebench.experiments.obs_mnist import QUICK_TASK
        from prunebench.methods.base import Selection
        from prunebench.methods.fullobs import FullOBS
        from prunebench.prune import apply_selection, prunable_names
    except ImportError as exc:
        return f"{type(exc).__name__}: {exc}"
    import copy

    common.use_device("cpu")
    out = {}
    for seed in ACCURACY_SEEDS:
        model, data, _ = QUICK_TASK.trained(seed, None, cache=False)
        base = copy.deepcopy(model)
        apply_selection(base, Selection(), prunable_names(base))
        total = sum(p.numel() for p in base.parameters())
        counts = [int(round(s * total)) for s in ACCURACY_SPARSITIES]
        for k in ACCURACY_GROUP_SIZES:
            obs = FullOBS(group_size=k, samples=500, seed=seed)
            path = obs.prune_path(base, QUICK_TASK.loss_fn(), data.x_train, data.t_train, counts)
            for s, checkpoint in zip(ACCURACY_SPARSITIES, path, strict=True):
                net = copy.deepcopy(base)
                apply_selection(net, checkpoint.selection(), prunable_names(net))
                out[k, s, seed] = 100 * QUICK_TASK.accuracy(net, data.x_test, data.y_test)
    return out


class GroupSizeAccuracy:
    """What the group size costs in test accuracy where group size 1 is affordable (digits MLP, 2,410
    weights)."""

    param_names = ["group_size", "sparsity"]
    params = [ACCURACY_GROUP_SIZES, ACCURACY_SPARSITIES]
    timeout = 1800

    def setup_cache(self):
        return _accuracy_runs()

    def setup(self, cache, group_size, sparsity):
        if isinstance(cache, str):
            common.skip(f"obs-full is not available in this commit: {cache}")

    def track_test_accuracy(self, cache, group_size, sparsity):
        return statistics.median(cache[group_size, sparsity, s] for s in ACCURACY_SEEDS)

    def track_accuracy_cost(self, cache, group_size, sparsity):
        return statistics.median(cache[group_size, sparsity, s] - cache[1, sparsity, s]
                                 for s in ACCURACY_SEEDS)

    track_test_accuracy.unit = "%"
    track_accuracy_cost.unit = "percentage points"
