"""prunebench.methods.magnitude: global and per-layer magnitude pruning."""

import torch

from cases import tiny_conv_problem
from prunebench import methods, prune
from prunebench.methods import Magnitude
from prunebench.models import effective_params


def test_global_magnitude_is_absolute_value():
    model, loss, X, Y = tiny_conv_problem()
    sal = Magnitude().saliency(model, loss, X, Y)
    for n, p in model.named_parameters():
        assert torch.equal(sal[n], p.detach().abs())


def test_layer_magnitude_prunes_the_same_fraction_of_every_tensor():
    model, loss, X, Y = tiny_conv_problem()
    prune.one_shot(model, Magnitude(scope="layer"), loss, X, Y, 0.5)
    mask = methods.model_mask(model)
    for n, m in mask.items():
        assert abs((~m).float().mean().item() - 0.5) <= 1 / m.numel() + 1e-12, n
    survivors = {n: effective_params(model)[n].detach().abs()[m] for n, m in mask.items()}
    before = dict(tiny_conv_problem()[0].named_parameters())
    for n, m in mask.items():  # within each tensor the smallest were deleted
        deleted = before[n.removesuffix("_orig")].detach().abs()[~m]
        if deleted.numel() and survivors[n].numel():
            assert deleted.max() <= survivors[n].min()
