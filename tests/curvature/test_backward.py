"""prunebench.curvature._backward: the exact, GGN and Fisher sweep against theory.

Tolerances: :func:`helpers.close` (float64, ``rtol=1e-10``, absolute floor ``1e-12 * max|expected|``)."""

from __future__ import annotations

import pytest

from cases import grid, params
from helpers import close, dense
from prunebench.curvature import (
    ParamLayout,
    hessian_diag,
)

pytestmark = pytest.mark.usefixtures("one_thread")


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
