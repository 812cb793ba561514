"""prunebench.curvature.backends: cross-backend conformance, native, BackPACK and curvlinops against the
torch.func oracle on the same models.

Tolerances. Everything is float64; every backend computes the same exact quantity by a different route
(BackPACK and the native sweep back-propagate, curvlinops multiplies with identity columns, the oracle
differentiates twice with torch.func), so they agree to ~1e-15 relative in practice (measured: <= 1e-15 on
every case below). ``rtol=1e-9`` with an absolute floor of ``1e-12 * max|expected|`` (entries that cancel to
~0) leaves a wide margin and still catches any convention mismatch (a factor N, C or 2 between libraries
changes entries at O(1))."""

from __future__ import annotations

import functools

import pytest
import torch

import prunebench.curvature.backends as backends
from cases import Case, grid, params
from helpers import close as oracle_close
from prunebench.curvature.layout import ParamLayout

RTOL = 1e-9

close = functools.partial(oracle_close, rtol=RTOL)


MODELS = ["mlp-3-4-3-tanh", "mlp-3-4-3-sigmoid", "mlp-3-4-3-relu", "mlp-3-4-3-scaled-tanh",
          "mlp-3-4-3-tanh-pruned", "cnn-small"]


CASES = grid(MODELS)


pytestmark = pytest.mark.usefixtures("one_thread")


@functools.cache
def reference(case: Case, kind: str) -> torch.Tensor:
    """The torch.func oracle ``[P, P]`` (cached across backends)."""
    return backends.dense("torchfunc", kind, *case.build())


def conforms(backend: str, case: Case, dense: bool = True) -> None:
    model, loss_fn, X, y = case.build()
    layout = ParamLayout.from_model(model)
    for kind in backends.KINDS:
        expected = reference(case, kind)
        values = backends.diag(backend, kind, model, loss_fn, X, y)
        assert list(values) == [name for name, _ in model.named_parameters()]
        assert all(values[n].shape == p.shape for n, p in model.named_parameters())
        close(layout.flatten(values), expected.diagonal(), f"{backend} {kind} diagonal")
        if dense and not (backend == "backpack" and kind == "exact"):
            close(backends.dense(backend, kind, model, loss_fn, X, y), expected, f"{backend} {kind} dense")


@pytest.mark.backend
@pytest.mark.parametrize("case", params(CASES))
def test_native_conforms(case):
    conforms("native", case)


@pytest.mark.backend
@pytest.mark.parametrize("case", params(CASES))
def test_backpack_conforms(case):
    pytest.importorskip("backpack", reason="BackPACK not installed: pip install 'prunebench[backpack]'")
    conforms("backpack", case)


@pytest.mark.backend
@pytest.mark.parametrize("case", params(CASES))
def test_curvlinops_conforms(case):
    pytest.importorskip("curvlinops", reason="curvlinops not installed: pip install 'prunebench[curvlinops]'")
    conforms("curvlinops", case)


def test_unknown_backend_kind_and_unavailable_quantities():
    model, loss_fn, X, y = Case("mlp-3-4-3-tanh", "mse-sum").build()
    with pytest.raises(ValueError, match=r"backend must be one of \['native', 'torchfunc', 'backpack', "
                                         r"'curvlinops'\]; got 'jax'"):
        backends.diag("jax", "exact", model, loss_fn, X, y)
    with pytest.raises(ValueError, match=r"curvature must be one of \['exact', 'ggn', 'fisher'\]; got 'lecun'"):
        backends.dense("native", "lecun", model, loss_fn, X, y)
    with pytest.raises(ValueError, match=r"curvature 'lecun' is not available with backend='curvlinops'"):
        backends.curvlinops_hessian_diag(model, loss_fn, X, y, "lecun")
    pytest.importorskip("backpack", reason="BackPACK not installed: pip install 'prunebench[backpack]'")
    with pytest.raises(ValueError, match=r"curvature='exact' is not available densely from backend='backpack'"):
        backends.dense("backpack", "exact", model, loss_fn, X, y)
