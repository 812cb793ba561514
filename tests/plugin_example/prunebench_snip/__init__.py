"""SNIP-style pruning as a prunebench plug-in: delete the weights whose connection sensitivity |w * dE/dw| is
smallest (Lee, Ajanthan & Torr 2019, eq. 3, on the whole training set instead of one batch)."""

import torch

from prunebench.methods import PruningMethod, model_mask
from prunebench.models import effective_params, functional_forward


class Snip(PruningMethod):
    """Connection sensitivity |w * dE/dw| of every weight, from one gradient on the training data."""

    curvature = "gradient"
    moves_weights = False
    citation = ("Lee, Ajanthan & Torr (2019), SNIP: Single-shot network pruning based on connection sensitivity, "
                "ICLR")

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        """|w * dE/dw| keyed like ``named_parameters``; 0 where already deleted."""
        mask = model_mask(model) if mask is None else mask
        weights = {name: w.detach().requires_grad_() for name, w in effective_params(model).items()}
        loss = loss_fn(functional_forward(model, weights, inputs), targets)
        grads = torch.autograd.grad(loss, list(weights.values()), allow_unused=True)
        out = {}
        for (name, w), g in zip(weights.items(), grads, strict=True):
            s = torch.zeros_like(w) if g is None else (w.detach() * g).abs()
            out[name] = torch.where(mask[name], s, torch.zeros_like(s))
        return out
