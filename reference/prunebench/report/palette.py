"""One colour per pruning method, the same in every figure (results, leaderboard, saliency checks), and the
line style of a method's variants."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

__all__ = ["METHOD_COLORS", "method_color"]


METHOD_COLORS: dict[str, str] = {
    "magnitude": "#009E73",
    "random": "#7F7F7F",
    "obd": "#0072B2",
    "obd-lecun-lm": "#56B4E9",
    "obd-lecun": "#1F4E79",
    "obd-exact": "#6A3D9A",
    "obd-ggn": "#17BECF",
    "obd-fisher": "#9E9AC8",
    "obd-hutchinson": "#CAB2D6",
    "obs": "#D55E00",
    "obs-recursion": "#A63603",
    "obs-exact": "#E31A1C",
    "obs-ggn": "#FB9A99",
    "obs-fisher": "#E69F00",
    "obs-block-diagonal": "#FDBF6F",
    "obs-stop-rule": "#7F2704",
    "woodfisher": "#CC79A7",
    "kfac": "#B8860B",
    "diag-fisher": "#8C564B",
    "exactobs": "#67000D",
}
"""One colour per pruning method, the same in every figure: magnitude green, random grey, OBD and its
curvature variants blues and purples, OBS and its variants reds and oranges (Okabe-Ito for the main three).
A series named ``"<method> + retraining"``, ``"<method>+retrain"`` or ``"<method> (...)"`` takes its method's
colour and a dashed line."""

_FALLBACK_COLORS = ("#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#17BECF", "#BCBD22", "#E377C2", "#393B79",
                    "#637939", "#8C6D31", "#843C39", "#7B4173")


_VARIANT = re.compile(r"^(?P<method>[\w.-]+?)\s*(?P<variant>[+(,/:].*)$")


def _method_and_variant(name: str) -> tuple[str | None, str]:
    """``("obs", "+retrain")`` for ``"obs+retrain"``: a known method and what follows it; ``(None, "")`` for a
    name that does not start with a known method followed by one of ``+ ( , / :``."""
    key = name.strip().lower()
    if key in METHOD_COLORS:
        return key, ""
    match = _VARIANT.match(key)
    if match and match["method"] in METHOD_COLORS:
        return match["method"], match["variant"]
    return None, ""


def method_color(name: str) -> str:
    """The colour of series ``name``: its method's in :data:`METHOD_COLORS` (also for variants such as
    ``"obs+retrain"``), else one fixed by a hash of the name (the same in every figure and on every
    machine)."""
    method, _ = _method_and_variant(name)
    if method is not None:
        return METHOD_COLORS[method]
    digest = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    return _FALLBACK_COLORS[digest % len(_FALLBACK_COLORS)]


_DASHES = ((5, 2), (2, 1.5), (6, 2, 1.5, 2), (1, 1))


def _dashes(series: Sequence[str]) -> dict[str, tuple | str]:
    """Line styles for the series of one figure: solid for a method or an unknown name, a dash pattern per
    distinct variant (``+retrain``, ``(exact)``, ...) in order of appearance."""
    variants = list(dict.fromkeys(v for _, v in map(_method_and_variant, series) if v))
    return {name: _DASHES[variants.index(v) % len(_DASHES)] if v else ""
            for name, (_, v) in zip(series, map(_method_and_variant, series), strict=True)}


def _palette(series: Sequence[str]) -> dict[str, str]:
    """Colours for the series of one figure: :func:`method_color`, moving an unknown series that collides
    with an earlier one in the same figure to the next free fallback colour."""
    palette: dict[str, str] = {}
    for name in series:
        color = method_color(name)
        if _method_and_variant(name)[0] is None:
            start = _FALLBACK_COLORS.index(color)
            for step in range(len(_FALLBACK_COLORS)):
                color = _FALLBACK_COLORS[(start + step) % len(_FALLBACK_COLORS)]
                if color not in palette.values():
                    break
        palette[name] = color
    return palette
