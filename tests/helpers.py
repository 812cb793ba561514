"""Shared numerical test helpers."""

from __future__ import annotations

import functools

import torch

from prunebench.curvature import oracle


def assert_close(actual, expected, rtol: float, atol: float, name: str = "value") -> None:
    """Assert ``|actual - expected| <= atol + rtol * |expected|`` entrywise, and say which entries differ.

    On failure the message names ``name``, the tolerances, how many entries fail, and the worst ones with
    their index, actual and expected values.
    """
    a = torch.as_tensor(actual).detach().to("cpu", torch.float64)
    e = torch.as_tensor(expected).detach().to("cpu", torch.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{name}: shape {tuple(a.shape)} differs from expected {tuple(e.shape)}")
    err = (a - e).abs()
    bound = atol + rtol * e.abs()
    bad = ~(err <= bound)
    if bad.any():
        idx = torch.nonzero(bad.reshape(-1), as_tuple=True)[0]
        worst = idx[torch.argsort((err.reshape(-1) - bound.reshape(-1))[idx], descending=True)][:5]
        lines = [f"  [{tuple(int(v) for v in torch.unravel_index(i, a.shape))}] actual "
                 f"{a.reshape(-1)[i]:.17g}, expected {e.reshape(-1)[i]:.17g}, |diff| {err.reshape(-1)[i]:.3g}"
                 for i in worst]
        raise AssertionError(f"{name}: {int(bad.sum())} of {a.numel()} entries differ beyond rtol={rtol:g}, "
                             f"atol={atol:g} (max |diff| {float(err.max()):.3g}); worst:\n"
                             + "\n".join(lines))


def close(actual, expected, name: str, rtol: float = 1e-10, floor: float = 1e-12) -> None:
    """:func:`assert_close` with the absolute floor ``floor * max|expected|``.

    The curvature tolerances: every exact native quantity is compared in float64 with ``rtol=1e-10`` and an
    absolute floor of ``1e-12 * max|expected|`` (entries that cancel to ~0 carry rounding error relative to the
    largest ones): the sweeps reorder sums of O(P) terms, so agreement is ~1e-15 relative in practice and 1e-10
    leaves a wide margin while catching any missing term (a dropped cross-layer or shared-weight term changes
    entries at O(1)).
    """
    expected = torch.as_tensor(expected)
    scale = float(expected.abs().max().clamp_min(1e-300))
    assert_close(actual, expected, rtol=rtol, atol=floor * scale, name=name)


ORACLES = {"exact": oracle.dense_hessian, "ggn": oracle.dense_ggn, "fisher": oracle.dense_fisher}
"""The dense float64 oracles by curvature kind."""


@functools.cache
def dense(case, curvature: str) -> torch.Tensor:
    """The dense float64 oracle ``[P, P]`` of a :class:`cases.Case` (cached: lenet-digits takes a few
    seconds)."""
    return ORACLES[curvature](*case.build())
