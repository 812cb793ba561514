"""prunebench.curvature.health: health reports and the finiteness checks on weights, data and results."""

from __future__ import annotations

import pickle

import pytest
import torch

from cases import Case
from prunebench.curvature import (
    Curvature,
    CurvatureHealth,
    hessian,
    hessian_diag,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_health_reports_the_negative_fraction():
    case = Case("mlp-3-4-3-scaled-tanh", "mse-sum")
    model, loss_fn, X, y = case.build()
    result = hessian_diag(model, loss_fn, X, y, "exact")
    assert isinstance(result, Curvature) and isinstance(result, dict)
    values = torch.cat([v.reshape(-1) for v in result.values()])
    assert result.health == CurvatureHealth(curvature="exact", backend="native",
                                            negative_fraction=int((values < 0).sum()) / values.numel())
    assert result.health.damping == 0.0 and result.health.failure is None
    assert hessian_diag(model, loss_fn, X, y, "ggn").health.negative_fraction == 0.0
    assert "health=" in repr(result)
    restored = pickle.loads(pickle.dumps(result))  # results travel through joblib
    assert restored.health == result.health and all(torch.equal(restored[k], result[k]) for k in result)


@pytest.mark.parametrize("entry", ["diag", "dense", "inverse"])
def test_non_finite_weights_and_inputs_are_refused_naming_the_parameter(entry):
    from prunebench import models
    from prunebench.curvature import hessian_diag, inverse_hessian

    net = models.build("monk-17-3-1", seed=0, dtype=torch.float64)
    x = torch.randn(6, 17, dtype=torch.float64)
    y = torch.rand(6, 1, dtype=torch.float64)
    call = {"diag": hessian_diag, "dense": hessian, "inverse": inverse_hessian}[entry]
    bad_x = x.clone()
    bad_x[0, 0] = float("inf")
    with pytest.raises(ValueError, match="inputs must be finite; got 1 NaN/inf entries"):
        call(net, torch.nn.MSELoss(), bad_x, y)
    with torch.no_grad():
        net[0].weight[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"parameter 0.weight must be finite; got nan at index \[1, 2\]"):
        call(net, torch.nn.MSELoss(), x, y)


def test_finite_check_is_not_fooled_by_a_sum_that_overflows():
    # The check sums each tensor first (one pass); float32 weights near the largest float overflow that sum
    # although every entry is finite, and must still be accepted, while one infinity among them is refused.
    from prunebench.curvature.health import check_finite

    params = {"w": torch.full((4, 3), 3e38, dtype=torch.float32)}
    assert not torch.isfinite(params["w"].sum())
    check_finite(params, torch.zeros(2, 3), torch.zeros(2))
    params["w"][2, 1] = float("inf")
    with pytest.raises(ValueError, match=r"parameter w must be finite; got inf at index \[2, 1\]"):
        check_finite(params, torch.zeros(2, 3), torch.zeros(2))


def test_a_result_that_overflows_is_refused_naming_the_parameter():
    # Finite float32 inputs of 1e20 square to infinity in the weight diagonal of the first layer (x_j^2 in
    # d2E/dw_ij^2); the second layer's inputs are tanh outputs and stay finite.
    from prunebench import models

    net = models.build("monk-17-3-1", seed=0, dtype=torch.float32)
    x = torch.full((4, 17), 1e20)
    y = torch.rand(4, 1)
    with pytest.raises(ValueError, match=r"the lecun-lm Hessian diagonal of parameter 0.weight is not finite "
                                         r"\(\d+ NaN/inf entries\); the loss may have overflowed"):
        hessian_diag(net, torch.nn.MSELoss(), x, y, curvature="lecun-lm")
    healthy = hessian_diag(net, torch.nn.MSELoss(), x / 1e20, y, curvature="exact")
    assert healthy.health.negative_fraction == pytest.approx(
        sum(int((v < 0).sum()) for v in healthy.values()) / sum(v.numel() for v in healthy.values()))


@pytest.mark.parametrize("size", [10, 2**16 + 1])
def test_result_health_is_the_same_for_small_and_large_results(size):
    """Small results are checked in one concatenated pass, large ones tensor by tensor (no copy of the result):
    the same negative fraction, and the same error naming the first parameter that is not finite."""
    from prunebench.curvature.health import result_health

    values = {"a.weight": torch.arange(size, dtype=torch.float64) - 3, "a.bias": -torch.ones(7, dtype=torch.float64)}
    assert result_health(values, "the diagonal") == pytest.approx(10 / (size + 7))
    values["a.bias"][2] = float("nan")
    with pytest.raises(ValueError, match=r"the diagonal of parameter a.bias is not finite \(1 NaN/inf entries\)"):
        result_health(values, "the diagonal")
