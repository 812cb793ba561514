"""``prunebench bench-report``: what each curvature method costs, as a ratio to one gradient and to BackPACK.

Every number comes from one process and one run, so a method and its peers are measured on the same machine
under the same load (asv, in ``benchmarks/``, tracks the same kernels across commits; this report compares
them with each other). What is measured and how: :mod:`prunebench.report.bench`; the ratios, targets and
tables: :mod:`prunebench.report.bench_tables`; the figures: :mod:`prunebench.report.bench_figures`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .. import records
from .._validation import output_folder
from .bench import (
    CLOCKS,
    DEFAULT_MODELS,
    DENSE_LIMIT,
    HEAVY,
    HEAVY_ZOO,
    HUTCHINSON_PROBES,
    RATE_SIZE,
    ZOO_MODELS,
    measure_rate,
    run,
)
from .bench_figures import plot, plot_zoo
from .bench_tables import check_targets, markdown, ratio_rows, zoo_targets

__all__ = ["register_cli", "write"]


def write(out: str | Path, rows: list[dict], rate: dict | None, config: dict, wall_time: float,
          device: str, dtype: str, notes: Sequence[str] = ()) -> dict[str, Path]:
    """Write ``bench-report.md`` (tables), ``bench-report.json`` (a record with provenance),
    ``bench-cost.{png,svg}`` and, for the zoo, ``bench-zoo.{png,svg}`` (:func:`plot_zoo`) to ``out``; returns the
    paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    zoo = bool(config.get("zoo"))
    targets = zoo_targets(rows) if zoo else check_targets(rows, rate)
    prov = records.provenance(device=device, dtype=dtype, seeds=[0], wall_time=wall_time)
    record = records.make_record("bench-report", config, {"rows": ratio_rows(rows), "rate": rate,
                                                          "targets": targets, "notes": list(notes)}, prov)
    paths = {"json": records.atomic_write_json(out / "bench-report.json", record)}
    text = markdown(rows, rate, targets, prov, notes, config.get("clock", "wall"), zoo)
    paths["md"] = out / "bench-report.md"
    paths["md"].write_text(text)
    figures = [("bench-cost", plot(rows)[0])] + ([("bench-zoo", plot_zoo(rows)[0])] if zoo else [])
    for stem, fig in figures:
        for fmt in ("png", "svg"):
            key = fmt if stem == "bench-cost" else f"{stem}-{fmt}"
            paths[key] = out / f"{stem}.{fmt}"
            fig.savefig(paths[key], format=fmt, dpi=150 if fmt == "png" else None,
                        metadata={"Software": None} if fmt == "png" else {"Date": None, "Creator": None})
    return paths


def _cmd(args: argparse.Namespace) -> int:
    import torch

    from ..models import MODELS

    if args.zoo:  # the zoo's workload, unless given explicitly
        args.models = args.models or list(ZOO_MODELS)
        args.batch = args.batch or 256
        args.out = args.out or "results/bench-zoo"
        args.inverse_size = 0
    args.models = args.models or list(DEFAULT_MODELS)
    args.batch = args.batch or 128
    args.out = args.out or "results/bench"
    output_folder(args.out, "--out")
    records.require_clean(records.git_state([args.out]), args.allow_dirty)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        raise ValueError(f"models must be names from `prunebench models`; got {unknown}")
    if args.dtype not in ("float32", "float64"):
        raise ValueError(f"--dtype must be float32 or float64; got {args.dtype!r}")
    if args.clock not in CLOCKS:
        raise ValueError(f"--clock must be one of {sorted(CLOCKS)}; got {args.clock!r}")
    if args.clock == "cpu" and args.device.startswith("cuda"):
        raise ValueError("--clock cpu measures CPU time, which misses GPU work; use --clock wall with "
                         "--device cuda")
    if args.threads < 1:
        raise ValueError(f"--threads must be a positive integer; got {args.threads}")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _measure_and_write(args)
    finally:
        torch.set_num_threads(threads)


def _measure_and_write(args: argparse.Namespace) -> int:
    import torch

    start = time.perf_counter()

    def progress(message: str) -> None:
        print(f"  measuring {message}", file=sys.stderr, flush=True)

    load_before = os.getloadavg()
    rows = run(args.models, batch=args.batch, dtype=args.dtype, device=args.device, repeats=args.repeats,
               min_time=args.min_time, budget=args.budget, peers=not args.no_peers, heavy=args.heavy,
               clock=args.clock, zoo=args.zoo, loss="ce" if args.zoo else "task",
               progress=None if args.quiet else progress)
    rate = None if args.inverse_size == 0 else measure_rate(args.inverse_size, device=args.device,
                                                             clock=args.clock)
    load_after = os.getloadavg()
    config = {"models": list(args.models), "batch": args.batch, "dtype": args.dtype, "device": args.device,
              "repeats": args.repeats, "min_time": args.min_time, "budget": args.budget,
              "peers": not args.no_peers, "heavy": args.heavy, "clock": args.clock,
              "inverse_size": args.inverse_size, "zoo": args.zoo, "loss": "ce" if args.zoo else "task",
              "threads": torch.get_num_threads(), "hutchinson_probes": HUTCHINSON_PROBES}
    heavy = {**HEAVY, **HEAVY_ZOO} if args.zoo else HEAVY
    notes = [] if args.heavy else [f"Not measured (pass --heavy): {why}." for why in heavy.values()]
    if args.zoo:
        notes.append(f"curvlinops and torch.func take P Hessian-vector products per diagonal: measured only on "
                     f"models with P <= {DENSE_LIMIT}.")
    notes.append(f"Machine load (1-minute average, {os.cpu_count()} cores) {load_before[0]:.1f} at the start, "
                 f"{load_after[0]:.1f} at the end of the measurements.")
    paths = write(args.out, rows, rate, config, time.perf_counter() - start, args.device, args.dtype, notes)
    print(paths["md"].read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def register_cli(subparsers) -> None:
    """Add ``bench-report`` to the ``prunebench`` command line."""
    p = subparsers.add_parser(
        "bench-report", help="measure each curvature method's time and memory as ratios to one gradient and "
                             "to BackPACK; write a Markdown table, a cost-vs-size plot and a record")
    p.add_argument("--out", default=None,
                   help="output folder (default: results/bench, with --zoo results/bench-zoo)")
    p.add_argument("--allow-dirty", action="store_true",
                   help="write the record although tracked source files differ from the commit (marked dirty)")
    p.add_argument("--models", nargs="+", default=None,
                   help=f"model names (`prunebench models`; default {' '.join(DEFAULT_MODELS)}, with --zoo the "
                        "zoo)")
    p.add_argument("--batch", type=int, default=None, help="samples per batch (default 128, with --zoo 256)")
    p.add_argument("--zoo", action="store_true",
                   help="the benchmark zoo: its models, batch 256, cross-entropy for every model, the native "
                        "diagonals with BackPACK and curvlinops beside, FLOP counts, the zoo's targets; no "
                        "inverses")
    p.add_argument("--dtype", default="float32", help="float32 (default) or float64, for the diagonals")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: ratios do not depend on other jobs sharing the cores)")
    p.add_argument("--clock", default="wall",
                   help="wall (default: elapsed time) or cpu (process CPU time: not inflated when other jobs "
                        "preempt this one on a shared machine; CPU only, use with --threads 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per case; the minimum is kept")
    p.add_argument("--min-time", type=float, default=0.05, help="seconds per repeat at least (default 0.05)")
    p.add_argument("--budget", type=float, default=5.0,
                   help="a call slower than this many seconds is timed from two calls only (default 5)")
    p.add_argument("--inverse-size", type=int, default=RATE_SIZE,
                   help=f"P of the dense-inverse rate check (default {RATE_SIZE}; 0 skips it)")
    p.add_argument("--no-peers", action="store_true",
                   help="native methods only (no BackPACK, curvlinops or torch.func)")
    p.add_argument("--heavy", action="store_true",
                   help="also measure the cases of bench_report.HEAVY (BackPACK's DiagHessian on lenet-usps: "
                        "minutes and about 10 GB per call)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd)
