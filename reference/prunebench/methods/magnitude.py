"""Magnitude pruning: delete the smallest weights, globally or layer by layer.

The classic heuristic that OBD and OBS are measured against (LeCun, Denker & Solla 1990, Fig. 1a; Hassibi &
Stork 1993). It is OBS with an isotropic Hessian H = c I: then L_q = c w_q^2 / 2 ranks exactly like |w_q|
(Hassibi & Stork 1993, the remark after their eq. 5).

``scope="global"``: saliency |w|, one ranking over every prunable entry. ``scope="layer"``: each parameter
tensor is pruned by the same fraction; the saliency of an entry is its magnitude rank within its tensor
divided by the number of entries still present there, ((r + 1) / n, r = 0 for the smallest), so one global
ranking deletes about the same fraction of every tensor.
"""

from __future__ import annotations

import torch

from ..models import effective_params
from .base import PruningMethod, check_choice, model_mask, zero_where_deleted

__all__ = ["Magnitude"]

SCOPES = ("global", "layer")


class Magnitude(PruningMethod):
    """Delete the smallest |w|, over all tensors or the same fraction of each (``scope``)."""

    curvature = None
    moves_weights = False
    citation = ("Magnitude-based deletion as compared in LeCun, Denker & Solla (1990), Optimal Brain "
                "Damage, NIPS 2, and Hassibi & Stork (1993), Optimal Brain Surgeon, NIPS 5")

    def __init__(self, *, scope: str = "global"):
        check_choice("scope", scope, SCOPES)
        self.scope = scope
        self._record(scope=scope)

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        """|w| (global) or the within-tensor magnitude quantile (layer); 0 where deleted."""
        mask = model_mask(model) if mask is None else mask
        weights = {name: t.detach() for name, t in effective_params(model).items()}
        if self.scope == "global":
            return zero_where_deleted({name: w.abs() for name, w in weights.items()}, mask)
        out = {}
        for name, w in weights.items():
            present = mask[name].reshape(-1)
            values = w.abs().reshape(-1).to(torch.float64)
            quantile = torch.zeros_like(values)
            idx = torch.nonzero(present, as_tuple=True)[0]
            if idx.numel():
                order = torch.argsort(values[idx], stable=True)
                ranks = torch.empty_like(order)
                ranks[order] = torch.arange(order.numel(), device=order.device)
                quantile[idx] = (ranks + 1).to(torch.float64) / idx.numel()
            out[name] = quantile.reshape(w.shape).to(w.dtype)
        return out
