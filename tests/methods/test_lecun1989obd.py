"""prunebench.methods.lecun1989obd: OBD's saliency."""

import torch

from cases import tiny_conv_problem
from helpers import assert_close
from prunebench.curvature import hessian_diag
from prunebench.curvature.oracle import dense_hessian
from prunebench.methods import OBD
from prunebench.models import effective_params


def _flat(d: dict) -> torch.Tensor:
    return torch.cat([v.reshape(-1) for v in d.values()])


def test_obd_saliency_is_half_h_kk_u_k_squared_over_free_parameters():
    model, loss, X, Y = tiny_conv_problem()
    sal = OBD(curvature="exact").saliency(model, loss, X, Y)
    assert {k: v.shape for k, v in sal.items()} == {k: p.shape for k, p in model.named_parameters()}
    # The conv kernel is one free parameter per entry (shared over 9 positions): its h_kk is the full second
    # derivative in that parameter, i.e. the diagonal of the dense Hessian over named_parameters.
    h = torch.diagonal(dense_hessian(model, loss, X, Y))
    w = _flat(effective_params(model)).detach()
    assert_close(_flat(sal), torch.clamp(0.5 * h * w**2, min=0), rtol=1e-10, atol=1e-15, name="OBD exact")
    lm = hessian_diag(model, loss, X, Y, curvature="lecun-lm")
    expected = {n: 0.5 * lm[n] * p.detach() ** 2 for n, p in model.named_parameters()}
    assert_close(_flat(OBD().saliency(model, loss, X, Y)), _flat(expected), rtol=1e-12, atol=0,
                 name="OBD lecun-lm")


def test_obd_clips_negative_curvature_to_zero():
    model, loss, X, Y = tiny_conv_problem(seed=1)  # untrained: the exact diagonal has negative entries
    h = hessian_diag(model, loss, X, Y, curvature="exact")
    assert h.health.negative_fraction > 0
    sal = OBD(curvature="exact").saliency(model, loss, X, Y)
    for n, s in sal.items():
        assert torch.all(s >= 0) and torch.all(s[h[n] < 0] == 0)
