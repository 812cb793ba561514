"""prunebench.methods.registry: the registry and plug-ins, parameter validation, and the conformance check
on every registered method."""

import doctest
import importlib.metadata
import sys
import textwrap

import pytest
import torch

from prunebench import methods
from prunebench.methods import Magnitude, PruningMethod, registry
from prunebench.models import effective_params
from prunebench.testing import check_method

BUILTINS = {"random", "magnitude", "obd", "obs"}


@pytest.fixture
def clean_registry():
    """Restore the registry (and the plug-ins-loaded flag) after a test that changes it."""
    saved, loaded = dict(registry._METHODS), registry._PLUGINS_LOADED
    yield registry
    registry._METHODS.clear()
    registry._METHODS.update(saved)
    registry._PLUGINS_LOADED = loaded


class Snip(PruningMethod):
    """|w * dE/dw| (a plug-in-style method used by these tests)."""

    curvature = "gradient"
    citation = "Lee, Ajanthan & Torr (2019), SNIP, ICLR"

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        params = effective_params(model)
        grads = torch.autograd.grad(loss_fn(model(inputs), targets), list(params.values()))
        mask = methods.model_mask(model) if mask is None else mask
        return {n: (p.detach() * g).abs() * mask[n] for (n, p), g in zip(params.items(), grads, strict=True)}


def test_builtin_methods_are_registered():
    assert BUILTINS <= set(methods.available())
    for name in BUILTINS:
        info = methods.describe(name)
        assert info["citation"] and isinstance(info["moves_weights"], bool)
    assert methods.describe("obs")["moves_weights"] is True
    assert methods.describe("obd")["curvature"] == "diag"


def test_register_refuses_a_silent_overwrite(clean_registry):
    with pytest.raises(ValueError, match=r"named 'magnitude' is already registered .*pass overwrite=True"):
        methods.register("magnitude", Snip)
    assert methods.get_class("magnitude") is Magnitude
    methods.register("magnitude", Snip, overwrite=True)
    assert methods.get_class("magnitude") is Snip


def test_registering_the_same_class_twice_is_harmless(clean_registry):
    methods.register("snip", Snip)
    methods.register("snip", Snip)
    assert methods.get("snip").params == {}


class _NoCitation(Snip):
    citation = ""


class _BadCurvature(Snip):
    curvature = "hessian-ish"


class _NoSaliency(PruningMethod):
    citation = "nobody"


@pytest.mark.parametrize(("name", "cls", "error", "match"), [
    ("x", dict, TypeError, "must be a subclass of prunebench.methods.PruningMethod"),
    ("x", _NoCitation, ValueError, "citation must be a non-empty string"),
    ("x", _BadCurvature, ValueError, r"curvature must be one of .*got 'hessian-ish'"),
    ("x", _NoSaliency, TypeError, "must implement saliency"),
    (" x", Snip, ValueError, "method name must be a non-empty string"),
], ids=["not-a-method", "no-citation", "bad-curvature", "no-saliency", "bad-name"])
def test_register_validates_the_class(clean_registry, name, cls, error, match):
    with pytest.raises(error, match=match):
        methods.register(name, cls)


def test_get_names_the_valid_methods_and_parameters():
    with pytest.raises(ValueError, match=r"method must be one of \[.*'obs'.*\]; got 'obx'"):
        methods.get("obx")
    expected = r"method 'obd' takes parameters \['curvature', 'probes', 'seed', 'backend'\]"
    with pytest.raises(TypeError, match=expected):
        methods.get("obd", hessian="exact")


def _fake_entry_points(tmp_path, monkeypatch, entries):
    module = tmp_path / "fake_prunebench_plugin.py"
    module.write_text(textwrap.dedent("""
        import torch
        from prunebench.methods import PruningMethod

        class Ones(PruningMethod):
            '''Every entry has saliency 1 (deleted in parameter order).'''
            citation = "a test plug-in"

            def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
                return {n: torch.ones_like(p) * (mask[n] if mask is not None else 1)
                        for n, p in model.named_parameters()}

        NOT_A_METHOD = 42
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fake_prunebench_plugin", raising=False)
    group = registry.ENTRY_POINT_GROUP
    eps = [importlib.metadata.EntryPoint(name=n, value=v, group=group) for n, v in entries]

    def entry_points(**kwargs):
        assert kwargs == {"group": registry.ENTRY_POINT_GROUP}
        return eps

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_entry_point_plugins_load_and_a_broken_one_is_skipped_with_a_warning(clean_registry, tmp_path,
                                                                             monkeypatch):
    _fake_entry_points(tmp_path, monkeypatch, [
        ("broken", "no_such_module_for_prunebench:Thing"),
        ("ones", "fake_prunebench_plugin:Ones"),
        ("not-a-method", "fake_prunebench_plugin:NOT_A_METHOD"),
        ("magnitude", "fake_prunebench_plugin:Ones"),
    ])
    with pytest.warns(RuntimeWarning) as caught:
        loaded = registry.load_plugins(force=True)
    messages = [str(w.message) for w in caught]
    assert loaded == ["ones"]
    assert any("skipped plug-in method 'broken'" in m and "ModuleNotFoundError" in m for m in messages)
    assert any("'not-a-method'" in m and "must be a subclass" in m for m in messages)
    assert any("'magnitude'" in m and "already registered" in m for m in messages)
    assert "ones" in methods.available() and BUILTINS <= set(methods.available())
    assert methods.get_class("magnitude") is Magnitude
    assert "flags" in check_method("ones")


def test_plugins_are_discovered_lazily_on_first_query(clean_registry, tmp_path, monkeypatch):
    _fake_entry_points(tmp_path, monkeypatch, [("ones", "fake_prunebench_plugin:Ones")])
    registry._PLUGINS_LOADED = False
    assert "ones" in methods.available()


@pytest.mark.parametrize(("name", "params", "match"), [
    ("obd", {"curvature": "hessian"}, r"curvature must be one of \['lecun-lm', 'lecun', .*got 'hessian'"),
    ("obd", {"probes": 0}, "probes must be a positive integer; got 0"),
    ("obd", {"backend": "jax"}, r"backend must be one of .*got 'jax'"),
    ("obs", {"curvature": "diag"}, r"curvature must be one of \['recursion', 'exact', 'ggn', 'fisher', "
                                 r"'block-diagonal'\]; got 'diag'"),
    ("obs", {"alpha": 0.0}, r"alpha must be a positive float \(the paper uses 1e-8 to 1e-4\); got 0.0"),
    ("obs", {"damping": -1.0}, "damping must be a float >= 0; got -1.0"),
    ("obs", {"stop_ratio": 0}, "stop_ratio must be None .* or a positive float"),
    ("obs", {"on_indefinite": "ignore"}, r"on_indefinite must be one of \['raise', 'damp'\]; got 'ignore'"),
    ("magnitude", {"scope": "row"}, r"scope must be one of \['global', 'layer'\]; got 'row'"),
    ("random", {"seed": -1}, "seed must be a non-negative integer; got -1"),
])
def test_parameters_are_validated(name, params, match):
    with pytest.raises(ValueError, match=match):
        methods.get(name, **params)


VARIANTS = (
    [("magnitude", {"scope": "layer"}), ("random", {"seed": 3})]
    + [("obd", {"curvature": c}) for c in ("lecun", "exact", "ggn", "fisher")]
    + [("obd", {"curvature": "hutchinson", "probes": 10})]
    # Explicit Hessians become singular once a unit loses its outgoing weights (and the exact one is
    # indefinite away from a minimum): damping keeps them invertible.
    + [("obs", {"curvature": h, "damping": 1e-4}) for h in ("ggn", "fisher")]
    + [("obs", {"curvature": "block-diagonal"}), ("obs", {"curvature": "exact", "on_indefinite": "damp"})]
)


@pytest.mark.parametrize("name", methods.available())
def test_every_registered_method_passes_the_conformance_check(name):
    passed = check_method(name)
    assert "save-reload" in passed and "stays-zero-after-optimiser" in passed


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=[f"{n}-{'-'.join(map(str, p.values()))}"
                                                            for n, p in VARIANTS])
def test_every_variant_passes_the_conformance_check(name, params):
    check_method(methods.get(name, **params))


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_params_rebuild_the_method(name):
    method = methods.get(name)
    assert repr(methods.get(name, **method.params)) == repr(method)


def test_methods_package_doctest_runs():
    result = doctest.testmod(methods)
    assert result.attempted >= 2 and result.failed == 0


def test_curvature_kinds_is_a_deprecated_alias_of_curvature_forms():
    from prunebench.methods import base

    with pytest.warns(DeprecationWarning, match="CURVATURE_KINDS is deprecated; use CURVATURE_FORMS"):
        assert methods.CURVATURE_KINDS == base.CURVATURE_FORMS == (None, "gradient", "diag", "dense", "inverse")
