"""Random deletion: the floor every other method must beat.

LeCun, Denker & Solla (1990) report that random deletion is so much worse than magnitude or OBD that it does
not fit on the scale of their Fig. 1a. Saliencies are i.i.d. uniform on (0, 1] drawn from a generator seeded
by ``seed``, so the same seed deletes the same entries on any device.
"""

from __future__ import annotations

import torch

from .._validation import integer
from .base import PruningMethod, model_mask, zero_where_deleted

__all__ = ["Random"]


class Random(PruningMethod):
    """Uniformly random deletion order (seeded): the floor."""

    curvature = None
    moves_weights = False
    citation = ("LeCun, Denker & Solla (1990), Optimal Brain Damage, NIPS 2 (random deletion as the "
                "baseline of Fig. 1a)")

    def __init__(self, *, seed: int = 0):
        integer("seed", seed, 0)
        self.seed = seed
        self._record(seed=seed)

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        """Uniform (0, 1] per entry, the same for the same ``seed`` and parameter shapes; 0 where deleted."""
        mask = model_mask(model) if mask is None else mask
        generator = torch.Generator().manual_seed(self.seed)
        out = {}
        for name, p in model.named_parameters():
            u = 1.0 - torch.rand(p.shape, generator=generator, dtype=torch.float64)
            out[name] = u.to(device=p.device, dtype=p.dtype)
        return zero_where_deleted(out, mask)
