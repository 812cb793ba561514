"""prunebench.curvature.inverse: the solvers against ``torch.linalg.inv`` of the same damped matrix, the
block-diagonal variant, memory refusal, indefinite Hessians and float32 vs float64.

Tolerances. The reference is ``torch.linalg.inv(A)`` for ``A = G + alpha I`` with ``G`` from the dense
float64 oracle (independent of the vectors the fast paths use). Two correct float64 inverses differ by about
``kappa(A) * eps``; the matrices here have ``kappa <= 1e6`` (``alpha = 1e-3``), so the comparison is
``rtol=1e-10`` with an absolute floor of ``1e-10 * max|expected|`` (near-zero entries carry the rounding error
of the largest ones; observed differences are <= 2e-13 of the largest entry). A wrong scale, a missing output
or a missing sample changes entries at O(1)."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from cases import Case, damped, inverse_problem
from helpers import close as oracle_close
from prunebench.curvature import (
    _memory,
    oracle,
)
from prunebench.curvature.inverse import InverseCurvature, inverse_hessian
from prunebench.models import Net, build

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lazy_inverse_hessian_export():
    import prunebench.curvature as curvature

    try:
        import prunebench.curvature.inverse  # noqa: F401
    except ImportError:
        pytest.skip("prunebench.curvature.inverse has not landed yet")
    assert callable(curvature.inverse_hessian)
    with pytest.raises(AttributeError, match="no attribute"):
        curvature.not_a_function  # noqa: B018


RTOL = 1e-10


ALPHA = 1e-3

close = functools.partial(oracle_close, rtol=RTOL, floor=1e-10)


PROBLEMS = [("xor-2-2-1", "mse-sum"), ("monk-17-3-1", "mse-mean"), ("mlp-3-4-3-tanh", "mse-sum"),
            ("mlp-3-4-3-tanh", "mse-mean"), ("mlp-3-4-3-tanh", "ce-sum"), ("mlp-3-4-3-tanh", "ce-mean"),
            ("mlp-3-4-4-3-3-tanh", "ce-sum"), ("cnn-small", "ce-mean"), ("cnn-small", "mse-sum"),
            ("mlp-3-4-3-tanh-pruned", "mse-mean")]


@pytest.mark.parametrize("hessian", ["ggn", "fisher"])
@pytest.mark.parametrize("model,loss", PROBLEMS, ids=[f"model={m},loss={lo}" for m, lo in PROBLEMS])
def test_three_paths_agree_with_the_inverse_of_the_damped_matrix(model, loss, hessian):
    net, loss_fn, X, y = inverse_problem(model, loss)
    expected = torch.linalg.inv(damped(net, loss_fn, X, y, hessian))
    for method, block_size in (("recursion", 256), ("woodbury", 5), ("woodbury", 256), ("cholesky", 256)):
        result = inverse_hessian(net, loss_fn, X, y, method, curvature=hessian, alpha=ALPHA,
                                 block_size=block_size)
        close(result.matrix, expected, f"{method} (block_size={block_size})")
        assert result.health.damping == ALPHA and result.health.failure is None
        assert result.health.curvature == hessian and result.solver == method


def test_recursion_is_eq17_with_the_papers_vectors():
    # The fixed point documented in the module, (alpha I + (1/N) sum_k sum_c X_kc X_kc^T)^-1, for
    # MSELoss("mean") with X_kc = sqrt(2/C) dF_c(w, in_k)/dw (the paper's X up to torch's constant), run
    # literally as eq. 17.
    net, loss_fn, X, y = inverse_problem("mlp-3-4-3-tanh", "mse-mean")
    N = X.shape[0]
    J = oracle.output_jacobians(net, X)  # [N, C, P]
    C, P = J.shape[1], J.shape[2]
    vectors = (2.0 / C) ** 0.5 * J.reshape(N * C, P)
    H_inv = torch.eye(P, dtype=torch.float64) / ALPHA
    for x in vectors:  # H^-1_{m+1} = H^-1_m - (H^-1_m X X^T H^-1_m) / (P + X^T H^-1_m X), P = N samples
        Hx = H_inv @ x
        H_inv = H_inv - torch.outer(Hx, Hx) / (N + x @ Hx)
    fixed_point = torch.linalg.inv(ALPHA * torch.eye(P, dtype=torch.float64) + vectors.T @ vectors / N)
    close(H_inv, fixed_point, "eq. 17 by hand vs its fixed point")
    result = inverse_hessian(net, loss_fn, X, y, "recursion", curvature="ggn", alpha=ALPHA)
    close(result.matrix, H_inv, "recursion vs eq. 17 by hand")
    # Fisher: X_k = sqrt(N s) g_k with s = 1/N for "mean".
    g = oracle.per_sample_grads(net, loss_fn, X, y)
    fisher = inverse_hessian(net, loss_fn, X, y, "recursion", curvature="fisher", alpha=ALPHA)
    close(fisher.matrix, torch.linalg.inv(ALPHA * torch.eye(P, dtype=torch.float64) + g.T @ g / N), "fisher")


@pytest.mark.parametrize("model", ["mlp-3-4-3-tanh", "mlp-3-4-3-tanh-pruned"])
def test_damping_adds_to_alpha_and_float32_models_are_promoted(model):
    net32, loss_fn, X, y = inverse_problem(model, "ce-sum", dtype=torch.float32)
    net64, _, X64, _ = inverse_problem(model, "ce-sum")
    with torch.no_grad():  # the float32 weights and data, exactly, in float64
        for p32, p64 in zip(net32.parameters(), net64.parameters(), strict=True):
            p64.copy_(p32)
    net64(X64)  # recompute the pruned layers' effective weights
    expected = torch.linalg.inv(damped(net64, loss_fn, X.double(), y, "fisher", alpha=ALPHA + 0.5))
    for method in ("woodbury", "cholesky"):
        result = inverse_hessian(net32, loss_fn, X, y, method, alpha=ALPHA, damping=0.5)
        assert result.health.damping == ALPHA + 0.5 and result.matrix.dtype == torch.float64
        close(result.matrix, expected, method)
    assert all(p.dtype == torch.float32 for p in net32.parameters())  # the user's model is untouched


def test_condition_estimate_bounds_the_condition_number():
    net, loss_fn, X, y = inverse_problem("cnn-small", "ce-mean")
    kappa = float(torch.linalg.cond(damped(net, loss_fn, X, y, "ggn")))
    for method in ("recursion", "woodbury", "cholesky"):
        health = inverse_hessian(net, loss_fn, X, y, method, curvature="ggn", alpha=ALPHA).health
        estimate = health.condition_estimate
        # kappa_2 <= kappa_1 <= P kappa_2, and the data-pass bound on ||A||_1 adds at most another factor P.
        assert kappa * (1 - 1e-9) <= estimate <= kappa * 73**2


def block_inverse(A: torch.Tensor, slices: list[slice]) -> torch.Tensor:
    out = torch.zeros_like(A)
    for sl in slices:
        out[sl, sl] = torch.linalg.inv(A[sl, sl])
    return out


@pytest.mark.parametrize("method", ["block-diagonal", "recursion", "cholesky"])
def test_block_diagonal_is_the_inverse_of_the_block_diagonal_part(method):
    net, loss_fn, X, y = inverse_problem("cnn-small", "mse-mean")
    A = damped(net, loss_fn, X, y, "ggn")
    blocks = None if method == "block-diagonal" else "module"
    result = inverse_hessian(net, loss_fn, X, y, method, curvature="ggn", alpha=ALPHA, blocks=blocks)
    slices = [sl for sl, _ in result.blocks]
    assert slices == list(result.layout.blocks.values()) and len(slices) == 3  # conv, conv, linear
    expected = block_inverse(A, slices)
    close(result.to_dense(), expected, f"{method} blocks")
    close(result.diag(), expected.diagonal(), "diag()")
    for q in (0, 20, 72):
        close(result.column(q), expected[:, q], f"column({q})")
    with pytest.raises(ValueError, match=r"block-diagonal \(3 blocks\); use \.blocks"):
        _ = result.matrix


def test_block_diagonal_exact_hessian_and_parameter_blocks():
    net, loss_fn, X, y = inverse_problem("mlp-3-4-3-tanh", "mse-sum")
    H = oracle.dense_hessian(net, loss_fn, X, y)
    result = inverse_hessian(net, loss_fn, X, y, "block-diagonal", curvature="exact", alpha=0.0, damping=50.0,
                             blocks="parameter")
    slices = [sl for sl, _ in result.blocks]
    assert len(slices) == 4
    expected = block_inverse(H + 50.0 * torch.eye(H.shape[0], dtype=H.dtype), slices)
    close(result.to_dense(), expected, "exact blocks")
    groups = [["0.weight", "0.bias"], ["2.bias", "2.weight"]]
    by_name = inverse_hessian(net, loss_fn, X, y, "woodbury", alpha=ALPHA, blocks=groups)
    assert [sl for sl, _ in by_name.blocks] == list(by_name.layout.blocks.values())


def test_indefinite_exact_hessian_raises_or_is_damped():
    net, loss_fn, X, y = inverse_problem("mlp-3-4-3-tanh", "mse-sum")
    H = oracle.dense_hessian(net, loss_fn, X, y)
    assert float(torch.linalg.eigvalsh(H)[0]) < 0  # precondition: away from a minimum
    with pytest.raises(ValueError, match=r"is not positive definite: its Cholesky factorisation failed at "
                                         r"leading minor \d+ of 31\. Pass on_indefinite='damp'"):
        inverse_hessian(net, loss_fn, X, y, "cholesky", curvature="exact", alpha=0.0)
    result = inverse_hessian(net, loss_fn, X, y, "cholesky", curvature="exact", alpha=0.0, on_indefinite="damp")
    used = result.health.damping
    assert used > -float(torch.linalg.eigvalsh(H)[0])
    assert "not positive definite" in result.health.failure and result.health.negative_fraction >= 0
    close(result.matrix, torch.linalg.inv(H + used * torch.eye(31, dtype=H.dtype)), "damped exact inverse",
          floor=1e-9)


def test_memory_refusal_names_the_size_and_the_remedies(monkeypatch):
    net = build("lenet-300-100")  # P = 266,610: 569 GB in float64 (plus workspace)
    X, y = torch.randn(2, 784), torch.randn(2, 10)
    message = (r"needs about 5\d\d\.\d\d GB for P=266,610 parameters: a 266610 x 266610 float64 matrix "
               r"plus workspace, but only .* GB is available on cpu\. Use blocks='module' "
               r"\(layer-block-diagonal: .* GB\) or dtype=torch\.float32 \(284\.\d+ GB")
    with pytest.raises(MemoryError, match=message):
        inverse_hessian(net, nn.MSELoss(), X, y, "woodbury")
    monkeypatch.setattr(_memory, "available_bytes", lambda device: 1000)
    small, loss_fn, X, y = inverse_problem("xor-2-2-1", "mse-sum")
    with pytest.raises(MemoryError, match=r"P=9 parameters: a 9 x 9 float64 matrix \(twice: "
                                          r"on_indefinite='damp'"):
        inverse_hessian(small, loss_fn, X, y, "cholesky", on_indefinite="damp")


def test_float32_against_float64():
    # Measured on this net (N=40, GGN): the float32 inverse differs from the float64 one by about
    # 0.01 * kappa * eps32 relative to its largest entry, for kappa from 9e2 (alpha=1e-2: 4e-7) to 9e6
    # (alpha=1e-6, the paper's range: 2e-3), and a few downdates keep that error. The bound kappa * eps32
    # leaves a 100x margin.
    net, loss_fn, X, y = inverse_problem("monk-17-3-1", "mse-sum", n=40)
    exact = inverse_hessian(net, loss_fn, X, y, "woodbury", curvature="ggn", alpha=1e-2)
    single = inverse_hessian(net, loss_fn, X, y, "woodbury", curvature="ggn", alpha=1e-2, dtype=torch.float32)
    assert single.matrix.dtype == torch.float32
    kappa = float(torch.linalg.cond(damped(net, loss_fn, X, y, "ggn", alpha=1e-2)))
    bound = kappa * torch.finfo(torch.float32).eps
    scale = float(exact.matrix.abs().max())
    assert float((single.matrix.double() - exact.matrix).abs().max()) <= bound * scale
    for inv in (exact, single):
        inv.downdate_group([0, 5, 20])
        inv.downdate(57)
    assert float((single.matrix.double() - exact.matrix).abs().max()) <= bound * scale


def test_argument_validation():
    net, loss_fn, X, y = inverse_problem("xor-2-2-1", "mse-sum")
    bad = [
        (dict(solver="lu"),
         r"solver must be one of \['recursion', 'woodbury', 'cholesky', 'block-diagonal'\]; got 'lu'"),
        (dict(solver="recursion", curvature="exact"),
         r"curvature must be one of \['ggn', 'fisher'\] for solver='recursion'; got 'exact' \(the exact "
         r"Hessian has no outer-product form; use solver='cholesky'\)"),
        (dict(solver="woodbury", alpha=0.0), r"alpha must be > 0 for solver='woodbury'"),
        (dict(alpha=-1.0), r"alpha must be a finite float >= 0; got -1\.0"),
        (dict(block_size=0), r"block_size must be a positive int; got 0"),
        (dict(dtype=torch.int64), r"dtype must be a floating torch\.dtype"),
        (dict(on_indefinite="ignore"), r"on_indefinite must be 'raise' or 'damp'; got 'ignore'"),
        (dict(blocks="layer"), r"blocks must be None, 'module', 'parameter' or a list"),
        (dict(blocks=[["0.weight"], ["2.weight", "2.bias"]]),
         r"blocks must cover every parameter exactly once"),
        (dict(blocks=[["0.weight", "2.weight"], ["0.bias", "2.bias"]]), r"contiguous in named_parameters"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            inverse_hessian(net, loss_fn, X, y, **kwargs)
    assert isinstance(inverse_hessian(net, loss_fn, X, y, alpha=ALPHA), InverseCurvature)


def test_layers_outside_the_native_sweep_use_torch_func():
    # nn.Softplus is not supported by the native sweep: the vectors come from per-sample torch.func.jacrev.
    torch.manual_seed(0)
    net = Net("MLP(3-4-3, softplus)", (3,), nn.Linear(3, 4), nn.Softplus(), nn.Linear(4, 3)).double()
    X, y = torch.randn(6, 3, dtype=torch.float64), torch.randint(0, 3, (6,))
    loss_fn = nn.CrossEntropyLoss(reduction="mean")
    for hessian in ("ggn", "fisher"):
        expected = torch.linalg.inv(damped(net, loss_fn, X, y, hessian))
        result = inverse_hessian(net, loss_fn, X, y, "woodbury", curvature=hessian, alpha=ALPHA, block_size=4)
        close(result.matrix, expected, f"softplus {hessian}")


def test_method_and_hessian_are_deprecated_aliases_of_solver_and_curvature():
    net, loss_fn, X, y = Case("mlp-3-4-3-tanh", "mse-sum").build()
    with pytest.warns(DeprecationWarning) as caught:
        old = inverse_hessian(net, loss_fn, X, y, method="cholesky", hessian="ggn", alpha=ALPHA)
    assert {str(w.message) for w in caught} >= {
        "inverse_hessian(): method= is deprecated; use solver= (same values)",
        "inverse_hessian(): hessian= is deprecated; use curvature= (same values)"}
    new = inverse_hessian(net, loss_fn, X, y, solver="cholesky", curvature="ggn", alpha=ALPHA)
    assert torch.equal(old.matrix, new.matrix) and old.health == new.health
    with pytest.warns(DeprecationWarning, match=r"InverseCurvature.method is deprecated; use .solver"):
        assert new.method == new.solver == "cholesky"
