"""One colour per method, dashes per variant (:mod:`prunebench.report.palette`)."""

from prunebench import report
from prunebench.report import palette


def test_method_colors_are_fixed_and_fallbacks_deterministic():
    assert report.method_color("obd") == report.METHOD_COLORS["obd"]
    assert report.method_color("OBS") == report.METHOD_COLORS["obs"]
    assert len(set(report.METHOD_COLORS.values())) == len(report.METHOD_COLORS)
    assert report.method_color("my-method") == report.method_color("my-method")
    assert report.method_color("my-method") not in report.METHOD_COLORS.values()
    for variant in ("obs+retrain", "obs + retraining", "OBS (exact)", "obs, alpha=1e-8"):
        assert report.method_color(variant) == report.METHOD_COLORS["obs"], variant
    assert report.method_color("obd-lecun-lm + retraining") == report.METHOD_COLORS["obd-lecun-lm"]
    assert report.method_color("obs-fisher") != report.method_color("obs")
    dashes = palette._dashes(["obs", "obs+retrain", "obd+retrain", "obd (exact)", "actual"])
    assert dashes["obs"] == dashes["actual"] == "" and dashes["obs+retrain"] == dashes["obd+retrain"] != ""
    assert dashes["obd (exact)"] not in ("", dashes["obs+retrain"])
    names = [f"series {i}" for i in range(12)]
    assert len(set(palette._palette(names).values())) == len(names)  # no two unknown series share a colour
