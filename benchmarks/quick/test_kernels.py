"""Micro-benchmarks of the curvature and pruning kernels (pytest-benchmark; ``make bench-quick``).

The same kernels as the asv suite, on two small anchor models at batch 32 in float32, one thread: a quick
check (about a minute) that saves its JSON with machine information under ``.benchmarks/`` and compares
against the previous saved run. Not collected by ``make test`` (pyproject's testpaths is ``tests``).
"""

import pytest
import torch

from prunebench import methods
from prunebench.curvature import hessian_diag, inverse_hessian
from prunebench.report import bench as bench_report

MODELS = ["mlp-64-32-10", "lenet-usps"]
BATCH = 32


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=MODELS, ids=lambda m: f"model={m}")
def problem(request):
    return bench_report.problem(request.param, BATCH)


def test_gradient(benchmark, problem):
    net, loss_fn, X, y = problem
    grads = benchmark(lambda: torch.autograd.grad(loss_fn(net(X), y), list(net.parameters())))
    assert len(grads) == len(list(net.parameters()))


DIAGONALS = ["exact", "lecun", "lecun-lm", "ggn", "fisher"]


@pytest.mark.parametrize("method", DIAGONALS, ids=lambda m: f"method={m}")
def test_hessian_diag(benchmark, problem, method):
    net, loss_fn, X, y = problem
    result = benchmark(hessian_diag, net, loss_fn, X, y, method=method)
    assert set(result) == {name for name, _ in net.named_parameters()}


@pytest.mark.parametrize("backend", ["backpack"], ids=lambda b: f"backend={b}")
@pytest.mark.parametrize("method", ["ggn"], ids=lambda m: f"method={m}")
def test_hessian_diag_peer(benchmark, problem, method, backend):
    net, loss_fn, X, y = problem
    result = benchmark(hessian_diag, net, loss_fn, X, y, method=method, backend=backend)
    assert set(result) == {name for name, _ in net.named_parameters()}


@pytest.mark.parametrize("method", ["woodbury", "block-diagonal"], ids=lambda m: f"method={m}")
def test_inverse_hessian(benchmark, method):
    net, loss_fn, X, y = bench_report.problem("mlp-64-32-10", BATCH)
    inverse = benchmark(inverse_hessian, net, loss_fn, X, y, solver=method, curvature="ggn", alpha=1e-3)
    assert inverse.num_params == sum(p.numel() for p in net.parameters())


def test_obs_deletion_step(benchmark):
    """One OBS step (argmin saliency, eq. 5 update, O(P^2) downdate) on an inverse built once, untimed."""
    net, loss_fn, X, y = bench_report.problem("mlp-64-32-10", BATCH, dtype="float64")
    steps = methods.get("obs").sequence(net, loss_fn, X, y)
    next(steps)
    step = benchmark.pedantic(lambda: next(steps), rounds=50, warmup_rounds=1)
    assert step.deletion.saliency >= 0
