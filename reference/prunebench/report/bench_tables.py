"""The curvature costs as ratios to one gradient and to BackPACK, the speed targets they are checked against, and
the Markdown report of ``prunebench bench-report``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .bench import _is_cnn

__all__ = ["CNN_MODELS", "MEMORY_FLOOR", "MLP_MODELS", "RATE_TARGET", "TABLE_COLUMNS", "TARGETS", "ZOO_COLUMNS",
           "ZOO_MEMORY_TARGET", "ZOO_TARGETS", "check_targets", "markdown", "rate_table", "ratio_rows",
           "ratio_table", "targets_table", "zoo_targets"]


MLP_MODELS = ("mlp-64-32-10", "mlp-256-128-64-10", "lenet-300-100")
"""The MLPs of the exact-diagonal target (lenet-300-100 is the MLP 784-300-100-10)."""
CNN_MODELS = ("lenet-usps",)

TARGETS = (
    ("exact diagonal <= 3x a gradient on the MLPs", "exact", MLP_MODELS, 3.0),
    ("exact diagonal <= 10x a gradient on the CNN", "exact", CNN_MODELS, 10.0),
    ("lecun-lm <= 1.5x a gradient", "lecun-lm", None, 1.5),
    ("ggn <= 3x a gradient", "ggn", None, 3.0),
)
"""(statement, native method, models or None for every model, largest ratio to one gradient): the default
report's targets."""
ZOO_TARGETS = (
    ("exact diagonal <= 2x a gradient on the MLPs", "exact", "mlp", 2.0),
    ("exact diagonal <= 10x a gradient on the CNNs", "exact", "cnn", 10.0),
    ("ggn <= 2x a gradient on the MLPs", "ggn", "mlp", 2.0),
    ("ggn <= 3x a gradient on the CNNs", "ggn", "cnn", 3.0),
    ("lecun <= 1.5x a gradient", "lecun", None, 1.5),
    ("lecun-lm <= 1.5x a gradient", "lecun-lm", None, 1.5),
)
"""The zoo's time targets; every native diagonal must also peak at most :data:`ZOO_MEMORY_TARGET` times one
gradient's memory. ``"mlp"``/``"cnn"``: the models with no / some convolution."""
ZOO_MEMORY_TARGET = 3.0
RATE_TARGET = 0.5
MEMORY_FLOOR = 0.1 * 2**20
"""References below this (bytes) are not divided by: a ratio to a call that holds a few tensors of a few KiB says
more about those (the loss, the outputs) than about the method's memory."""

TABLE_COLUMNS = ("model", "P", "method", "backend", "time (ms)", "x gradient", "x BackPACK", "peak (MiB)",
                 "mem x gradient", "mem x BackPACK")
ZOO_COLUMNS = (*TABLE_COLUMNS, "FLOP x gradient", "target missed by")
"""The zoo table adds the counted floating-point operations (matrix products and convolutions, by
``torch.utils.flop_counter``) as a ratio to one gradient's, and for a missed target the factor it is missed by
and why: the FLOP ratio says how much of the time ratio is arithmetic the method must do."""


def ratio_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with ``time_x_gradient``, ``time_x_backpack``, ``mem_x_gradient``, ``mem_x_backpack`` added
    (None where there is no reference or the reference is below :data:`MEMORY_FLOOR`)."""
    rows = [dict(r) for r in rows]
    grad = {r["model"]: r for r in rows if r["kind"] == "gradient"}
    backpack = {(r["model"], r["method"]): r for r in rows if r["backend"] == "backpack"}

    def ratio(value, ref, floor=0.0):
        if value is None or ref is None or ref <= floor:
            return None
        return value / ref

    for r in rows:
        g, b = grad.get(r["model"]), backpack.get((r["model"], r["method"])) if r["kind"] == "diag" else None
        if "flops" in r:
            r["flops_x_gradient"] = ratio(r["flops"], g and g.get("flops"))
        r["time_x_gradient"] = ratio(r["seconds"], g and g["seconds"])
        r["time_x_backpack"] = ratio(r["seconds"], b and b["seconds"])
        r["mem_x_gradient"] = ratio(r["peak_bytes"], g and g["peak_bytes"], MEMORY_FLOOR)
        r["mem_x_backpack"] = ratio(r["peak_bytes"], b and b["peak_bytes"], MEMORY_FLOOR)
        if r.get("column_bytes") is not None:
            r["columns_x_gradient"] = ratio(r["column_bytes"], g and g["peak_bytes"], MEMORY_FLOOR)
    return rows


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def ratio_table(rows: Iterable[Mapping[str, Any]], zoo: bool = False) -> str:
    """The Markdown table (:data:`TABLE_COLUMNS`; ``zoo``: :data:`ZOO_COLUMNS`), one section per model, rows in
    measuring order."""
    rows = ratio_rows(rows)
    columns = ZOO_COLUMNS if zoo else TABLE_COLUMNS
    missed = _missed(zoo_targets(rows)) if zoo else {}
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        label = r["method"] if r["kind"] != "inverse" else f"inverse {r['method']}"
        peak = None if r["peak_bytes"] is None else r["peak_bytes"] / 2**20
        cells = [r["model"], str(r["P"]), label, r["backend"], _fmt(r["seconds"] * 1e3, 3),
                 _fmt(r["time_x_gradient"]), _fmt(r["time_x_backpack"]), _fmt(peak),
                 _fmt(r["mem_x_gradient"]), _fmt(r["mem_x_backpack"])]
        if zoo:
            cells += [_fmt(r.get("flops_x_gradient")), missed.get((r["model"], r["method"], r["backend"]), "")]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def zoo_targets(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each zoo target per model it covers (:data:`ZOO_TARGETS`, then the memory target of every native
    diagonal but the Fisher): ``{target, model, method, value, threshold, met, flops}``, and for memory
    ``columns``, the sweep's factor columns against the gradient's peak."""
    rows = ratio_rows(rows)
    native = [r for r in rows if r["kind"] == "diag" and r["backend"] == "native"]
    out = []
    for statement, method, family, threshold in ZOO_TARGETS:
        for r in native:
            if r["method"] == method and (family is None or (family == "cnn") == _is_cnn(r["model"])):
                out.append({"target": statement, "model": r["model"], "method": method,
                            "value": r["time_x_gradient"], "threshold": threshold,
                            "met": r["time_x_gradient"] <= threshold, "flops": r.get("flops_x_gradient")})
    for r in native:
        if r["method"] != "fisher" and r["mem_x_gradient"] is not None:
            out.append({"target": f"{r['method']}: peak memory <= {ZOO_MEMORY_TARGET:g}x a gradient's",
                        "model": r["model"],
                        "method": r["method"], "value": r["mem_x_gradient"], "threshold": ZOO_MEMORY_TARGET,
                        "met": r["mem_x_gradient"] <= ZOO_MEMORY_TARGET, "flops": None,
                        "columns": r.get("columns_x_gradient")})
    return out


def _missed(targets: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], str]:
    """``(model, method, "native") -> text`` for the missed targets: by how much, and the FLOP count against
    the gradient's (above the target: that much arithmetic misses the target even at the rate the gradient's
    kernels reach; below: the time goes elsewhere, to memory traffic and many small kernels). The counts are
    of the kernels as called (a transposed convolution counts as torch's FLOP counter counts it). A missed
    memory target likewise sets the sweep's factor columns against the gradient's peak."""
    out: dict[tuple[str, str, str], list[str]] = {}
    for t in targets:
        if t["met"]:
            continue
        factor = t["value"] / t["threshold"]
        if "peak memory" in t["target"]:
            text = f"memory {factor:.2f}x over its {t['threshold']:g}x"
            if t.get("columns") is not None:
                why = ("more than the target allows" if t["columns"] > t["threshold"]
                       else "the rest is the forward trace and temporaries")
                text += f" (the factor columns alone {t['columns']:.1f}x the gradient's peak, {why})"
        else:
            text = f"{factor:.2f}x over {t['threshold']:g}x"
            if t["flops"] is not None:
                why = ("more arithmetic than the target allows at the gradient's rate" if t["flops"] > t["threshold"]
                       else "less: the rest is memory traffic and small kernels")
                text += f" ({t['flops']:.1f}x the gradient's FLOPs, {why})"
        out.setdefault((t["model"], t["method"], "native"), []).append(text)
    return {k: "; ".join(v) for k, v in out.items()}


def check_targets(rows: Iterable[Mapping[str, Any]], rate: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each speed target of the curvature benchmark (ratios to one gradient), per model it covers:
    ``{target, model, value, threshold, met}``."""
    rows = ratio_rows(rows)
    out = []
    for statement, method, models, threshold in TARGETS:
        for r in rows:
            if r["kind"] == "diag" and r["backend"] == "native" and r["method"] == method and (
                    models is None or r["model"] in models):
                out.append({"target": statement, "model": r["model"], "value": r["time_x_gradient"],
                            "threshold": threshold, "met": r["time_x_gradient"] <= threshold})
    if rate is not None:
        out.append({"target": f"inverse of a P = {rate['P']} curvature >= {RATE_TARGET:.0%} of the float64 "
                              "matmul rate", "model": f"mlp-{rate['P']}", "value": rate["inverse_fraction"],
                    "threshold": RATE_TARGET, "met": rate["inverse_fraction"] >= RATE_TARGET})
    return out


def targets_table(targets: Iterable[Mapping[str, Any]]) -> str:
    lines = ["| target | model | measured | threshold | met |", "|---|---|---|---|---|"]
    for t in targets:
        lines.append(f"| {t['target']} | {t['model']} | {_fmt(t['value'])} | {_fmt(t['threshold'])} | "
                     f"{'yes' if t['met'] else 'no'} |")
    return "\n".join(lines)


def rate_table(rate: Mapping[str, Any]) -> str:
    return "\n".join([
        "| quantity | seconds | GFLOP/s | fraction of matmul rate |", "|---|---|---|---|",
        f"| float64 matmul {rate['P']} x {rate['P']} | {rate['matmul_seconds']:.3f} | "
        f"{rate['matmul_gflops']:.1f} | 1.00 |",
        f"| inverse_hessian(method='cholesky'), P = {rate['P']}, N = {rate['batch']} | "
        f"{rate['inverse_seconds']:.3f} | {rate['inverse_gflops']:.1f} | {rate['inverse_fraction']:.2f} |",
        f"| LAPACK potrf + potri alone (torch.cholesky_inverse) | {rate['lapack_seconds']:.3f} | "
        f"{rate['P'] ** 3 / rate['lapack_seconds'] / 1e9:.1f} | {rate['lapack_fraction']:.2f} |",
    ])


def markdown(rows, rate, targets, prov: Mapping[str, Any], notes: Sequence[str] = (),
             clock: str = "wall", zoo: bool = False) -> str:
    """The report: provenance line, ratio table, notes, speed targets and the dense-inverse rate (``zoo``: the
    zoo's table and targets)."""
    clock_text = {"wall": "elapsed (wall-clock) time", "cpu": "process CPU time (`--clock cpu`)"}[clock]
    title = ("# Curvature cost on the benchmark zoo: ratios to one gradient, BackPACK and curvlinops beside" if zoo
             else "# Curvature cost: ratios to one gradient and to BackPACK")
    parts = [title, "",
             f"Measured by `{prov['command']}` on {prov['device_name']} ({prov['device']}, {prov['threads']} "
             f"thread(s)), torch {prov['torch']}, prunebench {prov['prunebench']} at {prov['git_commit']}, "
             f"{prov['created']}; dtype {prov['dtype']} for the diagonals, float64 for the inverses. Time: "
             f"{clock_text}, the fastest of many single calls (the median is in the record); memory: peak "
             "above the memory in use before the call (CPU: tensor memory, from the profiler's allocation events). "
             "`-`: no reference (BackPACK has no such method) or a "
             "reference below "
             f"{MEMORY_FLOOR / 2**20:g} MiB.", "",
             ratio_table(rows, zoo), *(["", *(f"- {note}" for note in notes)] if notes else []), "",
             "## Targets", "", targets_table(targets)]
    if rate is not None:
        parts += ["", "## Dense inverse against the matmul rate", "", rate_table(rate)]
    return "\n".join(parts) + "\n"
