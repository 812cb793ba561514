"""Optimal Brain Surgeon: delete the weight whose removal, with the best change of the others, costs least.

Reference:
    Babak Hassibi and David G. Stork (1993). "Second order derivatives for network pruning: Optimal Brain
    Surgeon". In S. J. Hanson, J. D. Cowan and C. L. Giles (eds.), Advances in Neural Information Processing
    Systems 5 (NIPS 1992), pp. 164-171. Morgan Kaufmann.

Implements (equation numbers of the paper):
    eq. (1)  the second-order Taylor model of dE; at a minimum only 1/2 dw^T H dw remains;
    eqs. (2)-(4) deleting weight q is the constraint e_q^T dw + w_q = 0, solved with a Lagrange multiplier;
    eq. (5)  the optimal change dw = -(w_q / [H^-1]_qq) H^-1 e_q (it zeroes w_q; we then set w_q to exactly 0
             to remove rounding) and the saliency L_q = w_q^2 / (2 [H^-1]_qq);
    eq. (17) the inverse Hessian built in one pass over the training data from outer products of output
             gradients, starting from H_0^-1 = alpha^-1 I (``curvature="recursion"``, the paper's method);
    section 3's procedure: find the q with the smallest L_q; if L_q is much smaller than E, delete q, update
             all weights, and repeat; otherwise stop (``stop_ratio``), or stop at a target count.

After each deletion the inverse is restricted to the remaining weights by the downdate
H^-1 <- H^-1 - H^-1 e_q e_q^T H^-1 / [H^-1]_qq, an O(P^2) step, so a sequence of deletions never recomputes
the inverse from scratch; weights deleted before the method was called are removed from the inverse the same
way first. A diagonal H reduces L_q to OBD's saliency and an isotropic H to magnitude pruning. The joint
deletion of a set Q (:meth:`OBS.update`) is dw = -H^-1[:, Q] (H^-1[Q, Q])^-1 w_Q.

Which H (``curvature=``; formerly ``hessian=``, still accepted with a ``DeprecationWarning``), all from
:func:`prunebench.curvature.inverse_hessian` in float64:
    ``recursion`` (the paper's): eq. (17)'s one-pass inverse of the outer-product (Gauss-Newton) form plus
    ``alpha I``, applied ``block_size`` vectors at a time by the Woodbury identity (the same matrix as the
    one-vector recursion up to roundoff, much faster); ``exact``, ``ggn``, ``fisher``: the full Hessian, the
    Gauss-Newton matrix, the empirical Fisher, each inverted densely (plus ``damping I``; ``alpha`` only
    seeds the recursion); ``block-diagonal``: the recursion's matrix cut into layer blocks (a module's weight
    and bias; cross-layer terms dropped, as in WoodFisher's blockwise OBS). The exact Hessian is indefinite
    away from a minimum, and any H is singular once a unit has lost all its outgoing weights: pass
    ``damping`` or ``on_indefinite="damp"``.

Example: on a quadratic objective at its minimum (least squares, a linear model), the predicted dE is exact:

>>> import torch
>>> from prunebench.methods.hassibi1993obs import OBS
>>> from prunebench.testing import least_squares
>>> model, loss, X, y = least_squares(samples=20, features=3)  # a linear model at the minimum of E
>>> obs = OBS(curvature="exact")
>>> predicted = obs.saliency(model, loss, X, y)["0.weight"][0, 0]  # L_q of deleting the first weight
>>> delete = {"0.weight": torch.tensor([[True, False, False]])}
>>> dw = obs.update(model, loss, X, y, delete=delete)["0.weight"]
>>> before = loss(model(X), y)
>>> with torch.no_grad():
...     _ = model[0].weight.add_(dw)
>>> actual = loss(model(X), y) - before
>>> float(model[0].weight[0, 0]), bool(torch.isclose(actual, predicted, rtol=1e-10, atol=0.0))
(0.0, True)
"""

from __future__ import annotations

import logging
import math

import torch

from .._validation import real, renamed
from ..curvature import inverse_hessian
from ..curvature.kinds import INVERSE, INVERSE_SOURCES
from .base import Deletion, PruningMethod, Step, check_choice, effective_weights, model_mask

__all__ = ["HESSIANS", "OBS"]

log = logging.getLogger(__name__)

HESSIANS = INVERSE
"""OBS's curvatures (:data:`prunebench.curvature.kinds.INVERSE`), under the name this module first gave them."""


class OBS(PruningMethod):
    """Optimal Brain Surgeon: saliency w_q^2 / (2 [H^-1]_qq) and the eq. (5) update, one weight at a time."""

    curvature = "inverse"
    moves_weights = True
    citation = ("Hassibi & Stork (1993), Second order derivatives for network pruning: Optimal Brain "
                "Surgeon, Advances in Neural Information Processing Systems 5, pp. 164-171")

    def __init__(self, *, curvature: str = "recursion", alpha: float = 1e-6, damping: float = 0.0,
                 stop_ratio: float | None = None, on_indefinite: str = "raise", **former: str):
        """``curvature``: one of :data:`HESSIANS` (formerly ``hessian=``, still accepted with a
        ``DeprecationWarning``). :attr:`params` stores it under ``"hessian"``, the key of every record and
        leaderboard entry made so far, whichever name was used: the same method has the same params."""
        curvature = renamed("OBS", former, {"hessian": "curvature"}).get("curvature", curvature)
        check_choice("curvature", curvature, HESSIANS)
        check_choice("on_indefinite", on_indefinite, ("raise", "damp"))
        real("alpha", alpha, above=0.0, expected="a positive float (the paper uses 1e-8 to 1e-4)")
        real("damping", damping, at_least=0.0, expected="a float >= 0")
        if stop_ratio is not None:
            real("stop_ratio", stop_ratio, above=0.0, expected="None (no stopping rule) or a positive float, e.g. "
                 "0.1 to stop once the smallest saliency exceeds a tenth of E")
        self.matrix, self.alpha, self.damping = curvature, float(alpha), float(damping)
        self.stop_ratio, self.on_indefinite = stop_ratio, on_indefinite
        self._record(hessian=curvature, alpha=alpha, damping=damping, stop_ratio=stop_ratio,
                     on_indefinite=on_indefinite)

    def _inverse(self, model, loss_fn, inputs, targets, mask):
        """The inverse Hessian (float64) with the already-deleted weights downdated out, and the flat mask of
        the present entries."""
        solver, matrix, uses_alpha = INVERSE_SOURCES[self.matrix]
        inv = inverse_hessian(model, loss_fn, inputs, targets, solver, curvature=matrix,
                              alpha=self.alpha if uses_alpha else 0.0, damping=self.damping,
                              dtype=torch.float64, on_indefinite=self.on_indefinite)
        present = inv.layout.flatten({k: m.to(torch.bool) for k, m in mask.items()}).to(torch.bool)
        gone = torch.nonzero(~present, as_tuple=True)[0]
        if gone.numel():
            inv.downdate_group(gone)
        return inv, present

    def _flat_weights(self, layout, model):
        return layout.flatten(effective_weights(model)).to(torch.float64).clone()

    @staticmethod
    def _saliencies(w: torch.Tensor, d: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """L_q = w_q^2 / (2 d_q) at the present entries, 0 elsewhere (where the downdated d_q is 0)."""
        safe = torch.where(present, d, torch.ones_like(d))
        return torch.where(present, w**2 / (2 * safe), torch.zeros_like(w))

    def _unflatten(self, layout, flat, model):
        params = dict(model.named_parameters())
        return {n: t.to(params[n].dtype).clone() for n, t in layout.unflatten(flat).items()}

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        """L_q = w_q^2 / (2 [H^-1]_qq) (eq. 5) with the deleted weights downdated out; 0 where deleted."""
        mask = model_mask(model) if mask is None else mask
        inv, present = self._inverse(model, loss_fn, inputs, targets, mask)
        w = self._flat_weights(inv.layout, model)
        return self._unflatten(inv.layout, self._saliencies(w, inv.diag(), present), model)

    def update(self, model, loss_fn, inputs, targets, *, mask=None, delete):
        """Joint deletion of the set Q where ``delete`` is True: dw = -H^-1[:, Q] (H^-1[Q, Q])^-1 w_Q (eq. 5
        for |Q| = 1); the deleted entries of ``w + dw`` are exactly 0."""
        mask = model_mask(model) if mask is None else mask
        inv, _ = self._inverse(model, loss_fn, inputs, targets, mask)
        layout = inv.layout
        w = self._flat_weights(layout, model)
        q = torch.nonzero(layout.flatten({k: d.to(torch.bool) for k, d in delete.items()}).to(torch.bool),
                          as_tuple=True)[0]
        dw = torch.zeros_like(w)
        if q.numel():
            dw, _ = inv.obs_update(q, w)
            dw[q] = -w[q]
        return self._unflatten(layout, dw, model)

    def single_deletion_updates(self, model, loss_fn, inputs, targets, deletions, *, mask=None):
        """eq. (5) for each ``(name, index)`` alone, from one inverse."""
        mask = model_mask(model) if mask is None else mask
        inv, _ = self._inverse(model, loss_fn, inputs, targets, mask)
        layout = inv.layout
        w = self._flat_weights(layout, model)
        d = inv.diag()
        for name, index in deletions:
            q = layout.slice(name).start + index
            dw = -(w[q] / d[q]) * inv.column(q)
            dw[q] = -w[q]
            yield self._unflatten(layout, dw, model)

    def sequence(self, model, loss_fn, inputs, targets, *, mask=None, candidates=None, quotas=None):
        """One weight at a time: smallest L_q among the candidates, eq. (5) update, downdate, repeat (with
        ``quotas``: among the tensors whose quota is not yet met).

        Ends when no candidate is left (``"exhausted"``) or, with ``stop_ratio``, when the smallest L_q
        exceeds ``stop_ratio`` times E, the objective predicted after the deletions so far (``"stop-rule"``).
        Each step's delta is the cumulative weight change since the start.
        """
        mask = model_mask(model) if mask is None else mask
        candidates = mask if candidates is None else candidates
        inv, present = self._inverse(model, loss_fn, inputs, targets, mask)
        layout = inv.layout
        w0 = self._flat_weights(layout, model)
        w = w0.clone()
        allowed = layout.flatten({k: c.to(torch.bool) for k, c in candidates.items()}).to(torch.bool)
        allowed &= present
        left = None
        if quotas is not None:
            left = dict(quotas)
            for name in layout.names:
                if left.get(name, 0) <= 0:
                    allowed[layout.slice(name)] = False
        with torch.no_grad():
            objective = float(loss_fn(model(inputs), targets))
        owners = [(name, layout.slice(name).start) for name in layout.names]
        while allowed.any():
            d = inv.diag()
            s = torch.where(allowed, self._saliencies(w, d, present), torch.full_like(w, math.inf))
            q = int(torch.argmin(s))
            saliency = float(s[q])
            if self.stop_ratio is not None and saliency > self.stop_ratio * objective:
                log.info("OBS stopping rule: smallest saliency %.3e > %g * E = %.3e", saliency,
                         self.stop_ratio, self.stop_ratio * objective)
                return "stop-rule"
            w -= (w[q] / d[q]) * inv.column(q)
            present[q] = False
            w = torch.where(present, w, torch.zeros_like(w))
            inv.downdate(q)
            allowed[q] = False
            objective += saliency
            name, start = next((n, s0) for n, s0 in reversed(owners) if s0 <= q)
            if left is not None:
                left[name] -= 1
                if left[name] <= 0:
                    allowed[layout.slice(name)] = False
            yield Step(Deletion(name, q - start, saliency), self._unflatten(layout, w - w0, model))
        return "exhausted"
