"""``prunebench methods``: every registered method (built in and plug-in) with its flags and citation."""

from __future__ import annotations

import argparse
import json

from . import registry

__all__ = ["add_arguments", "register_cli", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``prunebench methods``."""
    parser.add_argument("--json", action="store_true", help="print the listing as JSON")


def run(args: argparse.Namespace) -> int:
    """Print one block per method: name, class, flags, defaults and citation."""
    rows = [registry.describe(name) for name in registry.available()]
    if args.json:
        print(json.dumps(rows, indent=1, default=repr))
        return 0
    for row in rows:
        defaults = ", ".join(f"{k}={v!r}" for k, v in row["defaults"].items()) or "no parameters"
        print(f"{row['name']:12s} {row['summary']}")
        print(f"{'':12s} curvature={row['curvature']!s} moves_weights={row['moves_weights']} ({defaults})")
        print(f"{'':12s} {row['citation']}  [{row['class']}]")
    return 0


def register_cli(subparsers) -> None:
    """Add ``methods`` to the ``prunebench`` command line."""
    p = subparsers.add_parser("methods", help="list the pruning methods (built in and plug-ins) with flags")
    add_arguments(p)
    p.set_defaults(func=run)
