"""Does a method's saliency predict the loss change it claims? Delete, re-evaluate, compare.

For a trained model at a minimum of E, every free parameter (or a seeded sample on larger nets) is deleted
alone, E is re-evaluated on the training set, and the measured dE is compared with the method's predicted dE,
its saliency. For a method that moves weights (OBS) the measured dE is taken after its update for that one
deletion. Reported: Spearman and Pearson correlation (scipy.stats), the median relative error |predicted -
measured| / |measured| (over entries whose measured dE is non-zero), and the fraction of entries whose
predicted rank lies within 10% of the number compared of their measured rank. Also the cumulative curve of
OBD's Fig. 1b (LeCun, Denker & Solla 1990): along the method's deletion sequence, the predicted objective E0 +
(sum of saliencies of the deleted entries) against the actual objective.

JSON (``SaliencyReport.to_record``, a :mod:`prunebench.records` record of kind ``"saliency-check"``)::

    config:  {task, method, params, seed, sample, cumulative_fraction}
    results: {
      n_parameters,   # free parameters of the model
      n_compared,     # entries compared (all, or the seeded sample)
      objective,      # E at the trained model (training set, the task's loss)
      grad_norm,      # ||dE/dw|| there (the extremal approximation needs it ~0)
      statistics: {spearman, pearson, median_relative_error, rank_within_10pct, n_zero_measured},
      entries: {name: [...], index: [...], predicted: [...], measured: [...]},  # one column per field
      cumulative: {deleted: [...], predicted: [...], actual: [...]},  # objectives after k deletions
    }

Non-finite statistics (a constant saliency, e.g.) are written as null.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ._validation import integer, output_file
from .methods import registry
from .methods.base import MethodError, PruningMethod, candidate_mask, check_tensors, guest, method_name, model_mask
from .models import effective_params, functional_forward
from .report.palette import method_color

__all__ = ["SaliencyReport", "add_arguments", "check_saliency", "compare", "plot", "register_cli", "run",
           "statistics"]

DEFAULT_MAX_COMPARED = 2000
"""Above this many free parameters, a seeded sample of this size is compared unless ``sample`` says
otherwise."""

@dataclass
class SaliencyReport:
    """Predicted vs measured dE for one (model, method). Arrays are aligned with ``names``/``indices``."""

    method: str
    params: dict
    names: list[str]
    indices: list[int]
    predicted: np.ndarray
    measured: np.ndarray
    objective: float
    grad_norm: float
    n_parameters: int
    cumulative: dict = field(default_factory=dict)
    task: str | None = None
    seed: int = 0
    sample: int | None = None
    cumulative_fraction: float = 0.6
    wall_time: float = 0.0

    @property
    def statistics(self) -> dict:
        return statistics(self.predicted, self.measured)

    def to_dict(self) -> dict:
        """The ``results`` part of the record (module docstring)."""
        return {"n_parameters": self.n_parameters, "n_compared": len(self.names), "objective": self.objective,
                "grad_norm": self.grad_norm,
                "statistics": {k: _finite(v) for k, v in self.statistics.items()},
                "entries": {"name": list(self.names), "index": list(self.indices),
                            "predicted": [_finite(v) for v in self.predicted],
                            "measured": [_finite(v) for v in self.measured]},
                "cumulative": {k: [_finite(v) for v in vals] for k, vals in self.cumulative.items()}}

    def to_record(self, *, device: str = "cpu", dtype: str = "float64", command: str | None = None) -> dict:
        """A validated ``prunebench.record/1`` of kind ``"saliency-check"``."""
        from . import records

        config = {"task": self.task, "method": self.method, "params": _jsonable(self.params),
                  "seed": self.seed, "sample": self.sample, "cumulative_fraction": self.cumulative_fraction}
        prov = records.provenance(device=device, dtype=dtype, seeds=[self.seed], wall_time=self.wall_time,
                                  command=command)
        return records.make_record("saliency-check", config, self.to_dict(), prov)


def _finite(v):
    v = float(v)
    return v if math.isfinite(v) else None


def _jsonable(params: dict) -> dict:
    plain = str | int | float | bool | type(None)
    return {k: (v if isinstance(v, plain) else repr(v)) for k, v in params.items()}


def statistics(predicted, measured) -> dict:
    """Agreement of predicted and measured dE (1-D arrays of equal length).

    ``spearman``/``pearson``: correlation coefficients (NaN when either side is constant);
    ``median_relative_error``: median of |p - m| / |m| over entries with m != 0 (``n_zero_measured`` counts
    the others); ``rank_within_10pct``: fraction of entries whose rank by prediction is within 0.1 n of their
    rank by measurement.
    """
    from scipy import stats

    p, m = np.asarray(predicted, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    n = p.size
    if n != m.size:
        raise ValueError(f"predicted and measured must have the same length; got {n} and {m.size}")
    constant = n < 2 or np.ptp(p) == 0 or np.ptp(m) == 0
    spearman = math.nan if constant else float(stats.spearmanr(p, m).statistic)
    pearson = math.nan if constant else float(stats.pearsonr(p, m).statistic)
    nonzero = m != 0
    rel = np.abs(p[nonzero] - m[nonzero]) / np.abs(m[nonzero])
    ranks_p, ranks_m = stats.rankdata(p), stats.rankdata(m)
    return {"spearman": spearman, "pearson": pearson,
            "median_relative_error": float(np.median(rel)) if rel.size else math.nan,
            "rank_within_10pct": float(np.mean(np.abs(ranks_p - ranks_m) <= 0.1 * n)) if n else math.nan,
            "n_zero_measured": int(n - nonzero.sum())}


class _Objective:
    """E with some effective tensors replaced. For an ``nn.Sequential`` the input of every top-level layer at
    the base tensors is cached, so that a change confined to layers m, m+1, ... re-runs only those layers."""

    def __init__(self, model: nn.Module, loss_fn: nn.Module, base: dict, inputs: torch.Tensor,
                 targets: torch.Tensor):
        self.model, self.loss_fn, self.base, self.targets = model, loss_fn, base, targets
        self.layer_inputs = [inputs]
        top = {name.partition(".")[0] for name in base}
        if isinstance(model, nn.Sequential) and all(t.isdigit() for t in top):
            x = inputs
            with torch.no_grad():
                for layer in model:
                    x = layer(x)
                    self.layer_inputs.append(x)

    def _local(self, start: int, changed: dict) -> dict:
        """The tensors of layers ``start``, ``start + 1``, ... renamed as in ``model[start:]``."""
        out = {}
        for name, t in self.base.items():
            prefix, _, leaf = name.partition(".")
            if int(prefix) >= start:
                out[f"{int(prefix) - start}.{leaf}"] = changed.get(name, t)
        return out

    def __call__(self, changed: dict) -> float:
        """E (a float) with the tensors in ``changed`` (keyed like ``named_parameters``) substituted."""
        if len(self.layer_inputs) == 1:
            out = functional_forward(self.model, {**self.base, **changed}, self.layer_inputs[0])
            return float(self.loss_fn(out, self.targets))
        start = min((int(n.partition(".")[0]) for n in changed), default=len(self.model))
        rest = nn.Sequential(*list(self.model)[start:])
        out = functional_forward(rest, self._local(start, changed), self.layer_inputs[start])
        return float(self.loss_fn(out, self.targets))


def _entries(model: nn.Module, sample: int | None, seed: int) -> list[tuple[str, int]]:
    present = [(name, int(i)) for name, m in model_mask(model).items()
               for i in torch.nonzero(m.reshape(-1), as_tuple=True)[0]]
    limit = sample
    if sample is None and len(present) > DEFAULT_MAX_COMPARED:
        limit = DEFAULT_MAX_COMPARED
    if limit is None or limit >= len(present):
        return present
    chosen = np.sort(np.random.default_rng(seed).choice(len(present), size=limit, replace=False))
    return [present[i] for i in chosen]


def compare(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
            method: PruningMethod | str, *, sample: int | None = None, seed: int = 0,
            cumulative_fraction: float = 0.6, cumulative_points: int = 100) -> SaliencyReport:
    """Predicted (saliency) vs measured dE of deleting each present entry of ``model`` alone, and the
    cumulative curve along the method's deletion sequence up to ``cumulative_fraction`` of the entries
    (evaluated at up to ``cumulative_points`` counts). ``sample``: compare a seeded sample of that many
    entries (default: all, or :data:`DEFAULT_MAX_COMPARED` on larger nets). The model is not modified."""
    if sample is not None:
        integer("sample", sample, 2, expected="None (all parameters) or an integer >= 2")
    if not 0 <= cumulative_fraction <= 1:
        raise ValueError(f"cumulative_fraction must be a float in [0, 1]; got {cumulative_fraction!r}")
    name = method if isinstance(method, str) else _registered_name(method)
    method = registry.get(method) if isinstance(method, str) else method
    start = time.perf_counter()
    base = {k: v.detach() for k, v in effective_params(model).items()}
    mask = model_mask(model)
    objective = _Objective(model, loss_fn, base, inputs, targets)
    with torch.no_grad():
        e0 = objective({})
    grad_norm = _grad_norm(model, loss_fn, base, inputs, targets)
    entries = _entries(model, sample, seed)

    with guest(method):
        sal = check_tensors(method, "saliency", method.saliency(model, loss_fn, inputs, targets, mask=mask), model)
    predicted = np.array([float(sal[n].reshape(-1)[i]) for n, i in entries])
    updates = (method.single_deletion_updates(model, loss_fn, inputs, targets, entries, mask=mask)
               if type(method).moves_weights else None)
    measured = np.empty(len(entries))
    with torch.no_grad():
        for k, (n, i) in enumerate(entries):
            changed = {n: base[n]}
            if updates is not None:
                with guest(method), torch.enable_grad():
                    delta = check_tensors(method, "update", next(updates), model)
                changed = {key: base[key] + delta[key] for key in base}
            changed[n] = changed[n].clone()
            changed[n].view(-1)[i] = 0
            measured[k] = objective(changed) - e0

    cumulative = _cumulative(model, loss_fn, inputs, targets, method, objective, mask, e0,
                             cumulative_fraction, cumulative_points)
    return SaliencyReport(method=name, params=method.params, names=[n for n, _ in entries],
                          indices=[i for _, i in entries], predicted=predicted, measured=measured,
                          objective=e0, grad_norm=grad_norm,
                          n_parameters=sum(t.numel() for t in base.values()),
                          cumulative=cumulative, seed=seed, sample=sample,
                          cumulative_fraction=cumulative_fraction, wall_time=time.perf_counter() - start)


def _registered_name(method: PruningMethod) -> str:
    for name in registry.available():
        if registry.get_class(name) is type(method):
            return name
    return type(method).__name__


def _grad_norm(model, loss_fn, base, inputs, targets) -> float:
    params = {k: v.clone().requires_grad_(True) for k, v in base.items()}
    loss = loss_fn(functional_forward(model, params, inputs), targets)
    grads = torch.autograd.grad(loss, list(params.values()))
    return math.sqrt(sum(float((g**2).sum()) for g in grads))


def _cumulative(model, loss_fn, inputs, targets, method, objective, mask, e0, fraction, points) -> dict:
    """OBD Fig. 1b: objective predicted (E0 + cumulative saliency) and actual after k deletions of the
    sequence."""
    n_present = sum(int(m.sum()) for m in mask.values())
    limit = math.floor(fraction * n_present)
    grid = sorted(set(np.linspace(0, limit, min(points, limit) + 1).round().astype(int).tolist()))
    out = {"deleted": [0], "predicted": [e0], "actual": [e0]}
    steps = method.sequence(model, loss_fn, inputs, targets, mask=mask,
                            candidates=candidate_mask(model, mask))
    base = objective.base
    gone = {n: torch.zeros(v.shape, dtype=torch.bool, device=v.device) for n, v in base.items()}
    total = 0.0
    with torch.no_grad():
        for k in range(1, limit + 1):
            try:
                with guest(method), torch.enable_grad():  # the method may differentiate; only the rest is no_grad
                    step = next(steps)
            except StopIteration:
                break
            if not math.isfinite(step.deletion.saliency):
                raise MethodError(f"method {method_name(method)!r} returned saliency {step.deletion.saliency} for "
                                  f"{step.deletion.name}[{step.deletion.index}]; every saliency must be finite")
            total += step.deletion.saliency
            gone[step.deletion.name].view(-1)[step.deletion.index] = True
            if k in grid:
                moved = base if step.delta is None else {n: base[n] + step.delta[n] for n in base}
                touched = [n for n in base if step.delta is not None or gone[n].any()]
                changed = {n: torch.where(gone[n], torch.zeros_like(moved[n]), moved[n]) for n in touched}
                out["deleted"].append(k)
                out["predicted"].append(e0 + total)
                out["actual"].append(objective(changed))
    return out


def check_saliency(task: str, method: str, *, params: dict | None = None, seed: int = 0,
                   sample: int | None = None, root=None, device: str = "cpu", cache: bool = True,
                   cumulative_fraction: float = 0.6) -> SaliencyReport:
    """Train (or load from the cache) the dense model of ``task`` for ``seed`` and :func:`compare` on its
    training set, with the method ``method`` built from ``params``."""
    from . import tasks

    t = tasks.get(task)
    model, task_data, _ = t.trained(seed, root, device=device, cache=cache)
    instance = registry.get(method, **(params or {}))
    report = compare(model, t.loss_fn(), task_data.x_train, task_data.t_train, instance, sample=sample,
                     seed=seed, cumulative_fraction=cumulative_fraction)
    report.task, report.method = task, method
    return report


def plot(report: SaliencyReport):
    """A matplotlib Figure: (left) measured vs predicted dE, log-log, with the diagonal; (right) the
    cumulative curve of OBD's Fig. 1b, in the method's colour of every figure (:func:`prunebench.report.method_color`).
    Entries with a non-positive value cannot be drawn on log axes and are counted in the title. Never calls
    ``plt.show``."""
    import seaborn as sns
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    color = method_color(report.method)
    p, m = report.predicted, report.measured
    ok = (p > 0) & (m > 0)
    sns.scatterplot(x=p[ok], y=m[ok], ax=ax, color=color, s=14, alpha=0.7, edgecolor=None)
    if ok.any():
        lo, hi = float(min(p[ok].min(), m[ok].min())), float(max(p[ok].max(), m[ok].max()))
        ax.plot([lo, hi], [lo, hi], color="black", lw=1, ls="--", label="predicted = measured")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(loc="upper left")
    st = report.statistics
    ax.set_xlabel("predicted dE (saliency)")
    ax.set_ylabel("measured dE (delete and re-evaluate)")
    ax.set_title(f"{report.task or 'model'} / {report.method}: Spearman {st['spearman']:.3f}, "
                 f"Pearson {st['pearson']:.3f}\n{int((~ok).sum())} of {len(p)} entries <= 0 not shown",
                 fontsize=9)
    c = report.cumulative
    if c:
        ax2.plot(c["deleted"], c["predicted"], color=color, ls="--",
                 label="predicted (E0 + sum of saliencies)")
        ax2.plot(c["deleted"], c["actual"], color=color, label="actual")
        ax2.set_yscale("log")
        ax2.legend(loc="upper left")
    ax2.set_xlabel("parameters deleted")
    ax2.set_ylabel("objective E (training set)")
    ax2.set_title("cumulative (OBD Fig. 1b)", fontsize=9)
    return fig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``prunebench check-saliency``."""
    parser.add_argument("--task", required=True, help="task name (see `prunebench tasks`)")
    parser.add_argument("--method", required=True, help="method name (see `prunebench methods`)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a method parameter, e.g. --param curvature=exact (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the trained dense model (default 0)")
    parser.add_argument("--sample", type=int, default=None,
                        help="compare a seeded sample of N entries (default: all, or "
                             f"{DEFAULT_MAX_COMPARED} on nets with more free parameters)")
    parser.add_argument("--json", default=None, metavar="PATH", help="write the record here")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="write the --json record although tracked source files differ from the commit "
                             "(marked dirty)")
    parser.add_argument("--plot", default=None, metavar="PATH", help="write the figure here (png, pdf, svg)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--root", default=None,
                        help="data root (default: $PRUNEBENCH_DATA, ./datasets, user cache)")


def parse_params(pairs: list[str]) -> dict:
    """``["curvature=exact", "alpha=1e-6"]`` -> ``{"curvature": "exact", "alpha": 1e-06}`` (numbers, None and
    booleans are converted; everything else stays a string)."""
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--param must look like KEY=VALUE; got {pair!r}")
        value: object = text
        if text in ("None", "none", "null"):
            value = None
        elif text in ("True", "true", "False", "false"):
            value = text.lower() == "true"
        else:
            for convert in (int, float):
                try:
                    value = convert(text)
                    break
                except ValueError:
                    continue
        out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    """``prunebench check-saliency``: print the statistics; write ``--json`` and ``--plot`` when asked."""
    from . import records, tasks

    for path, option in ((args.json, "--json"), (args.plot, "--plot")):
        if path:
            output_file(path, option)
    if args.json:
        records.require_clean(records.git_state([args.json]), args.allow_dirty)
    report = check_saliency(args.task, args.method, params=parse_params(args.param), seed=args.seed,
                            sample=args.sample, root=args.root, device=args.device)
    st = report.statistics
    print(f"{args.task} / {args.method} {report.params}: {len(report.names)} of {report.n_parameters} "
          f"parameters, E = {report.objective:.4e}, |grad| = {report.grad_norm:.2e}")
    print(f"  Spearman {st['spearman']:.4f}  Pearson {st['pearson']:.4f}  median relative error "
          f"{st['median_relative_error']:.4f}  rank within 10% {st['rank_within_10pct']:.3f}")
    if args.json:
        dtype = str(tasks.get(args.task).dtype).removeprefix("torch.")
        records.atomic_write_json(args.json, report.to_record(device=args.device, dtype=dtype))
        print(f"wrote {args.json}")
    if args.plot:
        plot(report).savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0


def register_cli(subparsers) -> None:
    """Add ``check-saliency`` to the ``prunebench`` command line."""
    p = subparsers.add_parser("check-saliency",
                              help="compare each method's predicted dE with the measured one")
    add_arguments(p)
    p.set_defaults(func=run)
