"""Pruning methods behind one interface, and the registry that names them.

Built in: ``random`` (the floor), ``magnitude`` (global or per layer), ``obd`` (Optimal Brain Damage, LeCun,
Denker & Solla 1990), ``obs`` (Optimal Brain Surgeon, Hassibi & Stork 1993), ``obs-full`` (OBS at scale: the
full-network inverse, or with ``blocks="module"`` and ``procedure="one-step"`` the blockwise WoodFisher of
Singh & Alistarh 2020) and ``kfac`` (OBS under a K-FAC Fisher, Martens & Grosse 2015, WoodFisher's K-FAC
baseline). Third-party methods register
through the entry-point group ``prunebench.methods`` (see :mod:`prunebench.methods.registry`).

>>> from prunebench import methods
>>> methods.get("magnitude", scope="layer")
Magnitude(scope='layer')
"""

from typing import Any

from . import base
from .base import CURVATURE_FORMS, Deletion, PruningMethod, Selection, Step, candidate_mask, model_mask
from .fullobs import FullOBS
from .hassibi1993obs import OBS
from .lecun1989obd import OBD
from .magnitude import Magnitude
from .martens2015kfac import KFACOBS
from .random import Random
from .registry import ENTRY_POINT_GROUP, available, describe, get, get_class, load_plugins, register

__all__ = ["CURVATURE_FORMS", "ENTRY_POINT_GROUP", "KFACOBS", "OBD", "OBS", "Deletion", "Magnitude", "PruningMethod",
           "Random", "Selection", "Step", "available", "candidate_mask", "describe", "get", "get_class",
           "load_plugins", "model_mask", "register"]

register("random", Random)
register("magnitude", Magnitude)
register("obd", OBD)
register("obs", OBS)
register("obs-full", FullOBS)
register("kfac", KFACOBS)


def __getattr__(name: str) -> Any:
    if name == "CURVATURE_KINDS":  # deprecated: CURVATURE_FORMS (base.__getattr__ warns)
        return base.CURVATURE_KINDS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
