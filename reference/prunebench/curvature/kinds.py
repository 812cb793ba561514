"""The curvature kinds, declared once: which matrix stands for the Hessian of ``E = loss_fn(model(X), y)``.

Every function and method that lets the user choose the matrix calls that choice ``curvature`` (the former
names ``method=``, ``hessian=`` and ``kind=`` still work, with a ``DeprecationWarning``). Three words are kept
apart:

- curvature (a kind, this module): which matrix -- ``"exact"`` (the Hessian), ``"ggn"`` (generalised
  Gauss-Newton), ``"fisher"`` (empirical Fisher), OBD's ``"lecun"`` / ``"lecun-lm"`` recursions,
  ``"hutchinson"`` (stochastic diagonal), and for OBS the paper's ``"recursion"`` and its
  ``"block-diagonal"`` cut;
- solver: how an inverse is computed (:data:`SOLVERS`: ``"recursion"``, ``"woodbury"``, ``"cholesky"``,
  ``"block-diagonal"``);
- form: what second-order information a pruning method uses, its class flag ``curvature``
  (:data:`prunebench.methods.base.CURVATURE_FORMS`: ``None``, ``"gradient"``, ``"diag"``, ``"dense"``,
  ``"inverse"``).
"""

from __future__ import annotations

__all__ = ["BACKENDS", "DENSE", "DIAGONAL", "INVERSE", "INVERSE_SOURCES", "OUTER_PRODUCT", "PEERS", "SOLVERS",
           "SOLVER_CURVATURES"]

DIAGONAL = ("lecun-lm", "lecun", "exact", "ggn", "fisher", "hutchinson")
"""Diagonals (:func:`prunebench.curvature.hessian_diag`; OBD's ``curvature=``, its default first)."""

DENSE = ("exact", "ggn", "fisher")
"""Matrices formed densely (:func:`prunebench.curvature.hessian`), and those the peer libraries offer."""

OUTER_PRODUCT = ("ggn", "fisher")
"""Matrices with the outer-product form ``sum_k X_k X_k^T``, which the data-pass solvers invert."""

SOLVERS = ("recursion", "woodbury", "cholesky", "block-diagonal")
"""How :func:`prunebench.curvature.inverse_hessian` inverts (``solver=``)."""

SOLVER_CURVATURES = {"recursion": OUTER_PRODUCT, "woodbury": OUTER_PRODUCT, "cholesky": DENSE,
                     "block-diagonal": DENSE}
"""The curvatures each solver can invert: the data-pass solvers need the outer-product form."""

INVERSE_SOURCES = {
    "recursion": ("woodbury", "ggn", True),
    "exact": ("cholesky", "exact", False),
    "ggn": ("cholesky", "ggn", False),
    "fisher": ("cholesky", "fisher", False),
    "block-diagonal": ("block-diagonal", "ggn", True),
}
"""OBS's ``curvature=`` -> (solver, matrix inverted, whether ``alpha`` applies): the paper's recursion (by
Woodbury, the same matrix), a dense matrix by Cholesky, or the recursion's matrix in layer blocks."""

INVERSE = tuple(INVERSE_SOURCES)
"""OBS's curvatures (:class:`prunebench.methods.OBS`)."""

BACKENDS = ("native", "torchfunc", "backpack", "curvlinops")
"""Who computes a diagonal: ours, or a peer library (:mod:`.peers`)."""

PEERS = BACKENDS[1:]
"""The peers: ``torch.func`` (the dense oracle), BackPACK and curvlinops; each offers :data:`DENSE`."""
