"""OBD's weight-sharing rule (prunebench.curvature.sharing) against the exact diagonal of a shared parameter."""

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from helpers import assert_close
from prunebench import models
from prunebench.curvature import hessian_diag
from prunebench.curvature.sharing import connection_sums


def _grouped_net() -> models.Net:
    """Conv, a depthwise 1x1 (trainable subsampling coefficients), a conv with a fixed connection table."""
    conv = nn.Conv2d(4, 3, 3)
    with torch.no_grad():
        conv.weight[0, 2:] = 0
    net = models.Net("grouped", (1, 6, 6), nn.Conv2d(1, 4, 3, padding=1), models.ScaledTanh(), nn.AvgPool2d(2),
                     nn.Conv2d(4, 4, 1, groups=4), models.ScaledTanh(), conv, models.ScaledTanh(), nn.Flatten(),
                     nn.Linear(3, 2), models.ScaledTanh())
    mask = torch.ones_like(conv.weight)
    mask[0, 2:] = 0
    prune.custom_from_mask(conv, "weight", mask)
    return net


@pytest.mark.parametrize("name", ["lenet-digits", "grouped"])
def test_exact_sum_is_the_exact_diagonal_of_the_shared_parameter(name):
    torch.manual_seed(0)
    net = (_grouped_net() if name == "grouped" else models.build(name, seed=0)).double()
    x = torch.randn(6, *net.input_shape, dtype=torch.float64)
    t = torch.randn(6, 10 if name == "lenet-digits" else 2, dtype=torch.float64)
    loss = nn.MSELoss()
    sums = connection_sums(net, loss, x, t)
    exact = hessian_diag(net, loss, x, t, curvature="exact")
    assert set(sums) == set(exact)
    for key, (paper, full) in sums.items():
        # float64 sums of a few hundred terms: 1e-10 relative.
        assert_close(full, exact[key], rtol=1e-10, atol=1e-14, name=f"{name} {key}")
        if key.startswith(("8.", "7.")):  # the Linear layer shares nothing
            assert torch.equal(paper, full)
    # Sharing drops cross terms: somewhere in the first convolution the two differ.
    assert not torch.allclose(sums["0.weight"][0], sums["0.weight"][1], rtol=1e-3)


def test_one_output_position_has_nothing_to_share():
    """A convolution with a single output position uses each weight once: both sums are the same."""
    torch.manual_seed(1)
    net = models.Net("one position", (2, 3, 3), nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3, 2)).double()
    x, t = torch.randn(5, 2, 3, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    for key, (paper, exact) in connection_sums(net, nn.MSELoss(reduction="sum"), x, t).items():
        assert_close(paper, exact, rtol=1e-12, atol=0.0, name=key)


def test_loss_without_a_known_reduction_is_refused():
    net = models.build("lenet-digits", seed=0).double()
    with pytest.raises(ValueError, match="reduction 'mean' or 'sum'; got 'none'"):
        connection_sums(net, nn.MSELoss(reduction="none"), torch.zeros(2, 1, 8, 8, dtype=torch.float64),
                        torch.zeros(2, 10, dtype=torch.float64))
