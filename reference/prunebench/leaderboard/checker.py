"""Checking the leaderboard: every entry valid and self-consistent, under the protocol, made from clean code, the
rendering current, and a cheap subset re-run within :data:`~prunebench.leaderboard.protocol.TOLERANCE`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import records
from .._validation import task_name
from .protocol import CHEAP_TASKS, CHECK_SPARSITY, PROTOCOL, SPARSITIES, TASKS, THREADS, TOLERANCE, auc, seeds_needed
from .renderer import markdown, readme_block, replace_block
from .runner import run_seed
from .schema import METRICS, LeaderboardError, aggregate, read_entry

__all__ = ["RerunSkipped", "check"]


def _consistency(entry: Mapping) -> list[str]:
    """Problems inside one entry: per-seed rows that disagree with the config, and stored aggregates or AUCs that
    are not what the per-seed numbers give."""
    where = f"{entry['task']}/{entry['entry']}"
    problems = []
    sparsities = entry["config"]["sparsities"]
    seeds = [row["seed"] for row in entry["per_seed"]]
    if seeds != entry["config"]["seeds"]:
        problems.append(f"{where}: per-seed rows are for seeds {seeds}, config says {entry['config']['seeds']}")
    for row in entry["per_seed"]:
        for regime in ("one_shot", "retrained"):
            if [r["sparsity"] for r in row[regime]] != sparsities:
                problems.append(f"{where}: seed {row['seed']} {regime} sparsities differ from {sparsities}")
    if problems:
        return problems
    for row in entry["per_seed"]:
        for regime in ("one_shot", "retrained"):
            value = auc(sparsities, [r["test_accuracy"] for r in row[regime]], row["dense"]["test_accuracy"])
            if not math.isclose(value, row["auc"][regime], rel_tol=1e-12, abs_tol=1e-12):
                problems.append(f"{where}: seed {row['seed']} stores {regime} AUC {row['auc'][regime]!r}; its "
                                f"accuracies give {value!r}")
    expected = aggregate(entry["per_seed"])
    for path, stored, fresh in _diff_numbers(entry["aggregate"], expected):
        problems.append(f"{where}: aggregate/{path} is {stored!r} but the per-seed numbers give {fresh!r}; "
                        "aggregates are never edited by hand")
    return problems


def _diff_numbers(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b)):
            yield from _diff_numbers(a.get(key), b.get(key), f"{path}/{key}" if path else str(key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _diff_numbers(x, y, f"{path}/{i}")
    elif isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            yield path, a, b
    elif a != b:
        yield path, a, b


def _conformance(entry: Mapping) -> list[str]:
    """Where an entry departs from the protocol (fine for trials with ``--allow-partial``, not for the board)."""
    where = f"{entry['task']}/{entry['entry']}"
    config = entry["config"]
    problems = []
    if entry["protocol"] != PROTOCOL:
        problems.append(f"{where}: made under protocol {entry['protocol']!r}, the current one is {PROTOCOL!r}; "
                        "re-run it")
    if entry["task"] not in TASKS:
        problems.append(f"{where}: task {entry['task']!r} is not a protocol task {list(TASKS)}")
    if [float(s) for s in config["sparsities"]] != list(SPARSITIES):
        problems.append(f"{where}: sparsities {config['sparsities']} differ from the protocol's {list(SPARSITIES)}")
    if len(config["seeds"]) < seeds_needed(entry["task"]):
        problems.append(f"{where}: {len(config['seeds'])} seed(s); the protocol needs at least "
                        f"{seeds_needed(entry['task'])}")
    if config["threads"] != THREADS or not config["include_bias"]:
        problems.append(f"{where}: threads={config['threads']}, include_bias={config['include_bias']}; the "
                        f"protocol fixes threads={THREADS}, include_bias=True")
    return problems


def _shared_dense(entries: Sequence[Mapping]) -> list[str]:
    """Every entry of a task must start from the same dense model per seed (same dense test loss)."""
    seen: dict[tuple[str, int], tuple[str, float]] = {}
    problems = []
    for entry in entries:
        for row in entry["per_seed"]:
            key = (entry["task"], row["seed"])
            loss = row["dense"]["test_loss"]
            if key in seen and not math.isclose(seen[key][1], loss, rel_tol=TOLERANCE["loss_rtol"]):
                problems.append(f"{entry['task']}/{entry['entry']}: seed {row['seed']} starts from a dense model with "
                                f"test loss {loss!r}, {seen[key][0]} from {seen[key][1]!r}; entries of a task must "
                                "share the dense models (re-run the older entry)")
            seen.setdefault(key, (entry["entry"], loss))
    return problems


def _close_loss(a: float, b: float, rtol: float) -> bool:
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-15)


def _rerun(entry: Mapping, root, rtol: float) -> list[str]:
    """Re-run the first seed of ``entry`` at :data:`CHECK_SPARSITY` and compare with the stored numbers."""
    where = f"{entry['task']}/{entry['entry']}"
    sparsities = entry["config"]["sparsities"]
    s = CHECK_SPARSITY if CHECK_SPARSITY in sparsities else sparsities[-1]
    i = sparsities.index(s)
    stored = entry["per_seed"][0]
    from .. import methods, prune

    # A method with a deletion path ends its groups at every sparsity on the way: re-run the same stops.
    path = prune.has_path(methods.get(entry["method"]["name"], **entry["method"]["params"]))
    fresh = run_seed(entry["task"], entry["method"]["name"], entry["method"]["params"], stored["seed"],
                     sparsities=sparsities[: i + 1] if path else [s], root=root, device=entry["config"]["device"],
                     measure_cost=False)
    j = i if path else 0
    n_test = entry.get("task_info", {}).get("n_test")
    acc_tol = TOLERANCE["accuracy_examples"] / n_test if n_test else 0.0
    problems = []
    pairs = [("dense", stored["dense"], fresh["dense"]),
             (f"one-shot @{s}", stored["one_shot"][i], fresh["one_shot"][j]),
             (f"retrained @{s}", stored["retrained"][i], fresh["retrained"][j])]
    for label, old, new in pairs:
        for metric in METRICS:
            a, b = old[metric], new[metric]
            ok = (_close_loss(a, b, rtol) if metric.endswith("loss")
                  else abs(a - b) <= acc_tol + 1e-12)
            if not ok:
                tol = f"rtol {rtol:g}" if metric.endswith("loss") else f"{TOLERANCE['accuracy_examples']} example(s)"
                problems.append(f"{where}: seed {stored['seed']} {label} {metric} is {b!r} on re-run, the entry "
                                f"stores {a!r} (tolerance {tol})")
    return problems


def check(directory: str | Path = "leaderboard", readme: str | Path | None = "README.md", *,
          tasks: Sequence[str] | None = None, entries: Sequence[str] | None = None, rerun: str = "cheap",
          allow_partial: bool = False, root=None, rtol: float = TOLERANCE["loss_rtol"],
          progress: bool = False, provenance: bool = True) -> list[str]:
    """Every problem with the leaderboard in ``directory``, as one line each (empty: all good).

    1. each entry follows the schema and sits at ``entries/<task>/<entry>.json``;
    2. its AUCs and aggregates are what its per-seed numbers give;
    3. unless ``allow_partial``, it follows the protocol (version, sparsities, seeds, threads);
    4. entries of a task share the dense model of each seed; when ``provenance``, each was made from a clean
       commit with every unit computed by that code (:func:`prunebench.records.provenance_problems`);
    5. ``LEADERBOARD.md`` and the README block are what :func:`render` writes now, and the figures exist;
    6. ``rerun="cheap"`` re-runs the first seed at :data:`CHECK_SPARSITY` of each entry on :data:`CHEAP_TASKS`
       (``"all"``: on every task; ``"none"``: skip), restricted to ``tasks`` and ``entries`` when given, and
       compares within :data:`TOLERANCE` (``rtol`` for losses); entries made on another CPU model are not
       re-run (one :class:`RerunSkipped` warning says which).
    """
    if rerun not in ("none", "cheap", "all"):
        raise ValueError(f"rerun must be one of ['none', 'cheap', 'all']; got {rerun!r}")
    tasks = None if tasks is None else [task_name(t) for t in tasks]
    directory = Path(directory)
    problems: list[str] = []
    loaded = []
    for path in sorted((directory / "entries").glob("*/*.json")):
        try:
            entry = read_entry(path)
        except LeaderboardError as exc:
            problems.append(str(exc))
            continue
        problems += _consistency(entry)
        if provenance:
            problems += records.provenance_problems(entry["provenance"], f"{entry['task']}/{entry['entry']}")
        if not allow_partial:
            problems += _conformance(entry)
        loaded.append(entry)
    problems += _shared_dense(loaded)
    page = directory / "LEADERBOARD.md"
    if not page.is_file() or page.read_text() != markdown(loaded):
        problems.append(f"{page} is stale or missing; run `prunebench leaderboard render`")
    if loaded:
        missing = [f"figures/{task}.{fmt}" for task in sorted({e["task"] for e in loaded}) for fmt in ("png", "svg")
                   if not (directory / "figures" / f"{task}.{fmt}").is_file()]
        if missing:
            problems.append(f"{directory}: figures {missing} are missing; run `prunebench leaderboard render`")
    if readme is not None:
        text = Path(readme).read_text()
        if replace_block(text, readme_block(loaded)) != text:
            problems.append(f"the leaderboard block of {readme} is stale or missing; run `prunebench leaderboard "
                            "render`")
    if rerun != "none":
        chosen = [e for e in loaded if (rerun == "all" or e["task"] in CHEAP_TASKS)
                  and (not tasks or e["task"] in tasks) and (not entries or e["entry"] in entries)]
        problems += _rerun_all(chosen, root, rtol, progress)
    return problems


class RerunSkipped(UserWarning):
    """Entries not re-run by :func:`check`: they were made on another CPU model."""


def _rerun_all(chosen: Sequence[Mapping], root, rtol: float, progress: bool) -> list[str]:
    """Re-run ``chosen`` and compare (:func:`_rerun`); entries made on another CPU model are left out with one
    :class:`RerunSkipped` warning: floating-point results are not portable across CPU models (their kernels
    round differently), and training amplifies the first difference, so such a re-run cannot reproduce the
    stored numbers within :data:`TOLERANCE` and would not say anything about the entry."""
    from tqdm.auto import tqdm

    from ..methods import registry

    here = records.cpu_name()
    elsewhere = sorted({e["provenance"].get("cpu") for e in chosen} - {here, None})
    if elsewhere:
        skipped = [e for e in chosen if e["provenance"].get("cpu") in elsewhere]
        chosen = [e for e in chosen if e["provenance"].get("cpu") not in elsewhere]
        warnings.warn(f"{len(skipped)} entries not re-run: they were made on {', '.join(elsewhere)} and this machine "
                      f"is {here}; floating-point results are not portable across CPU models. Re-run the check "
                      "on such a machine, or regenerate the entries here.", RerunSkipped, stacklevel=3)
    problems = []
    for entry in tqdm(chosen, desc="re-running", unit="entry", disable=not progress):
        name = entry["method"]["name"]
        if name not in registry.available():
            dist = entry["method"]["distribution"]
            problems.append(f"{entry['task']}/{entry['entry']}: method {name!r} is not installed; "
                            f"`pip install {dist['name']}=={dist['version']}` provides it")
            continue
        problems += _rerun(entry, root, rtol)
    return problems
