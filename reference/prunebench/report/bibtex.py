"""The BibTeX of the suite and of every paper it reproduces or builds on, a strict parser for it, and short
citations ("LeCun, Denker & Solla (1990)")."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["BIBTEX", "SUITE_KEY", "parse_bibtex", "short_cite"]


SUITE_KEY = "prunebench2026"

BIBTEX: dict[str, str] = {
    "prunebench2026": """@software{prunebench2026,
  author = {{The prunebench contributors}},
  title = {prunebench: a reproducibility benchmark suite for second-order neural-network pruning},
  year = {2026},
  version = {0.1.0}
}""",
    "lecun1990obd": """@inproceedings{lecun1990obd,
  author = {LeCun, Yann and Denker, John S. and Solla, Sara A.},
  title = {Optimal Brain Damage},
  booktitle = {Advances in Neural Information Processing Systems 2},
  editor = {Touretzky, David S.},
  publisher = {Morgan Kaufmann},
  pages = {598--605},
  year = {1990}
}""",
    "hassibi1993obs": """@inproceedings{hassibi1993obs,
  author = {Hassibi, Babak and Stork, David G.},
  title = {Second order derivatives for network pruning: Optimal Brain Surgeon},
  booktitle = {Advances in Neural Information Processing Systems 5},
  editor = {Hanson, Stephen J. and Cowan, Jack D. and Giles, C. Lee},
  publisher = {Morgan Kaufmann},
  pages = {164--171},
  year = {1993}
}""",
    "thrun1991monks": """@techreport{thrun1991monks,
  author = {Thrun, Sebastian B. and others},
  title = {The {MONK}'s Problems: A Performance Comparison of Different Learning Algorithms},
  institution = {Carnegie Mellon University},
  number = {CMU-CS-91-197},
  year = {1991}
}""",
    "lecun1990digits": """@inproceedings{lecun1990digits,
  author = {LeCun, Yann and Boser, Bernhard and Denker, John S. and Henderson, Donnie and Howard, Richard E.
            and Hubbard, Wayne and Jackel, Lawrence D.},
  title = {Handwritten Digit Recognition with a Back-Propagation Network},
  booktitle = {Advances in Neural Information Processing Systems 2},
  editor = {Touretzky, David S.},
  publisher = {Morgan Kaufmann},
  year = {1990}
}""",
    "sejnowski1987nettalk": """@article{sejnowski1987nettalk,
  author = {Sejnowski, Terrence J. and Rosenberg, Charles R.},
  title = {Parallel Networks that Learn to Pronounce {English} Text},
  journal = {Complex Systems},
  volume = {1},
  number = {1},
  pages = {145--168},
  year = {1987}
}""",
    "singh2020woodfisher": """@inproceedings{singh2020woodfisher,
  author = {Singh, Sidak Pal and Alistarh, Dan},
  title = {{WoodFisher}: Efficient Second-Order Approximation for Neural Network Compression},
  booktitle = {Advances in Neural Information Processing Systems 33},
  year = {2020}
}""",
    "frantar2022obc": """@inproceedings{frantar2022obc,
  author = {Frantar, Elias and Singh, Sidak Pal and Alistarh, Dan},
  title = {Optimal Brain Compression: A Framework for Accurate Post-Training Quantization and Pruning},
  booktitle = {Advances in Neural Information Processing Systems 35},
  year = {2022}
}""",
}
"""BibTeX entries keyed by citation key: the suite itself and every paper it reproduces or builds on.
``Experiment.paper`` names one of these keys; fields we could not confirm (some page ranges) are left out."""


def _papers(record: Mapping) -> list[str]:
    paper = record["results"].get("paper")
    keys = [paper] if isinstance(paper, str) else list(paper or [])
    unknown = [k for k in keys if k not in BIBTEX]
    if unknown:
        raise ValueError(f"record {record['kind']} cites {unknown}, not in prunebench.report.BIBTEX (known: "
                         f"{sorted(BIBTEX)}); add the entry to BIBTEX or fix the experiment's `paper`")
    return keys


def _bibtex_block(record: Mapping) -> str:
    return "\n\n".join(BIBTEX[k] for k in [*_papers(record), SUITE_KEY])


def parse_bibtex(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """``[(entry type, key, {field: value})]`` for every ``@type{key, field = {value}, ...}`` in ``text``.

    Strict enough to catch hand-editing mistakes: raises ValueError on unbalanced braces, a missing key, a
    field without a value, or a repeated field."""
    entries = []
    pos = 0
    while (at := text.find("@", pos)) != -1:
        head = re.compile(r"@(\w+)\s*\{\s*([^,\s{}]+)\s*,").match(text, at)
        if head is None:
            raise ValueError(f"a BibTeX entry must start as @type{{key, ...; got {text[at:at + 40]!r}")
        depth, i = 1, head.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth:
            raise ValueError(f"unbalanced braces in BibTeX entry {head.group(2)!r}: {depth} left open")
        body, fields = text[head.end():i - 1], {}
        for match in re.finditer(r"\s*(\w[\w-]*)\s*=\s*", body):
            name = match.group(1).lower()
            if body[:match.start()].count("{") != body[:match.start()].count("}"):
                continue
            value, _ = _bibtex_value(body, match.end(), head.group(2), name)
            if name in fields:
                raise ValueError(f"BibTeX entry {head.group(2)!r} repeats the field {name!r}")
            fields[name] = " ".join(value.split())
        entries.append((head.group(1).lower(), head.group(2), fields))
        pos = i
    return entries


def _bibtex_value(body: str, start: int, key: str, name: str) -> tuple[str, int]:
    if body[start:start + 1] == '"':
        end = body.index('"', start + 1)
        return body[start + 1:end], end + 1
    if body[start:start + 1] != "{":
        bare = re.compile(r"[\w.-]+").match(body, start)
        if bare is None:
            raise ValueError(f"field {name!r} of BibTeX entry {key!r} needs a value in braces; got "
                             f"{body[start:start + 20]!r}")
        return bare.group(), bare.end()
    depth, j = 0, start
    while True:
        depth += {"{": 1, "}": -1}.get(body[j], 0)
        j += 1
        if depth == 0:
            return body[start + 1:j - 1], j


def short_cite(key: str) -> str:
    """``"LeCun, Denker & Solla (1990)"`` for a :data:`BIBTEX` key (``et al.`` beyond three authors)."""
    [(_, _, fields)] = parse_bibtex(BIBTEX[key])
    names = [a.strip() for a in fields["author"].split(" and ")]
    family = [n.split(",")[0].strip().strip("{}") for n in names if n != "others"]
    if len(family) > 3 or "others" in names:
        who = f"{family[0]} et al."
    elif len(family) == 1:
        who = family[0]
    else:
        who = ", ".join(family[:-1]) + f" & {family[-1]}"
    return f"{who} ({fields['year']})"
