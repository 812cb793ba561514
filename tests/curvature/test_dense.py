"""prunebench.curvature.dense: dense curvature matrices against the oracle, and the oracle fallback for
layers outside the sweeps.

Tolerances. Every exact native quantity is compared in float64 with ``rtol=1e-10`` and an absolute floor of
``1e-12 * max|expected|`` (entries that cancel to ~0 carry rounding error relative to the largest ones): the
sweeps reorder sums of O(P) terms, so agreement is ~1e-15 relative in practice and 1e-10 leaves a wide margin
while catching any missing term (a dropped cross-layer or shared-weight term changes entries at O(1))."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from cases import Case, params
from helpers import assert_close
from prunebench.curvature import (
    DenseCurvature,
    ParamLayout,
    hessian,
    oracle,
)
from prunebench.curvature.generic import FallbackWarning
from prunebench.models import Net

RTOL = 1e-10


pytestmark = pytest.mark.usefixtures("one_thread")


def close(actual, expected, name, rtol=RTOL, floor=1e-12):
    """assert_close with the absolute floor scaled to the largest expected entry."""
    expected = torch.as_tensor(expected)
    scale = float(expected.abs().max().clamp_min(1e-300))
    assert_close(actual, expected, rtol=rtol, atol=floor * scale, name=name)


ORACLES = {"exact": oracle.dense_hessian, "ggn": oracle.dense_ggn, "fisher": oracle.dense_fisher}


@functools.cache
def dense(case: Case, method: str) -> torch.Tensor:
    """The dense float64 oracle ``[P, P]`` of a case (cached: lenet-digits takes a few seconds)."""
    return ORACLES[method](*case.build())


@pytest.mark.parametrize("method", ["exact", "ggn", "fisher"])
@pytest.mark.parametrize("case", params([Case("mlp-3-4-4-3-3-tanh", "ce-sum"), Case("cnn-small", "mse-mean"),
                                         Case("mlp-3-4-3-tanh-pruned", "ce-mean")]))
def test_native_dense_matches_oracle(case, method):
    model, loss_fn, X, y = case.build()
    result = hessian(model, loss_fn, X, y, method)
    assert isinstance(result, DenseCurvature)
    assert result.layout == ParamLayout.from_model(model)
    close(result.matrix, dense(case, method), f"dense {method}")
    close(result.layout.flatten(result.diagonal()), torch.diagonal(result.matrix), "DenseCurvature.diagonal")
    torchfunc = hessian(model, loss_fn, X, y, method, backend="torchfunc")
    close(torchfunc.matrix, dense(case, method), f"torchfunc dense {method}")


def test_dense_ggn_and_fisher_of_an_unsupported_layer_come_from_the_oracle_with_a_warning():
    from prunebench.curvature import hessian

    torch.manual_seed(0)
    model = Net("ln", (3,), nn.Linear(3, 4), nn.LayerNorm(4), nn.Tanh(), nn.Linear(4, 2)).double()
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randint(0, 2, (5,))
    for method in ("ggn", "fisher"):
        with pytest.warns(FallbackWarning, match=r"^layer '1' \(LayerNorm\) is outside the native curvature "
                                                 r"sweeps: the dense .* comes from the torch.func oracle"):
            result = hessian(model, nn.CrossEntropyLoss(), X, y, method)
        close(result.matrix, ORACLES[method](model, nn.CrossEntropyLoss(), X, y), f"dense {method}")
