"""prunebench.curvature._sweep: the exact, GGN and Fisher sweep against theory.

Tolerances. Every exact native quantity is compared in float64 with ``rtol=1e-10`` and an absolute floor of
``1e-12 * max|expected|`` (entries that cancel to ~0 carry rounding error relative to the largest ones): the
sweeps reorder sums of O(P) terms, so agreement is ~1e-15 relative in practice and 1e-10 leaves a wide margin
while catching any missing term (a dropped cross-layer or shared-weight term changes entries at O(1))."""

from __future__ import annotations

import functools

import pytest
import torch

from cases import Case, grid, params
from helpers import assert_close
from prunebench.curvature import (
    ParamLayout,
    hessian_diag,
    oracle,
)

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


@pytest.mark.parametrize("case", params(grid(["mlp-3-4-3-relu", "mlp-3-4-3-3-relu-nobias"],
                                             ["mse-sum", "ce-mean"])))
def test_exact_equals_ggn_diagonal_for_piecewise_linear_nets(case):
    # z is linear in each single weight for a fixed ReLU pattern, so d2z/dw^2 = 0 and the Hessian's diagonal
    # is the GGN's (off-diagonal entries differ: z is bilinear across layers).
    model, loss_fn, X, y = case.build()
    layout = ParamLayout.from_model(model)
    exact = layout.flatten(hessian_diag(model, loss_fn, X, y, "exact"))
    close(exact, layout.flatten(hessian_diag(model, loss_fn, X, y, "ggn")), "exact vs ggn diagonal")
    off = dense(case, "exact") - dense(case, "ggn")
    assert off.abs().max() > 1e-6, "the full matrices should differ off the diagonal"
