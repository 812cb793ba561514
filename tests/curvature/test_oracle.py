"""prunebench.curvature.oracle: the dense float64 brute force against central differences and the
definitions of the GGN and the Fisher.

Tolerances: :func:`helpers.close` (float64, ``rtol=1e-10``, absolute floor ``1e-12 * max|expected|``)."""

from __future__ import annotations

import pytest
import torch

from cases import Case, params
from helpers import close
from prunebench.curvature import (
    oracle,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("case", params([Case("mlp-3-4-4-3-3-tanh", "mse-sum"), Case("cnn-small", "ce-mean"),
                                         Case("mlp-3-4-3-tanh-pruned", "mse-mean")]))
def test_oracle_hessian_matches_central_differences(case):
    # Central differences of the autograd gradient with h = 1e-4: truncation h^2/6 * |d3 grad| ~ 2e-9 times
    # third derivatives of O(1-10) here, rounding eps * |grad| / h ~ 1e-12; rtol 1e-6 with a floor of
    # 1e-7 * max|H| covers both with a factor >= 10 to spare.
    model, loss_fn, X, y = case.build()
    H = oracle.dense_hessian(model, loss_fn, X, y)
    fd = oracle.finite_difference_hessian(model, loss_fn, X, y, step=1e-4)
    close(fd, H, "finite differences vs torch.func.hessian", rtol=1e-6, floor=1e-7)
    close(H, H.T, "Hessian symmetry")


def test_oracle_ggn_and_fisher_match_their_definitions():
    model, loss_fn, X, y = Case("mlp-3-4-3-tanh", "ce-mean").build()
    J = oracle.output_jacobians(model, X)  # [N, C, P]
    p = torch.softmax(model(X), dim=1).detach()
    H_L = (torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)) / X.shape[0]  # CE-mean Hessian per sample
    close(oracle.dense_ggn(model, loss_fn, X, y), torch.einsum("ncp,ncd,ndq->pq", J, H_L, J), "GGN")
    g = oracle.per_sample_grads(model, loss_fn, X, y)
    for n in range(X.shape[0]):
        model.zero_grad()
        loss_fn(model(X[n:n + 1]), y[n:n + 1]).backward()
        close(g[n], torch.cat([q.grad.reshape(-1) for q in model.parameters()]), f"per-sample gradient {n}")
    close(oracle.dense_fisher(model, loss_fn, X, y), g.T @ g / X.shape[0], "Fisher (mean: 1/N sum g g^T)")
