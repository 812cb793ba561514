"""Shared numerical test helpers."""

from __future__ import annotations

import torch


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
