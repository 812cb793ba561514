"""Curvature of the training loss: Hessian diagonals, dense matrices and inverses, with health reports.

``hessian_diag`` (exact, OBD's ``lecun``/``lecun-lm``, ``ggn``, ``fisher``, ``hutchinson``), ``hessian``
(dense, small models) and ``inverse_hessian`` (OBS) all return results keyed by :class:`ParamLayout` or by
``dict(model.named_parameters())``, each with a :class:`CurvatureHealth`. :mod:`.oracle` holds the dense
float64 brute force that every fast path is tested against. The matrix is chosen by ``curvature=``, one of the
kinds declared in :mod:`.kinds`; the peer libraries are behind :mod:`.peers`.
"""

from .dense import hessian
from .diagonal import hessian_diag
from .health import Curvature, CurvatureHealth, DenseCurvature
from .inverse import InverseCurvature, inverse_hessian
from .layout import ParamLayout

__all__ = ["Curvature", "CurvatureHealth", "DenseCurvature", "InverseCurvature", "ParamLayout", "hessian",
           "hessian_diag", "inverse_hessian"]
