"""prunebench.methods.random: the seeded floor."""

import torch

from cases import tiny_conv_problem
from prunebench.methods import Random


def test_random_is_seeded():
    model, loss, X, Y = tiny_conv_problem()
    a, b, c = (Random(seed=s).saliency(model, loss, X, Y) for s in (0, 0, 1))
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], c[n]) for n in a)
    assert all(((v > 0) & (v <= 1)).all() for v in a.values())
