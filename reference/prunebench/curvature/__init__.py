"""Curvature of the training loss: Hessian diagonals, dense matrices and inverses, with health reports."""

from .health import Curvature, CurvatureHealth, DenseCurvature
from .layout import ParamLayout

__all__ = ["Curvature", "CurvatureHealth", "DenseCurvature", "ParamLayout"]
