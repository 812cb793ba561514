"""A record's figures: curves at the median over seeds with a 95% bootstrap band, one colour per method
(:mod:`prunebench.report.palette`), saved as PNG and SVG that are byte-identical between runs."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from .palette import _dashes, _palette

__all__ = ["plot_figure", "render_figure"]


@contextmanager
def _figure_style() -> Iterator[None]:
    """Seaborn's whitegrid look plus the settings that make saved files byte-identical between runs."""
    import matplotlib as mpl
    import seaborn as sns

    with mpl.rc_context({"svg.hashsalt": "prunebench", "svg.fonttype": "path", "path.simplify": True,
                         "figure.dpi": 100, "savefig.dpi": 150}), sns.axes_style("whitegrid"), \
            sns.plotting_context("paper", font_scale=1.1):
        yield


def plot_figure(spec: Mapping, curves: Iterable[Mapping]):
    """Draw figure ``spec`` from long-format ``curves`` rows (``series``, ``seed``, ``x``, ``y``, optional
    ``panel``; rows of other figures are ignored) and return ``(fig, axes)``.

    One panel per entry of ``spec["panels"]`` (one panel when it is null). Each series is a line at the
    median over seeds with a 95% bootstrap band (seaborn, ``seed=0``) in its
    :func:`~prunebench.report.palette.method_color`, dashed for a variant of a method (``"obs+retrain"``); one
    legend for the figure. Nothing is shown; the caller saves or discards the figure.
    """
    import pandas as pd
    import seaborn as sns
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    rows = [dict(r) for r in curves if r.get("figure", spec["id"]) == spec["id"]]
    if not rows:
        raise ValueError(f"figure {spec['id']!r} has no curves: expected rows in curves with "
                         f"\"figure\": {spec['id']!r}")
    frame = pd.DataFrame(rows)
    frame["series"] = frame["series"].astype(str)
    panels = list(spec.get("panels") or [None])
    series = list(dict.fromkeys(frame["series"]))
    palette, dashes = _palette(series), _dashes(series)
    marker = "o" if frame["x"].nunique() <= 20 else None
    with _figure_style():
        fig = Figure(figsize=(4.2 * len(panels) + 1.6, 3.4), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
        for ax, panel in zip(axes, panels, strict=True):
            data = frame if panel is None else frame[frame.get("panel") == panel]
            if data.empty:
                raise ValueError(f"figure {spec['id']!r} lists panel {panel!r}, but no curve row has that "
                                 "panel")
            order = [s for s in series if s in set(data["series"])]
            sns.lineplot(data=data, x="x", y="y", hue="series", hue_order=order, palette=palette,
                         style="series", style_order=order, dashes=dashes, markers=False, marker=marker,
                         markersize=4, estimator="median", errorbar=("ci", 95), n_boot=1000, seed=0, ax=ax,
                         legend=False)
            ax.set_xscale("log" if spec.get("logx") else "linear")
            ax.set_yscale("log" if spec.get("logy") else "linear")
            ax.set_xlabel(spec.get("xlabel") or "x")
            ax.set_ylabel(spec.get("ylabel") or "y")
            if panel is not None:
                ax.set_title(str(panel))
        handles = [Line2D([], [], color=palette[s], marker=marker, markersize=4,
                          **({"dashes": dashes[s]} if dashes[s] else {})) for s in series]
        fig.legend(handles, series, loc="outside right center", frameon=False)
        if spec.get("title"):
            fig.suptitle(spec["title"])
    return fig, axes


def render_figure(spec: Mapping, curves: Iterable[Mapping]) -> dict[str, bytes]:
    """``{"png": bytes, "svg": bytes}`` of :func:`plot_figure`, without dates or software versions in the
    files, so re-rendering the same record gives the same bytes."""
    fig, _ = plot_figure(spec, curves)
    out = {}
    with _figure_style():
        for fmt, metadata in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, metadata=metadata)
            out[fmt] = buf.getvalue()
    return out
