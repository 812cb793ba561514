"""``prunebench report``: regenerate, or ``--check``, the reproduced tables, figures and README sections."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._validation import output_file, output_folder
from .output import write
from .staleness import check

__all__ = ["register_cli"]


def _cmd_report(args: argparse.Namespace) -> int:
    results = Path(args.results)
    out = Path(args.out) if args.out else results
    readme = None if args.no_readme else Path(args.readme)
    if readme is not None and not readme.exists():
        if args.readme != "README.md":
            raise FileNotFoundError(f"--readme {args.readme} not found; pass an existing file or --no-readme")
        readme = None
    if args.check:
        stale = check(results, out, readme)
        if stale:
            print(f"{len(stale)} problem(s) (regenerate stale outputs with `prunebench report --results {results} "
                  f"--out {out}`, and records from a clean commit with the command in their provenance):\n"
                  + "\n".join(f"  {s}" for s in stale), file=sys.stderr)
            return 1
        print(f"up to date: every table under {out}" + (f" and the sections of {readme}" if readme else ""))
        return 0
    output_folder(out, "--out")
    if readme is not None:
        output_file(readme, "--readme")
    written = write(results, out, readme, figures=not args.no_figures)
    print(f"wrote {len(written)} files under {out}" + (f" and the sections of {readme}" if readme else ""))
    return 0


def register_cli(subparsers) -> None:
    """Add ``prunebench report``."""
    p = subparsers.add_parser(
        "report", help="regenerate reproduced tables and figures from the result records",
        description="Regenerate every reproduced table (Markdown, LaTeX, CSV) and figure (PNG, SVG) from the "
                    "records DIR/<experiment>/record.json, plus the index <out>/README.md and the README "
                    "sections; --check only reports what is stale.")
    p.add_argument("--results", default="results", metavar="DIR",
                   help="folder of <experiment>/record.json (default results)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: the --results folder)")
    p.add_argument("--readme", default="README.md", metavar="FILE",
                   help="README whose 'Reproduced results' and 'How to cite' sections to regenerate "
                        "(default README.md, skipped when absent)")
    p.add_argument("--no-readme", action="store_true", help="leave the README alone")
    p.add_argument("--no-figures", action="store_true", help="tables only (faster)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 naming every stale table, figure or README section and every "
                        "record made from a dirty source or with stale units")
    p.set_defaults(func=_cmd_report)
