"""prunebench.methods.random: the seeded floor."""

import torch
from torch import nn

from prunebench.methods import Random
from prunebench.models import Net


def tiny_conv_problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Net("conv-tiny", (1, 5, 5), nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(),
                    nn.Linear(18, 2)).double()
    X = torch.randn(6, 1, 5, 5, generator=g, dtype=torch.float64)
    Y = torch.randn(6, 2, generator=g, dtype=torch.float64)
    return model, nn.MSELoss(), X, Y


def test_random_is_seeded():
    model, loss, X, Y = tiny_conv_problem()
    a, b, c = (Random(seed=s).saliency(model, loss, X, Y) for s in (0, 0, 1))
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], c[n]) for n in a)
    assert all(((v > 0) & (v <= 1)).all() for v in a.values())
