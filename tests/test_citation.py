"""CITATION.cff is valid Citation File Format 1.2.0, and the README's BibTeX entries are well formed.

The validation uses the CFF 1.2.0 JSON schema (tests/fixtures/cff-1.2.0.schema.json, the file `cffconvert
--validate` itself uses) with the installed jsonschema: cffconvert 2.0.0 needs jsonschema<4, which conflicts
with the project's pin. When a `cffconvert` executable is on the PATH, it is run as well.
"""

import datetime
import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from prunebench import report

REPO = Path(__file__).resolve().parents[1]
SCHEMA = Path(__file__).parent / "fixtures" / "cff-1.2.0.schema.json"

REQUIRED = {"software": {"author", "title", "year"},
            "inproceedings": {"author", "title", "booktitle", "year"},
            "article": {"author", "title", "journal", "year"},
            "techreport": {"author", "title", "institution", "year"}}


def _as_json(value):
    """YAML dates (unquoted ``2026-11-21``) as the ISO strings the CFF schema expects."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _schema_errors(document: dict) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [f"at {'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}"
            for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))]


@pytest.fixture(scope="module")
def citation() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read CITATION.cff (it comes with dask)")
    return _as_json(yaml.safe_load((REPO / "CITATION.cff").read_text()))


def test_citation_cff_follows_the_cff_1_2_0_schema(citation):
    errors = _schema_errors(citation)
    assert not errors, "CITATION.cff is not valid CFF 1.2.0:\n" + "\n".join(errors)
    assert citation["cff-version"] == "1.2.0"


def test_the_schema_check_catches_mistakes(citation):
    broken = {**citation, "authors": [], "date-released": "21 Nov 2026"}
    broken["references"] = [{**citation["references"][0], "type": "paper"}]
    errors = "\n".join(_schema_errors(broken))
    assert "at authors: [] should be non-empty" in errors
    assert "at date-released:" in errors and "at references/0/type:" in errors


def test_citation_cff_agrees_with_the_package_and_bibtex(citation):
    pyproject = (REPO / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)
    assert str(citation["version"]) == version
    [(_, _, suite)] = report.parse_bibtex(report.BIBTEX[report.SUITE_KEY])
    assert suite["title"] == citation["title"] and suite["version"] == version
    titles = {re.sub(r"[{}]", "", fields["title"]).lower()
              for entry in report.BIBTEX.values() for _, _, fields in report.parse_bibtex(entry)}
    missing = [ref["title"] for ref in citation["references"] if ref["title"].lower() not in titles]
    assert not missing, f"CITATION.cff references without an entry in prunebench.report.BIBTEX: {missing}"


@pytest.mark.skipif(shutil.which("cffconvert") is None,
                    reason="no cffconvert executable (cffconvert 2.0.0 conflicts with the jsonschema pin; "
                           "the schema test above does the same validation)")
def test_cffconvert_validates():
    subprocess.run(["cffconvert", "--validate", "-i", str(REPO / "CITATION.cff")], check=True, timeout=120)


def _readme_bibtex() -> str:
    text = (REPO / "README.md").read_text()
    begin, end = text.find(report.CITE_BEGIN), text.find(report.CITE_END)
    assert begin != -1 and end > begin, f"README.md has no {report.CITE_BEGIN} ... {report.CITE_END} section"
    return "\n".join(re.findall(r"```bibtex\n(.*?)```", text[begin:end], re.S))


def test_readme_how_to_cite_bibtex_parses_with_required_fields():
    entries = report.parse_bibtex(_readme_bibtex())
    keys = [key for _, key, _ in entries]
    assert sorted(keys) == sorted(report.BIBTEX), "README 'How to cite' is stale: run `prunebench report`"
    assert len(set(keys)) == len(keys)
    for kind, key, fields in entries:
        assert kind in REQUIRED, f"{key}: unexpected entry type @{kind}"
        assert REQUIRED[kind] <= set(fields), f"{key} lacks {sorted(REQUIRED[kind] - set(fields))}"
        assert re.fullmatch(r"\d{4}", fields["year"]), f"{key}: year {fields['year']!r} is not a 4-digit year"
        if "pages" in fields:
            assert re.fullmatch(r"\d+--\d+", fields["pages"]), f"{key}: pages must be like 598--605"
