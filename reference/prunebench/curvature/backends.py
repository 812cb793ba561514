"""Every backend behind one interface, for cross-checking ours against the peers of :mod:`.peers`.

For ``E = loss_fn(model(inputs), targets)`` in the model's dtype:

- :func:`diag` ``(backend, curvature, ...)`` -> dict keyed like ``dict(model.named_parameters())``, each value
  shaped like its parameter;
- :func:`dense` ``(backend, curvature, ...)`` -> ``Tensor[P, P]`` in :class:`ParamLayout` order (small models).

``backend`` is one of :data:`BACKENDS` (``"native"``: ours, :func:`.hessian_diag` and :func:`.hessian`; the
others: :mod:`.peers`), ``curvature`` one of ``"exact"``, ``"ggn"``, ``"fisher"`` (:data:`.kinds.DENSE`).
The peers' functions are also importable from here, where they used to live.
"""

from __future__ import annotations

import torch
from torch import nn

from . import peers
from .dense import hessian
from .diagonal import hessian_diag
from .kinds import BACKENDS, DENSE
from .peers import backpack_dense, backpack_hessian_diag, curvlinops_dense, curvlinops_hessian_diag, detached_copy

__all__ = ["BACKENDS", "KINDS", "backpack_dense", "backpack_hessian_diag", "curvlinops_dense",
           "curvlinops_hessian_diag", "dense", "detached_copy", "diag"]

KINDS = DENSE
"""The curvatures every backend offers (:data:`.kinds.DENSE`)."""


def diag(backend: str, curvature: str, model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor,
         targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """The diagonal of ``curvature`` from ``backend``, keyed like ``dict(model.named_parameters())``."""
    _check(backend, curvature)
    return dict(hessian_diag(model, loss_fn, inputs, targets, curvature, backend=backend))


def dense(backend: str, curvature: str, model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor,
          targets: torch.Tensor) -> torch.Tensor:
    """The dense ``curvature`` from ``backend``: ``Tensor[P, P]`` in :class:`ParamLayout` order."""
    _check(backend, curvature)
    if backend == "native":
        return hessian(model, loss_fn, inputs, targets, curvature).matrix
    return peers.dense(backend, curvature, model, loss_fn, inputs, targets)


def _check(backend: str, curvature: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}; got {backend!r}")
    if curvature not in DENSE:
        raise ValueError(f"curvature must be one of {list(DENSE)}; got {curvature!r}")
