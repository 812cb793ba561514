"""Figures from the curves of a record, byte-identical between runs (:mod:`prunebench.report.figures`)."""

import pytest

from prunebench import report
from report_cases import toy_curves, toy_record


def test_figure_renders_png_and_svg_identically_twice():
    record = toy_record()
    spec, curves = record["results"]["figures"][0], record["results"]["curves"]
    fig, axes = report.plot_figure(spec, curves)
    assert len(axes) == 2 and [ax.get_title() for ax in axes] == ["train", "test"]
    [legend] = fig.legends
    entries = list(zip((t.get_text() for t in legend.get_texts()), legend.get_lines(), strict=True))
    assert {name: line.get_color() for name, line in entries} == {
        "obd": report.METHOD_COLORS["obd"], "magnitude": report.METHOD_COLORS["magnitude"],
        "obd+retrain": report.METHOD_COLORS["obd"], "custom curve": report.method_color("custom curve")}
    styles = {name: line.get_linestyle() for name, line in entries}
    assert styles["obd"] == "-" and styles["obd+retrain"] != "-"
    first = report.render_figure(spec, curves)
    assert first["png"].startswith(b"\x89PNG\r\n\x1a\n") and b"<svg" in first["svg"]
    assert b"Date" not in first["svg"] and b"Matplotlib v" not in first["svg"]
    assert report.render_figure(spec, curves) == first


def test_figure_errors_name_the_figure():
    spec = {"id": "f9", "panels": ["a"]}
    with pytest.raises(ValueError, match=r"figure 'f9' has no curves"):
        report.plot_figure(spec, toy_curves())
    with pytest.raises(ValueError, match=r"figure 'f1' lists panel 'nope', but no curve row has that panel"):
        report.plot_figure({"id": "f1", "panels": ["nope"]}, toy_curves())
