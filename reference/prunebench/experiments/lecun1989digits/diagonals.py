"""How far OBD's Hessian diagonals (and the weight-sharing rule alone) are from the exact diagonal, per layer."""

from __future__ import annotations

import statistics
from typing import Any

import torch

from ...curvature import hessian_diag
from ...curvature.sharing import connection_sums
from ...methods.base import model_mask
from ...models import effective_params

__all__ = ["DIAGONALS", "diagonal_distances"]


DIAGONALS = ("lecun-lm", "lecun", "ggn")
"""The approximate diagonals compared with the exact one, besides the sharing rule alone."""


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two 1-D tensors (ties ranked by position)."""
    ra = torch.argsort(torch.argsort(a)).to(torch.float64)
    rb = torch.argsort(torch.argsort(b)).to(torch.float64)
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def diagonal_distances(model, loss_fn, inputs: torch.Tensor, targets: torch.Tensor) -> list[dict[str, Any]]:
    """For every parameter tensor: how far OBD's diagonals are from the exact Hessian diagonal on these samples.

    ``sharing`` is the paper's connection sum with exact per-connection terms
    (:func:`prunebench.curvature.sharing.connection_sums`): the weight-sharing rule alone; ``lecun-lm``,
    ``lecun`` and ``ggn`` are the full diagonals of :func:`prunebench.curvature.hessian_diag`. Per kind:
    ``l1`` = sum |h - h_exact| / sum |h_exact| over the present entries, and ``spearman`` the rank correlation
    of the saliencies h u^2 / 2 with the exact ones (what decides OBD's order)."""
    exact = hessian_diag(model, loss_fn, inputs, targets, curvature="exact")
    kinds = {k: hessian_diag(model, loss_fn, inputs, targets, curvature=k) for k in DIAGONALS}
    kinds["sharing"] = {k: paper for k, (paper, _) in connection_sums(model, loss_fn, inputs, targets).items()}
    present = model_mask(model)
    weights = effective_params(model)
    rows = []
    for name, e in exact.items():
        keep = present[name].reshape(-1)
        e = e.detach().reshape(-1)[keep].to(torch.float64)
        u2 = (weights[name].detach().reshape(-1)[keep] ** 2).to(torch.float64)
        row = {"parameter": name, "entries": int(keep.sum())}
        for kind, diag in kinds.items():
            h = diag[name].detach().reshape(-1)[keep].to(torch.float64)
            row[kind] = {"l1": float((h - e).abs().sum() / e.abs().sum()),
                         "spearman": _spearman(h * u2, e * u2) if e.numel() > 1 else 1.0}
        rows.append(row)
    return rows


def _diagonal_table(results: list[dict], config) -> dict:
    kinds = ("sharing", *DIAGONALS)
    rows = []
    for i, first in enumerate(results[0]["layers"] if results else []):
        row = [first["parameter"], first["entries"]]
        for kind in kinds:
            l1 = [r["layers"][i][kind]["l1"] for r in results]
            rho = [r["layers"][i][kind]["spearman"] for r in results]
            row += [f"{statistics.median(l1):.3g}", f"{statistics.median(rho):.3f}"]
        rows.append(row)
    samples = config["diagonal_samples"]
    return {"id": "obd-diagonals",
            "title": "How far OBD's diagonals are from the exact Hessian diagonal, per layer (dense nets)",
            "columns": ["parameter", "free parameters", *(f"{k} {m}" for k in kinds for m in ("L1", "rank"))],
            "rows": rows,
            "notes": ["sharing: the paper's rule for a shared weight (the sum over its connections of "
                      "d2E/dw_ij^2, the cross terms between those connections dropped), with the exact "
                      "per-connection terms, so that it isolates that rule; lecun-lm, lecun, ggn: the whole "
                      "diagonal (the recursion also drops the cross terms between units).",
                      "L1: sum |h - h_exact| / sum |h_exact| over the tensor; rank: Spearman correlation of the "
                      "saliencies h u^2 / 2 with the exact ones. Median over the headline dense nets of the first "
                      f"{config['sensitivity_seeds']} seeds, on "
                      f"{'all training samples' if samples is None else f'the first {samples} training samples'}."
                      " Linear layers share no weights: their sharing columns are 0 and 1."]}
