"""The protocol: presets, the AUC metric, resolving --method values into entries."""

import pytest

from prunebench import leaderboard as lb


def test_presets_cover_every_obd_curvature_and_obs_hessian():
    from prunebench import methods
    from prunebench.methods.hassibi1993obs import HESSIANS
    from prunebench.methods.lecun1989obd import CURVATURES

    assert {p["curvature"] for m, p in lb.PRESETS.values() if m == "obd"} == set(CURVATURES)
    assert {p["hessian"] for m, p in lb.PRESETS.values() if m == "obs"} == set(HESSIANS)
    assert {p.get("scope") for m, p in lb.PRESETS.values() if m == "magnitude"} == {"global", "layer"}
    for method, params in lb.PRESETS.values():
        methods.get(method, **params)


def test_auc_is_the_normalised_trapezoid():
    expected = (0.5 * (1.0 + 0.8) / 2 + 0.4 * (0.8 + 0.4) / 2) / 0.9
    assert lb.auc([0.5, 0.9], [0.8, 0.4], 1.0) == pytest.approx(expected, rel=1e-15)
    with pytest.raises(ValueError, match=r"sparsities must increase from above 0 and match the accuracies"):
        lb.auc([0.9, 0.5], [0.8, 0.4], 1.0)


def test_resolve_methods():
    assert lb.resolve_methods(None)[0] == ("random", "random", {})
    assert lb.resolve_methods(["obd"], ["curvature=ggn"]) == [("obd-ggn", "obd", {"curvature": "ggn"})]
    assert lb.resolve_methods(["obs-recursion"], ["alpha=1e-4"], "obs-a4") == [
        ("obs-a4", "obs", {"hessian": "recursion", "alpha": 1e-4})]
    with pytest.raises(ValueError, match=r"--method must be a leaderboard preset .* got 'nope'\. Install the plug-in"):
        lb.resolve_methods(["nope"])
    with pytest.raises(ValueError, match=r"--param must look like KEY=VALUE .*; got 'curvature'"):
        lb.resolve_methods(["obd"], ["curvature"])
    with pytest.raises(ValueError, match=r"--param and --name need exactly one --method; got 2"):
        lb.resolve_methods(["obd", "obs"], ["alpha=1"])
    with pytest.raises(ValueError, match=r"--name must be lower-case letters.*; got 'Bad Name'"):
        lb.resolve_methods(["obd"], name="Bad Name")
