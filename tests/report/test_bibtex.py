"""The BibTeX entries, their parser and the short citations (:mod:`prunebench.report.bibtex`)."""

import pytest

from prunebench import report


def test_every_bibtex_entry_parses_with_its_key_and_required_fields():
    required = {"inproceedings": {"author", "title", "booktitle", "year"},
                "article": {"author", "title", "journal", "year"},
                "techreport": {"author", "title", "institution", "year"},
                "software": {"author", "title", "year"}}
    for key, entry in report.BIBTEX.items():
        [(kind, parsed_key, fields)] = report.parse_bibtex(entry)
        assert parsed_key == key
        assert required[kind] <= set(fields), f"{key} lacks {required[kind] - set(fields)}"
    assert report.short_cite("lecun1990obd") == "LeCun, Denker & Solla (1990)"
    assert report.short_cite("lecun1990digits") == "LeCun et al. (1990)"
    assert report.short_cite("thrun1991monks") == "Thrun et al. (1991)"


@pytest.mark.parametrize(("text", "match"), [
    ("@article{k, title = {a {b}", r"unbalanced braces in BibTeX entry 'k': 2 left open"),
    ("@article{, title = {a}}", r"a BibTeX entry must start as @type\{key, ..."),
    ("@article{k, title = {a}, title = {b}}", r"BibTeX entry 'k' repeats the field 'title'"),
], ids=["unbalanced", "no-key", "repeated-field"])
def test_bibtex_parser_catches_mistakes(text, match):
    with pytest.raises(ValueError, match=match):
        report.parse_bibtex(text)
