"""Optimal Brain Damage: delete the parameters whose diagonal second-order saliency is smallest.

Reference:
    Yann LeCun, John S. Denker and Sara A. Solla (1990). "Optimal Brain Damage". In D. S. Touretzky (ed.),
    Advances in Neural Information Processing Systems 2 (NIPS 1989), pp. 598-605. Morgan Kaufmann.

Implements (equation numbers of the proceedings version):
    eq. (1)  the second-order Taylor model of dE;
    eq. (2)  its *diagonal*, *extremal* (gradient 0 at a minimum) and *quadratic* reduction,
             dE = 1/2 sum_k h_kk du_k^2, so that deleting u_k (du_k = -u_k) costs the saliency
             s_k = h_kk u_k^2 / 2 (step 4 of the paper's procedure);
    eqs. (3)-(7) the diagonal second derivatives h_kk: summed over the connections that share u_k (eq. 3) and
             back-propagated layer by layer (``curvature="lecun"``), or with the Levenberg-Marquardt
             approximation that drops the f'' terms (``"lecun-lm"``, the paper's choice, non-negative by
             construction); both come from :func:`prunebench.curvature.hessian_diag`.

Saliencies are over *free parameters*: a shared (convolution) weight is one parameter whose h_kk sums the
second derivatives over every connection that uses it (eq. 3), which is exactly the curvature dict keyed by
parameter. Other diagonals for comparison: ``exact`` (the true Hessian diagonal), ``ggn`` (Gauss-Newton),
``fisher`` (empirical Fisher), ``hutchinson`` (stochastic, ``probes`` Rademacher probes, seeded).

A negative h_kk (the exact or signed diagonal away from a minimum, or a Hutchinson estimate) predicts that
deleting the parameter lowers E; its saliency is clipped to 0 (deleted first), and the clipped fraction is in
the curvature's health report (``negative_fraction``).
"""

from __future__ import annotations

import torch

from .._validation import integer
from ..curvature import hessian_diag
from ..curvature.kinds import BACKENDS, DIAGONAL
from .base import PruningMethod, check_choice, effective_weights, model_mask, zero_where_deleted

__all__ = ["CURVATURES", "OBD"]

CURVATURES = DIAGONAL
"""OBD's diagonals (:data:`prunebench.curvature.kinds.DIAGONAL`), the paper's ``"lecun-lm"`` first."""


class OBD(PruningMethod):
    """Optimal Brain Damage: saliency h_kk u_k^2 / 2 from a Hessian diagonal (LeCun, Denker & Solla 1990)."""

    curvature = "diag"
    moves_weights = False
    citation = ("LeCun, Denker & Solla (1990), Optimal Brain Damage, Advances in Neural Information "
                "Processing Systems 2, pp. 598-605")

    def __init__(self, *, curvature: str = "lecun-lm", probes: int = 100, seed: int = 0,
                 backend: str = "native"):
        check_choice("curvature", curvature, CURVATURES)
        check_choice("backend", backend, BACKENDS)
        integer("probes", probes)
        integer("seed", seed, 0)
        self.diagonal, self.probes, self.seed, self.backend = curvature, probes, seed, backend
        self._record(curvature=curvature, probes=probes, seed=seed, backend=backend)

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        """s_k = h_kk u_k^2 / 2 (eq. 2) per free parameter, clipped at 0; keyed like ``named_parameters``."""
        mask = model_mask(model) if mask is None else mask
        h = hessian_diag(model, loss_fn, inputs, targets, self.diagonal, backend=self.backend,
                         probes=self.probes, seed=self.seed)
        weights = effective_weights(model)
        out = {}
        for name, w in weights.items():
            s = 0.5 * h[name].detach().to(w.dtype) * w**2
            out[name] = torch.clamp(s, min=0.0)
        return zero_where_deleted(out, mask)
