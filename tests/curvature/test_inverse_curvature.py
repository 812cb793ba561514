"""prunebench.curvature.inverse_curvature: the OBS downdates of an inverse and their index checks.

Tolerances as in ``test_inverse.py``: float64, ``rtol=1e-10``, absolute floor ``1e-10 * max|expected|``."""

from __future__ import annotations

import functools

import pytest
import torch

from cases import damped, inverse_problem
from helpers import close as oracle_close
from prunebench.curvature.inverse import inverse_hessian

RTOL = 1e-10


ALPHA = 1e-3

close = functools.partial(oracle_close, rtol=RTOL, floor=1e-10)


pytestmark = pytest.mark.usefixtures("one_thread")


def restricted_inverse(A: torch.Tensor, removed: list[int]) -> torch.Tensor:
    """``inv(A[keep, keep])`` placed back in a P x P matrix with zeros at the removed rows and columns."""
    keep = torch.tensor([i for i in range(A.shape[0]) if i not in removed])
    out = torch.zeros_like(A)
    out[keep[:, None], keep[None, :]] = torch.linalg.inv(A[keep][:, keep])
    return out


@pytest.mark.parametrize("blocks", [None, "module"])
def test_downdate_equals_the_inverse_with_the_row_and_column_removed(blocks):
    net, loss_fn, X, y = inverse_problem("mlp-3-4-3-tanh", "ce-mean")
    result = inverse_hessian(net, loss_fn, X, y, "woodbury", curvature="ggn", alpha=ALPHA, blocks=blocks)
    slices = [sl for sl, _ in result.blocks]
    A = damped(net, loss_fn, X, y, "ggn")
    reference = A if blocks is None else torch.block_diag(*(A[sl, sl] for sl in slices))
    removed = []
    for q in (5, 0, 17, 30):
        result.downdate(q)
        removed.append(q)
        close(result.to_dense(), restricted_inverse(reference, removed), f"after deleting {removed}")
    assert result.removed.nonzero().flatten().tolist() == sorted(removed)
    with pytest.raises(ValueError, match=r"positions \[17\] were already deleted"):
        result.downdate(17)


def test_group_downdate_equals_one_at_a_time():
    net, loss_fn, X, y = inverse_problem("cnn-small", "ce-sum")
    A = damped(net, loss_fn, X, y, "fisher")
    group = inverse_hessian(net, loss_fn, X, y, "cholesky", alpha=ALPHA)
    single = inverse_hessian(net, loss_fn, X, y, "cholesky", alpha=ALPHA)
    Q = [3, 40, 11, 72, 0]
    group.downdate_group(Q)
    for q in Q:
        single.downdate(q)
    close(group.matrix, restricted_inverse(A, Q), "group downdate vs inverse of the submatrix")
    close(group.matrix, single.matrix, "group vs one at a time")
    blockwise = inverse_hessian(net, loss_fn, X, y, "block-diagonal", curvature="fisher", alpha=ALPHA)
    blockwise.downdate_group(torch.tensor(Q))
    reference = torch.block_diag(*(A[sl, sl] for sl, _ in blockwise.blocks))
    close(blockwise.to_dense(), restricted_inverse(reference, Q), "block-diagonal group downdate")


@pytest.mark.parametrize("Q", [[7], [2, 9, 30]])
def test_obs_update_is_the_constrained_minimiser(Q):
    # Deleting Q: minimise dw^T A dw / 2 subject to dw_Q = -w_Q. With F the other positions the minimiser is
    # dw_F = -A_FF^-1 A_FQ dw_Q, and the loss change is dw^T A dw / 2.
    net, loss_fn, X, y = inverse_problem("mlp-3-4-3-tanh", "mse-sum")
    A = damped(net, loss_fn, X, y, "ggn")
    result = inverse_hessian(net, loss_fn, X, y, "woodbury", curvature="ggn", alpha=ALPHA)
    w = torch.randn(A.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    dw, saliency = result.obs_update(Q, w)
    F = torch.tensor([i for i in range(A.shape[0]) if i not in Q])
    expected = torch.zeros_like(w)
    expected[Q] = -w[Q]
    expected[F] = torch.linalg.solve(A[F][:, F], -A[F][:, Q] @ expected[Q])
    close(dw, expected, "dw")
    assert saliency == pytest.approx(0.5 * float(expected @ A @ expected), rel=1e-9)
    assert float((w + dw)[Q].abs().max()) <= 1e-12 * float(w.abs().max())
    if len(Q) == 1:  # the paper's L_q = w_q^2 / (2 [H^-1]_qq)
        q = Q[0]
        assert saliency == pytest.approx(w[q].item() ** 2 / (2 * result.matrix[q, q].item()), rel=1e-12)


def test_index_validation():
    net, loss_fn, X, y = inverse_problem("xor-2-2-1", "mse-sum")
    result = inverse_hessian(net, loss_fn, X, y, alpha=ALPHA)
    with pytest.raises(ValueError, match=r"q must be in \[0, 9\); got 9"):
        result.downdate(9)
    with pytest.raises(TypeError, match=r"q must be an int position"):
        result.column(1.5)
    with pytest.raises(ValueError, match=r"Q must not repeat a position; got \[1, 1\]"):
        result.downdate_group([1, 1])
    with pytest.raises(ValueError, match=r"Q must name at least one position"):
        result.downdate_group([])
