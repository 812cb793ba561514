"""The figures of ``prunebench bench-report``: cost against parameter count, and the zoo's ratios per model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .bench_tables import ratio_rows

__all__ = ["COLORS", "STYLES", "plot", "plot_zoo"]


COLORS = {"gradient": "#000000", "exact": "#D55E00", "lecun": "#56B4E9", "lecun-lm": "#0072B2",
          "ggn": "#009E73", "fisher": "#E69F00", "hutchinson": "#CC79A7", "inverse recursion": "#7F7F7F",
          "inverse woodbury": "#8C564B", "inverse cholesky": "#9467BD", "inverse block-diagonal": "#BCBD22"}
"""One colour per curvature method in every cost figure (backends differ by marker and dash)."""
STYLES = {"autograd": ("o", ""), "native": ("o", ""), "backpack": ("s", (4, 2)), "curvlinops": ("^", (1, 1)),
          "torchfunc": ("D", (6, 2, 1, 2))}


def plot(rows: Iterable[Mapping[str, Any]]):
    """Cost against parameter count: time per call (left) and as a ratio to one gradient (right), log-log;
    colour = method, marker and dash = backend. Returns ``(fig, axes)``; nothing is shown."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.figure import Figure

    frame = pd.DataFrame(ratio_rows(rows))
    frame["curvature"] = [f"inverse {m}" if k == "inverse" else m
                          for k, m in zip(frame["kind"], frame["method"], strict=True)]
    frame["ms"] = frame["seconds"] * 1e3
    methods = [m for m in COLORS if m in set(frame["curvature"])]
    backends = [b for b in STYLES if b in set(frame["backend"])]
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, column, label in ((axes[0], "ms", "time per call (ms)"),
                              (axes[1], "time_x_gradient", "time / one gradient")):
        data = frame.dropna(subset=[column]).sort_values("P")
        sns.lineplot(data=data, x="P", y=column, hue="curvature", hue_order=methods, palette=COLORS,
                     style="backend", style_order=backends, markers={b: STYLES[b][0] for b in backends},
                     dashes={b: STYLES[b][1] for b in backends}, ax=ax, legend=ax is axes[1], errorbar=None)
        ax.set(xscale="log", yscale="log", xlabel="parameters P", ylabel=label)
        ax.grid(True, which="major", alpha=0.3)
    legend = axes[1].get_legend()
    if legend is not None:
        legend.set_bbox_to_anchor((1.02, 1.0))
        legend.set_loc("upper left")
    return fig, axes


def plot_zoo(rows: Iterable[Mapping[str, Any]]):
    """The zoo per model: each diagonal's time (left) and peak memory (right) as ratios to one gradient, log
    scale; colour = method, marker = backend; dotted lines at the targets (time: 1.5x, 2x, 3x, 10x; memory:
    3x). Returns ``(fig, axes)``; nothing is shown."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.figure import Figure

    frame = pd.DataFrame([r for r in ratio_rows(rows) if r["kind"] == "diag"])
    order = list(dict.fromkeys(frame["model"]))
    methods = [m for m in COLORS if m in set(frame["method"])]
    backends = [b for b in STYLES if b in set(frame["backend"])]
    fig = Figure(figsize=(12, 0.45 * len(order) + 1.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, column, label, lines in ((axes[0], "time_x_gradient", "time / one gradient", (1.5, 2, 3, 10)),
                                     (axes[1], "mem_x_gradient", "peak memory / one gradient's", (3,))):
        data = frame.dropna(subset=[column])
        sns.scatterplot(data=data, x=column, y="model", hue="method", hue_order=methods, palette=COLORS,
                        style="backend", style_order=backends, markers={b: STYLES[b][0] for b in backends},
                        s=60, alpha=0.85, ax=ax, legend=ax is axes[1])
        for x in lines:
            ax.axvline(x, color="0.5", linestyle=":", linewidth=1)
        ax.set(xscale="log", xlabel=label, ylabel="")
        ax.set_yticks(range(len(order)), order)
        ax.grid(True, axis="x", which="major", alpha=0.3)
    legend = axes[1].get_legend()
    if legend is not None:
        legend.set_bbox_to_anchor((1.02, 1.0))
        legend.set_loc("upper left")
    return fig, axes
