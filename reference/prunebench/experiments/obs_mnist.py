"""Full-network Optimal Brain Surgeon on MNIST, against blockwise OBS, OBD and magnitude, one-shot.

References:
    Babak Hassibi and David G. Stork (1993). "Second order derivatives for network pruning: Optimal Brain
    Surgeon". In Advances in Neural Information Processing Systems 5 (NIPS 1992), pp. 164-171.
    Sidak Pal Singh and Dan Alistarh (2020). "WoodFisher: Efficient second-order approximation for neural
    network compression". In Advances in Neural Information Processing Systems 33. -- the 784-40-20-10 test
    network and the published one-shot numbers this experiment is compared with (PAPERS.md section 4,
    [secondary]: from the WoodFisher repository's test file ``tests/mnist_test_results.csv``, which says they
    depend on the PyTorch version).

The question: the papers ran OBS on networks of tens to thousands of weights; later work made OBS practical
only by cutting the Hessian into blocks (WoodFisher) or layers (Optimal Brain Compression). What do the blocks
cost? WoodFisher's repository prunes its MLP (MNIST, 784-40-20-10, ReLU, no biases, 32,360 weights, dense test
accuracy 93.97%) one-shot to 95% sparsity without fine-tuning and reports 84.18% (blockwise WoodFisher: one
empirical-Fisher inverse per layer), 81.26% (K-FAC) and 19.88% (diagonal Fisher).

Protocol (one unit per seed and variant):

1. Train the task ``mnist`` (:mod:`prunebench.tasks`: the same network, cross-entropy, Adam) from the seed.
2. Draw ``samples`` training points (seeded by the seed; 1000 by default, WoodFisher used about that many in
   its paper and 100 in the repository test) for every curvature-based method.
3. Prune one-shot, without retraining, to 50, 75, 90, 95 and 98% of the weights with each variant:

   - ``obs-full-g<k>``: full-network OBS (:class:`prunebench.methods.fullobs.FullOBS`), the empirical Fisher
     of all 32,360 weights (``F = (1/N) sum g g^T + damping I``, damping 1e-5, one 4.2 GB float32 inverse),
     ``k`` weights deleted jointly per ranking (``k = 1``: the paper's OBS, one weight at a time; ``k`` = 64,
     1 and 1024 by default, 64 being the one compared in the claims);
   - ``obs-layer-g<k>``: the same with one inverse per layer (blockwise OBS, WoodFisher's blocks for this
     net);
   - ``obs-full-ggn-g<k>`` (with ``--ggn``): the same with the Gauss-Newton matrix, 9 terms per sample (the
     paper's several-output Hessian), from ``ggn_samples`` points (112 by default: 1,008 vectors, the
     Fisher's budget);
   - ``obs-full-onestep``, ``obs-layer-onestep``: WoodFisher's one-shot procedure (one ranking by
     ``L_q``, the *sum* of the single-weight updates of everything deleted, no downdates) with the full or
     layer-block inverse; ``woodfisher-protocol``: the latter with the repository test's 100 gradients;
   - ``obd-<curvature>``: OBD's diagonal saliency ``h w^2 / 2`` from the empirical Fisher, Gauss-Newton or
     exact Hessian diagonal (ranked once, no update);
   - ``magnitude``: global magnitude.

   One-shot means: from the dense model, compute the curvature once, then delete weights until the target. An
   OBS sequence (with its updates and downdates) passes 50, 75, 90, 95 and 98% in order, and the network is
   recorded at each: the same states that five separate one-shot runs would reach, at the cost of one. The
   rank-once methods (and one-step OBS) are ranked once and cut at each sparsity.
4. Record the test accuracy (10,000 images), the training loss and accuracy, and for each variant its run time
   (wall and CPU seconds of the pruning alone, with the load average beside them: the machine may be shared),
   peak memory (resident set size sampled every 20 ms, or CUDA's peak allocation) and, for OBS, where the time
   went and the GFLOP/s achieved against a matrix product measured in the same process.

``--quick``: the same protocol on a small stand-in (scikit-learn digits, 8x8, MLP 64-32-10 with biases, 2,410
weights, float64, 1 seed): a smoke test in about a minute, not a result.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import torch

from .. import methods, prune, tasks
from .._validation import integer
from ..evaluate import evaluate
from ..stats import bootstrap_ci
from ..train import TrainConfig
from ._common import Meter, masked_copy, synchronize
from .base import Experiment

__all__ = ["QUICK_TASK", "SPARSITIES", "WOODFISHER", "Meter", "ObsMnist", "matmul_gflops", "run_variant",
           "subset", "variant_specs"]

SPARSITIES = (0.5, 0.75, 0.9, 0.95, 0.98)

WOODFISHER = {"dense": 93.97, "woodfisher-blockwise": 84.18, "kfac": 81.26, "diagonal-fisher": 19.88}
"""The WoodFisher repository's MNIST test (784-40-20-10, one-shot to 95%, no fine-tuning), test top-1 in %
[secondary: PAPERS.md section 4]."""

WOODFISHER_SAMPLES = 100
"""Gradients of the WoodFisher repository's test (``--fisher-subsample-size 100``, damping 1e-5)."""

QUICK_TASK = tasks.Task("digits-mlp", "digits", "mlp-64-32-10", "ce", "index",
                        TrainConfig(optimizer="lbfgs", epochs=300, weight_decay=1e-4),
                        description="scikit-learn digits, MLP 64-32-10 (tanh), cross-entropy: "
                                    "obs-mnist --quick")
"""The stand-in of ``--quick``: small enough for every variant, group size 1 included, in seconds."""


def subset(n: int, samples: int | None, seed: int) -> torch.Tensor | None:
    """The indices of the curvature samples: ``FullOBS``'s rule (a seeded permutation's first ``samples``,
    sorted), so that every method sees the same points; ``None`` for all of them."""
    if samples is None or samples >= n:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:samples].sort().values


def variant_specs(group_sizes: list[int], samples: int, damping: float, dtype: str, ggn: int | None,
                  layer: bool) -> dict[str, dict]:
    """Label -> {"method", "params"} (the unit's seed is added to the OBS parameters at run time); ``ggn``:
    the samples of the Gauss-Newton variant (``None``: no such variant)."""
    obs = {"hessian": "fisher", "damping": damping, "samples": samples, "dtype": dtype}
    main = group_sizes[0]
    specs: dict[str, dict] = {f"obs-full-g{main}": {"method": "obs-full",
                                                    "params": {**obs, "group_size": main}}}
    if layer:
        specs[f"obs-layer-g{main}"] = {"method": "obs-full",
                                       "params": {**obs, "group_size": main, "blocks": "module"}}
    for k in group_sizes[1:]:
        specs[f"obs-full-g{k}"] = {"method": "obs-full", "params": {**obs, "group_size": k}}
    if ggn:
        ggn_params = {**obs, "hessian": "ggn", "samples": ggn, "group_size": main}
        specs[f"obs-full-ggn-g{main}"] = {"method": "obs-full", "params": ggn_params}
    one_step = {**obs, "procedure": "one-step"}
    specs["obs-full-onestep"] = {"method": "obs-full", "params": one_step}
    if layer:
        specs["obs-layer-onestep"] = {"method": "obs-full", "params": {**one_step, "blocks": "module"}}
        specs["woodfisher-protocol"] = {"method": "obs-full", "params": {**one_step, "blocks": "module",
                                                                         "samples": WOODFISHER_SAMPLES}}
    for curvature in ("fisher", "ggn", "exact"):
        specs[f"obd-{curvature}"] = {"method": "obd", "params": {"curvature": curvature}}
    specs["magnitude"] = {"method": "magnitude", "params": {"scope": "global"}}
    return specs


def matmul_gflops(dtype: torch.dtype, device: torch.device | str = "cpu", n: int = 4096, k: int = 256,
                  repeats: int = 3) -> float:
    """GFLOP/s of ``C -= A B^T`` with ``C`` ``[n, n]`` and rank ``k`` (the shape of OBS's downdates), the
    best of ``repeats``: the reference rate the downdates are compared with."""
    device = torch.device(device)
    g = torch.Generator().manual_seed(0)
    A = torch.randn(n, k, generator=g, dtype=dtype).to(device)
    C = torch.zeros(n, n, dtype=dtype, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        synchronize(device)
        start = time.perf_counter()
        C.addmm_(A, A.T, alpha=-1.0)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n * n * k / best / 1e9


def _point(net, task, data, sparsity: float, predicted: float | None, dense_loss: float) -> dict:
    ev = evaluate(net, task, data)
    return {"sparsity": sparsity, "achieved_sparsity": ev.sparsity,
            "test_accuracy": 100 * ev.test_accuracy, "train_accuracy": 100 * ev.train_accuracy,
            "train_loss": ev.loss, "actual_change": ev.loss - dense_loss, "predicted_change": predicted}


def run_variant(model, task, data, spec: dict, sparsities, seed: int, samples: int | None,
                device: str = "cpu") -> dict[str, Any]:
    """Prune copies of ``model`` one-shot to each sparsity with the variant ``spec`` (see
    :func:`variant_specs`); returns its points, run time, peak memory and, for OBS, its :class:`SurgeryStats`.
    """
    params = dict(spec["params"])
    if spec["method"] == "obs-full":
        params["seed"] = seed
    method = methods.get(spec["method"], **params)
    loss_fn = task.loss_fn()
    base = masked_copy(model)
    total = sum(p.numel() for p in base.parameters())
    counts = [int(round(s * total)) for s in sparsities]
    with torch.no_grad():
        dense_loss = float(loss_fn(model(data.x_train), data.t_train))
    points = []
    stats = None
    with Meter(device) as meter:
        if spec["method"] == "obs-full":
            path = prune.path_at_counts(base, method, loss_fn, data.x_train, data.t_train, counts)
            for s in sparsities:
                with meter.span():
                    net, result = next(path)
                points.append(_point(net, task, data, s, result.predicted_change, dense_loss))
            stats = method.last_stats.to_dict()
        else:
            pick = subset(data.x_train.shape[0], samples, seed)
            x, t = (data.x_train, data.t_train) if pick is None else (
                data.x_train[pick.to(data.x_train.device)], data.t_train[pick.to(data.x_train.device)])
            with meter.span():
                order = method.select(base, loss_fn, x, t, count=counts[-1])
            for s, net in zip(sparsities, prune.prefixes(base, order, counts), strict=True):
                points.append(_point(net, task, data, s, None, dense_loss))
    return {"points": points, "wall_s": meter.wall_s, "cpu_s": meter.cpu_s, "peak_gb": meter.peak_gb,
            "extra_gb": meter.extra_gb, "stats": stats}


class ObsMnist(Experiment):
    """Full-network OBS on the WoodFisher MNIST MLP: accuracy vs sparsity, time and memory per method."""

    name = "obs-mnist"
    title = ("Full-network Optimal Brain Surgeon on MNIST (784-40-20-10) against blockwise OBS, OBD and "
             "magnitude")
    paper = "singh2020woodfisher"
    default_seeds = 3
    quick_seeds = 1
    needs_data = "mnist"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--group-sizes", default="64,1,1024",
                            help="OBS group sizes, comma-separated; the first is used for the layer-block "
                                 "and Gauss-Newton variants and the claims (default 64,1,1024)")
        parser.add_argument("--samples", type=int, default=1000,
                            help="training points of every curvature (default 1000)")
        parser.add_argument("--damping", type=float, default=1e-5,
                            help="lambda in F + lambda I for OBS (default 1e-5, the WoodFisher repository "
                                 "test's)")
        parser.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                            help="dtype of the OBS inverse (default float32: 4.2 GB; float64 needs 8.4 GB)")
        parser.add_argument("--ggn-samples", type=int, default=112,
                            help="training points of the Gauss-Newton OBS variant (default 112: 9 vectors "
                                 "each, about the Fisher's 1000 vectors)")
        parser.add_argument("--ggn", action="store_true",
                            help="also run the Gauss-Newton OBS variant (not in the committed run: time)")
        parser.add_argument("--no-layer", action="store_true", help="skip the layer-block OBS variant")

    def data_needed(self, config: dict[str, Any]) -> str | None:
        return self.needs_data if config["task"] == "mnist" else None  # --quick runs on embedded digits

    def config(self, args: argparse.Namespace, seeds: list[int]) -> dict[str, Any]:
        quick = bool(args.quick)
        text = str(getattr(args, "group_sizes", "64,1,1024"))
        try:
            sizes = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            sizes = []
        if not sizes or any(k < 1 for k in sizes) or len(set(sizes)) != len(sizes):
            raise ValueError("--group-sizes must be distinct positive integers separated by commas (e.g. "
                             f"1,64); got {text!r}")
        samples = integer("--samples", getattr(args, "samples", 1000), 1)
        damping = float(getattr(args, "damping", 1e-5))
        if not damping > 0:
            raise ValueError(f"--damping must be a positive float; got {damping!r}")
        ggn_samples = integer("--ggn-samples", getattr(args, "ggn_samples", 112), 1)
        dtype = "float64" if quick else getattr(args, "dtype", "float32")
        ggn = (56 if quick else ggn_samples) if getattr(args, "ggn", False) else None
        specs = variant_specs(sizes, 500 if quick else samples, damping, dtype, ggn=ggn,
                              layer=not getattr(args, "no_layer", False))
        return {**super().config(args, seeds), "task": QUICK_TASK.name if quick else "mnist", "dtype": dtype,
                "samples": 500 if quick else samples, "damping": damping, "sparsities": list(SPARSITIES),
                "group_sizes": sizes, "variants": specs}

    def units(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        # The cheap variants first (rankings, one-step OBS), then sequential OBS in the order listed (the
        # first group size first): an interrupted run keeps the most useful units (and resumes from there).
        labels = list(config["variants"])

        def sequential(label: str) -> bool:
            spec = config["variants"][label]
            return spec["method"] == "obs-full" and spec["params"].get("procedure") != "one-step"

        order = [x for x in labels if not sequential(x)] + [x for x in labels if sequential(x)]
        return [{"id": f"{label}.seed={s}", "variant": label, "seed": s} for label in order
                for s in config["seeds"]]

    def run_unit(self, config: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
        task = QUICK_TASK if config["task"] == QUICK_TASK.name else tasks.get(config["task"])
        model, data, info = task.trained(unit["seed"], config["root"], device=config["device"])
        device = torch.device(config["device"])
        spec = config["variants"][unit["variant"]]
        rate = {d: matmul_gflops(getattr(torch, d), device) for d in ("float32", "float64")}
        load_before = os.getloadavg()[0]
        result = run_variant(model, task, data, spec, config["sparsities"], unit["seed"], config["samples"],
                             config["device"])
        return {"variant": unit["variant"], "seed": unit["seed"],
                "dense": {"test_accuracy": 100 * info["test_accuracy"],
                          "train_accuracy": 100 * info["train_accuracy"], "train_loss": info["fit"]["loss"]},
                **result, "matmul_gflops": rate, "load_average": [load_before, os.getloadavg()[0]],
                "threads": torch.get_num_threads(),
                "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}

    def summarize(self, config: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        labels = list(config["variants"])
        by = {label: [results[f"{label}.seed={s}"] for s in config["seeds"]] for label in labels}
        main = f"obs-full-g{config['group_sizes'][0]}"
        quick = config["task"] != "mnist"
        tables = [_accuracy_table(by, config), _woodfisher_table(by, main, quick), _cost_table(by, config)]
        if len(config["group_sizes"]) > 1:
            tables.append(_group_table(by, config))
        curves = [{"figure": "obs-mnist-accuracy", "series": label, "seed": u["seed"],
                   "x": 100 * p["sparsity"], "y": p["test_accuracy"]}
                  for label in labels for u in by[label] for p in u["points"]]
        figures = [{"id": "obs-mnist-accuracy", "title": "One-shot pruning of the MNIST MLP: test accuracy",
                    "xlabel": "sparsity (%)", "ylabel": "test accuracy (%)", "logx": False, "logy": False,
                    "panels": None,
                    "caption": f"Test accuracy after one-shot pruning without retraining, median over "
                               f"{len(config['seeds'])} seeds with a 95% bootstrap band."}]
        keep = ("dense", "points", "wall_s", "cpu_s", "peak_gb", "load_average", "stats", "matmul_gflops")
        per_seed = [{"variant": label, "seed": u["seed"], **{k: u[k] for k in keep}}
                    for label in labels for u in by[label]]
        claims = [] if quick else _claims(by, main, labels)
        return {"title": self.title, "paper": self.paper, "claims": claims, "tables": tables,
                "curves": curves, "figures": figures, "deviations": _deviations(config), "per_seed": per_seed}


def _at(units: list[dict], sparsity: float, key: str = "test_accuracy") -> list[float]:
    return [next(p[key] for p in u["points"] if abs(p["sparsity"] - sparsity) < 1e-9) for u in units]


def _ci(values: list[float], digits: int = 2) -> str:
    est, low, high = bootstrap_ci(values)
    return f"{est:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _accuracy_table(by: dict, config: dict) -> dict:
    sparsities = config["sparsities"]
    dense = [u["dense"]["test_accuracy"] for u in next(iter(by.values()))]
    rows = [["dense", *[_ci(dense)] * len(sparsities)]]
    for label, units in by.items():
        rows.append([label, *[_ci(_at(units, s)) for s in sparsities]])
    return {"id": "obs-mnist-accuracy", "title": "Test accuracy (%) after one-shot pruning, no retraining",
            "columns": ["method", *[f"{round(100 * s)}%" for s in sparsities]], "rows": rows,
            "notes": [f"Median [95% bootstrap CI] over {len(dense)} seeds (with 3 seeds the interval is "
                      "about the range).",
                      "OBS rows: one deletion sequence per seed from one inverse, recorded as it passes each "
                      "sparsity (the same states as separate one-shot runs); other rows: one ranking, cut at "
                      "each sparsity."]}


def _woodfisher_table(by: dict, main: str, quick: bool) -> dict:
    units = next(iter(by.values()))
    dense = [u["dense"]["test_accuracy"] for u in units]
    d_est = bootstrap_ci(dense)[0]
    layer = next((label for label in by if label.startswith("obs-layer-g")), None)
    blockwise = WOODFISHER["woodfisher-blockwise"]
    pairs = [("dense", None, WOODFISHER["dense"]),
             ("woodfisher-protocol", "woodfisher-blockwise (their protocol: layer blocks, 100 gradients, one "
                                     "step)", blockwise),
             ("obs-layer-onestep", "woodfisher-blockwise (1000 gradients)", blockwise),
             (layer, "woodfisher-blockwise (sequential OBS, exact joint updates)", blockwise),
             ("obs-full-onestep", "full-network inverse, one step", None),
             (main, "full-network OBS (sequential, exact joint updates)", None),
             (None, "kfac", WOODFISHER["kfac"]),
             ("obd-fisher", "diagonal-fisher", WOODFISHER["diagonal-fisher"]),
             ("magnitude", "global magnitude", None)]
    rows = []
    for label, theirs, value in pairs:
        if label == "dense":
            rows.append(["dense", _ci(dense), value, "-", "-"])
            continue
        if label is not None and label in by:
            acc = _at(by[label], 0.95)
            drops = [d - a for d, a in zip(dense, acc, strict=True)]
            ours, drop = _ci(acc), _ci(drops)
        else:
            ours, drop = "not run", "-"
        wf_drop = round(WOODFISHER["dense"] - value, 2) if value is not None else "-"
        rows.append([f"{label or '-'} vs {theirs}", ours, value if value is not None else "-", drop, wf_drop])
    notes = ["Two different models: ours (task mnist, Adam-trained, dense "
             f"{d_est:.2f}% median) and WoodFisher's published checkpoint (dense 93.97%), on which their "
             "column was measured (the repository's MNIST test, tests/mnist_test_results.csv: 100 gradient "
             "samples, damping 1e-5, one-shot, no fine-tuning) [secondary]. The columns are side by side for "
             "orientation only; the published numbers are reproduced on their own model by the experiment "
             "woodfisher-mnist.",
             "WoodFisher's one-shot scores every weight once and adds the independent single-weight OBS "
             "updates of all deleted weights (their pruners/woodfisherblock.py): our one-step rows "
             "(procedure='one-step'); the sequential rows re-rank after every group and apply the exact "
             "joint updates and downdates.",
             "Median [95% bootstrap CI] over seeds, test accuracy in % at 95% sparsity."]
    if quick:
        notes.insert(0, "--quick: a digits stand-in, not comparable with the WoodFisher numbers.")
    return {"id": "obs-mnist-woodfisher",
            "title": "At 95% sparsity on our model, beside the WoodFisher repository's numbers on theirs",
            "columns": ["ours vs theirs", "our model: test %", "published model: test %",
                        "our model: drop from dense (pp)", "published model: drop (pp)"],
            "rows": rows, "notes": notes}


def _cost_table(by: dict, config: dict) -> dict:
    rows = []
    for label, units in by.items():
        wall = [u["wall_s"] for u in units]
        cpu = [u["cpu_s"] for u in units]
        peak = [u["peak_gb"] for u in units]
        extra = [u["extra_gb"] for u in units]
        load = [statistics.mean(u["load_average"]) for u in units]
        stats = [u["stats"] for u in units if u["stats"]]
        dtype = config["variants"][label]["params"].get("dtype", "float32")
        mm = [u["matmul_gflops"][dtype] for u in units]
        if stats:
            build = f"{statistics.median(s['build_gflops'] for s in stats):.1f}"
            down = f"{statistics.median(s['downdate_gflops'] for s in stats):.1f}"
            split = (f"{statistics.median(s['build_s'] for s in stats):.0f} / "
                     f"{statistics.median(s['downdate_s'] for s in stats):.0f} / "
                     f"{statistics.median(s['compact_s'] for s in stats):.0f} / "
                     f"{statistics.median(s['select_s'] for s in stats):.0f}")
        else:
            build = down = split = "-"
        rows.append([label, f"{statistics.median(wall):.1f}", f"{statistics.median(cpu):.1f}",
                     f"{statistics.median(load):.1f}", split, f"{statistics.median(peak):.2f}",
                     f"{statistics.median(extra):.2f}", build, down, f"{statistics.median(mm):.1f}"])
    return {"id": "obs-mnist-cost",
            "title": "Run time and peak memory per method (pruning to 98%, one sequence)",
            "columns": ["method", "wall s", "CPU s", "load average",
                        "OBS: build / downdate / compact / select s",
                        "peak RSS GB", "above start GB", "build GFLOP/s", "downdate GFLOP/s",
                        "matmul GFLOP/s (same process)"],
            "rows": rows,
            "notes": ["Medians over seeds. Wall and CPU seconds cover the method alone (curvature and "
                      "deletions, not the evaluations); the machine may be shared, so the 1-minute load "
                      "average during the run is given beside them (2 cores: a load above 2 means the run "
                      "got less than the whole machine).",
                      "GFLOP/s: flop counted from the matrix sizes over wall time; the reference is "
                      "C -= A B^T (4096 x 4096, rank 256) in the OBS dtype, measured in the same process "
                      "just before.",
                      "peak RSS: the process's resident memory (sampled every 20 ms) during the method; "
                      "above start: the same minus the memory in use before it (the trained model and the "
                      "data)."]}


def _group_table(by: dict, config: dict) -> dict:
    sizes = config["group_sizes"]
    base = f"obs-full-g{1 if 1 in sizes else sizes[0]}"  # the paper's one-at-a-time OBS when it was run
    rows = []
    for k in sorted(sizes):
        label = f"obs-full-g{k}"
        units = by[label]
        row = [label]
        for s in config["sparsities"]:
            diffs = [a - b for a, b in zip(_at(units, s), _at(by[base], s), strict=True)]
            row.append(_ci(diffs))
        row.append(f"{statistics.median(u['wall_s'] for u in units):.0f}")
        row.append(f"{statistics.median(u['stats']['groups'] for u in units):.0f}")
        rows.append(row)
    return {"id": "obs-mnist-group-size", "title": f"Group size: test accuracy against {base} (pp), and cost",
            "columns": ["variant", *[f"{round(100 * s)}%" for s in config["sparsities"]], "wall s",
                        "rankings"],
            "rows": rows,
            "notes": [f"Difference in test accuracy (percentage points) to {base} on the same "
                      "seed, median [95% bootstrap CI]. Each group is the |Q| smallest single-weight "
                      "saliencies of one ranking, deleted with the exact joint update; the flop of the "
                      "downdates are the same for every group size, so larger groups save only the "
                      "re-rankings."]}


OUR_MODEL = "our model (task mnist: Adam-trained, inputs in [0, 1]; not WoodFisher's published checkpoint)"
"""What every obs-mnist claim is measured on. The published numbers were measured on another model; they are
reproduced on that model by the experiment woodfisher-mnist."""


def _claims(by: dict, main: str, labels: list[str]) -> list[dict]:
    """The suite's own claims, each on :data:`OUR_MODEL`, each comparing two methods on the same seeds."""

    def better(claim_id: str, statement: str, first: str, second: str, same: str,
               note: str = "any positive difference") -> dict:
        """Claim ``claim_id``: ``first`` beats ``second`` in test accuracy at 95%, seed by seed."""
        return {"id": claim_id, "statement": f"On our model, {statement} at 95%",
                "source": "[ours] a comparison of two methods on the same model, seeds and curvature samples",
                "paper_value": None,
                "metric": f"{first} minus {second} test accuracy at 95%, {same}on {OUR_MODEL}",
                "unit": "percentage points",
                "values": [a - b for a, b in zip(_at(by[first], 0.95), _at(by[second], 0.95), strict=True)],
                "rule": {"op": ">", "threshold": 0.0}, "tolerance_note": note}

    claims = []
    layer = next((label for label in labels if label.startswith("obs-layer-g")), None)
    if layer is not None:
        claims.append(better("full-obs-vs-layer-obs-95", "dropping the cross-layer blocks of the inverse "
                             "(blockwise OBS) costs accuracy", main, layer, "same seed and samples, ",
                             "any positive difference; the same curvature samples, damping and group size"))
        if "obs-layer-onestep" in labels:
            claims.append(better("sequential-vs-one-step-layer-95", "sequential OBS with layer blocks "
                                 "(re-ranking, exact joint updates) beats WoodFisher's one-step procedure with "
                                 "the same blocks", layer, "obs-layer-onestep", "same seed and samples, "))
    if "obd-fisher" in labels:
        claims.append(better("full-obs-vs-diag-fisher-95", "OBS with the full Fisher beats OBD with its diagonal "
                             "(global ranking)", main, "obd-fisher", ""))
    return claims


def _deviations(config: dict) -> list[str]:
    out = [
        "Dense training: the task's recipe (Adam, lr 1e-3, batch 128, 20 epochs, inputs in [0, 1]); "
        "WoodFisher's checkpoint came from 25 epochs of SGD (lr 1e-3, momentum 0.5) on normalised inputs and "
        "reaches 93.97%, ours is more accurate, so accuracies at a sparsity are compared through the drop "
        "from dense as well.",
        f"Curvature from {config['samples']} training points per seed (a seeded subset, the same for every "
        "method); the repository test used 100 gradients for WoodFisher and K-FAC (4096 samples for the "
        "diagonal Fisher).",
        f"OBS damping {config['damping']:g} (F + lambda I, F the mean of g g^T; the largest eigenvalue of F "
        "is about 1e-2 on our seed-0 network); the repository used 1e-5 with 100 samples. The Gauss-Newton "
        "OBS variant uses fewer points (9 vectors each) for about the same number of vectors, hence the same "
        "cost, as the Fisher.",
        f"The OBS inverse is held in {config['dtype']} (the float64 full inverse would need 8.4 GB); the "
        "small per-group solves, the weights and the diagonal are float64 (prunebench.methods.fullobs).",
        "OBS is run as the sequential procedure (re-rank after each group, exact joint update and downdate), "
        "not WoodFisher's one-step simultaneous update; K-FAC is not run.",
        "One sequence per seed is recorded at 50/75/90/95/98%: for OBS the same as separate one-shot runs "
        "to each sparsity, since every run starts with the same deletions (exactly for group size 1; a "
        "larger group that straddles a sparsity is split there).",
        "OBD here is ranked once from the dense network's diagonal (empirical Fisher, Gauss-Newton or "
        "exact; for this ReLU network the exact diagonal equals the Gauss-Newton one, f'' being 0), without "
        "updates; magnitude is global.",
    ]
    if config["task"] != "mnist":
        out.insert(0, "--quick: the digits MLP 64-32-10 (2,410 weights, biases pruned too) stands in for the "
                      "MNIST network; a smoke test only.")
    return out
