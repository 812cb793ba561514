"""Pruning methods: registry and plug-ins, parameter validation, the conformance check on every method, and
the closed forms of OBD and OBS on quadratic objectives."""

import doctest
import importlib.metadata
import sys
import textwrap

import pytest
import torch
from torch import nn

from helpers import assert_close
from prunebench import methods, prune
from prunebench.curvature import hessian_diag
from prunebench.curvature.oracle import dense_hessian
from prunebench.methods import OBD, OBS, Magnitude, PruningMethod, Random, hassibi1993obs, registry
from prunebench.models import Net, effective_params
from prunebench.saliency_check import compare
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


# ----------------------------------------------------------------------------------------------------
# registry


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


# ----------------------------------------------------------------------------------- parameters and
# conformance


@pytest.mark.parametrize(("name", "params", "match"), [
    ("obd", {"curvature": "hessian"}, r"curvature must be one of \['lecun-lm', 'lecun', .*got 'hessian'"),
    ("obd", {"probes": 0}, "probes must be a positive integer; got 0"),
    ("obd", {"backend": "jax"}, r"backend must be one of .*got 'jax'"),
    ("obs", {"hessian": "diag"}, r"hessian must be one of \['recursion', 'exact', 'ggn', 'fisher', "
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
    + [("obs", {"hessian": h, "damping": 1e-4}) for h in ("ggn", "fisher")]
    + [("obs", {"hessian": "block-diagonal"}), ("obs", {"hessian": "exact", "on_indefinite": "damp"})]
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


# ---------------------------------------------------------------------------------------- closed forms
# (quadratic)


def linear_problem(n=40, d=4, k=2, *, bias=True, scales=None, seed=0):
    """A linear model at the exact least-squares minimum of E = sum of squared errors (a quadratic in the
    weights).

    ``scales``: inputs with orthogonal columns of these norms (no bias), so that H = 2 diag(scales^2) per
    output.
    """
    g = torch.Generator().manual_seed(seed)
    if scales is not None:
        q, _ = torch.linalg.qr(torch.randn(n, d, generator=g, dtype=torch.float64))
        X = q * torch.as_tensor(scales, dtype=torch.float64)
        bias = False
    else:
        X = torch.randn(n, d, generator=g, dtype=torch.float64)
    Y = torch.randn(n, k, generator=g, dtype=torch.float64)
    model = Net(f"Linear({d}-{k})", (d,), nn.Linear(d, k, bias=bias)).double()
    A = torch.cat([X, torch.ones(n, 1, dtype=torch.float64)], 1) if bias else X
    solution = torch.linalg.lstsq(A, Y, driver="gelsd").solution
    with torch.no_grad():
        model[0].weight.copy_(solution[:d].T)
        if bias:
            model[0].bias.copy_(solution[d])
    return model, nn.MSELoss(reduction="sum"), X, Y


def _flat(d: dict) -> torch.Tensor:
    return torch.cat([v.reshape(-1) for v in d.values()])


@pytest.mark.parametrize("hessian", ["exact", "ggn"])
def test_obs_predicted_change_equals_the_measured_one_on_a_quadratic(hessian):
    model, loss, X, Y = linear_problem()
    report = compare(model, loss, X, Y, OBS(hessian=hessian))
    assert len(report.names) == 10
    # E is exactly quadratic and the model sits at its minimum, so eq. (5) is exact; the measured dE = E(w') -
    # E(w) loses about eps * E to cancellation (E ~ 40 here), hence atol 1e-12 beside rtol 1e-10.
    assert_close(report.predicted, report.measured, rtol=1e-10, atol=1e-12, name=f"OBS({hessian}) dE")
    assert report.statistics["spearman"] == pytest.approx(1.0)


def test_obs_recursion_matches_the_exact_saliency_up_to_alpha():
    model, loss, X, Y = linear_problem()
    report = compare(model, loss, X, Y, OBS(hessian="recursion", alpha=1e-6))
    # eq. 17 inverts H + alpha I: relative error ~ alpha / lambda_min(H) (lambda_min ~ 42 here) plus the
    # roundoff of starting from I / alpha, ~ (lambda_max / alpha) * eps ~ 1e-8; measured 5e-8 at alpha = 1e-6.
    assert_close(report.predicted, report.measured, rtol=1e-6, atol=1e-12, name="OBS(recursion) dE")


def test_obs_equals_obd_when_the_hessian_is_diagonal():
    model, loss, X, Y = linear_problem(scales=[0.5, 1.0, 2.0, 3.0])
    obs = _flat(OBS(hessian="exact").saliency(model, loss, X, Y))
    measured = torch.as_tensor(compare(model, loss, X, Y, OBS(hessian="exact")).measured)
    assert_close(obs, measured, rtol=1e-10, atol=1e-12, name="OBS dE (diagonal H)")
    for curvature in ("exact", "lecun", "lecun-lm", "ggn"):
        obd = _flat(OBD(curvature=curvature).saliency(model, loss, X, Y))
        assert_close(obd, obs, rtol=1e-10, atol=1e-14, name=f"OBD({curvature}) vs OBS, diagonal H")


def test_obs_with_the_identity_as_hessian_ranks_exactly_like_magnitude():
    # Orthonormal input columns and E = sum of squares: H = 2 I exactly, so L_q = w_q^2 / (2 * 1/2) = w_q^2.
    model, loss, X, Y = linear_problem(n=30, d=6, k=3, scales=[1.0] * 6, seed=1)
    H = dense_hessian(model, loss, X, Y)
    assert_close(H, 2 * torch.eye(18, dtype=torch.float64), rtol=0, atol=1e-12, name="H")
    obs = _flat(OBS(hessian="exact").saliency(model, loss, X, Y))
    mag = _flat(Magnitude().saliency(model, loss, X, Y))
    assert torch.equal(torch.argsort(obs), torch.argsort(mag))
    assert_close(obs, mag**2, rtol=1e-10, atol=0, name="OBS saliency w^2 h / 2 with H = 2I")
    mask = methods.model_mask(model)
    obs_deletions = OBS(hessian="exact").select(model, loss, X, Y, count=None).deletions
    mag_deletions = Magnitude().select(model, loss, X, Y, count=None, mask=mask).deletions
    order_obs = [(d.name, d.index) for d in obs_deletions]
    order_mag = [(d.name, d.index) for d in mag_deletions]
    assert order_obs == order_mag


def test_after_an_obs_step_the_deleted_weight_is_exactly_zero():
    model, loss, X, Y = linear_problem(seed=2)
    obs = OBS(hessian="exact")
    steps = list(obs.sequence(model, loss, X, Y))
    w = effective_params(model)
    for k, step in enumerate(steps):
        d = step.deletion
        moved = w[d.name].detach() + step.delta[d.name]
        assert moved.reshape(-1)[d.index] == 0.0
        for earlier in steps[:k]:
            e = earlier.deletion
            assert (w[e.name].detach() + step.delta[e.name]).reshape(-1)[e.index] == 0.0
    result = prune.one_shot(model, obs, loss, X, Y, 0.3)
    assert len(result.deletions) == 3
    for d in result.deletions:
        assert effective_params(model)[d.name].reshape(-1)[d.index] == 0.0
        assert dict(model.named_parameters())[d.name].reshape(-1)[d.index] == 0.0  # the _orig tensor too


def test_obs_sequence_with_downdates_equals_the_joint_deletion_on_a_quadratic():
    model, loss, X, Y = linear_problem(seed=3)
    obs = OBS(hessian="exact")
    selection = obs.select(model, loss, X, Y, count=4)
    joint = obs.update(model, loss, X, Y, delete=selection.delete_masks(dict(model.named_parameters())))
    assert_close(_flat(selection.delta), _flat(joint), rtol=1e-9, atol=1e-12,
                 name="sequential vs joint update")
    report = compare(model, loss, X, Y, obs, cumulative_fraction=0.8)
    # On a quadratic the sum of the saliencies is the actual objective along the whole sequence.
    assert_close(torch.tensor(report.cumulative["predicted"]), torch.tensor(report.cumulative["actual"]),
                 rtol=1e-10, atol=1e-12, name="cumulative objective")


def test_obs_removes_previously_deleted_weights_from_the_inverse_first():
    model, loss, X, Y = linear_problem(seed=4)
    prune.one_shot(model, Magnitude(), loss, X, Y, 0.3)
    report = compare(model, loss, X, Y, OBS(hessian="exact"))
    assert len(report.names) == 7  # only the present entries
    # After magnitude pruning the model is at no minimum, so check L_q against its closed form over the
    # remaining weights R: w_q^2 / (2 [(H_RR)^-1]_qq), which is what downdating the deleted weights out of
    # H^-1 gives.
    w = _flat(effective_params(model)).detach()
    present = _flat(methods.model_mask(model))
    H = dense_hessian(model, loss, X, Y)
    Hr_inv = torch.linalg.inv(H[present][:, present])
    expected = w[present] ** 2 / (2 * torch.diagonal(Hr_inv))
    sal = _flat(OBS(hessian="exact").saliency(model, loss, X, Y))
    assert_close(sal[present], expected, rtol=1e-10, atol=1e-14, name="L_q with deleted weights downdated")
    assert torch.all(sal[~present] == 0)


def test_obs_stopping_rule_stops_when_the_smallest_saliency_is_not_much_smaller_than_E():
    model, loss, X, Y = linear_problem(seed=5)
    with torch.no_grad():
        E = float(loss(model(X), Y))
    full = OBS(hessian="exact").select(model, loss, X, Y, count=None)
    assert full.stopped == "exhausted" and len(full.deletions) == 10
    ratio = 1.01 * full.deletions[0].saliency / E  # admits the first deletion only (E grows, L grows faster)
    stopped = OBS(hessian="exact", stop_ratio=ratio).select(model, loss, X, Y, count=None)
    assert stopped.stopped == "stop-rule"
    assert 1 <= len(stopped.deletions) < 10
    assert [d.index for d in stopped.deletions] == [d.index for d in full.deletions[: len(stopped.deletions)]]
    counted = OBS(hessian="exact", stop_ratio=1e9).select(model, loss, X, Y, count=3)
    assert counted.stopped == "count" and len(counted.deletions) == 3


def test_hassibi1993obs_doctest_runs():
    result = doctest.testmod(hassibi1993obs, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


def test_methods_package_doctest_runs():
    result = doctest.testmod(methods)
    assert result.attempted >= 2 and result.failed == 0


# --------------------------------------------------------------------------------------------------- OBD


def tiny_conv_problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Net("conv-tiny", (1, 5, 5), nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(),
                    nn.Linear(18, 2)).double()
    X = torch.randn(6, 1, 5, 5, generator=g, dtype=torch.float64)
    Y = torch.randn(6, 2, generator=g, dtype=torch.float64)
    return model, nn.MSELoss(), X, Y


def test_obd_saliency_is_half_h_kk_u_k_squared_over_free_parameters():
    model, loss, X, Y = tiny_conv_problem()
    sal = OBD(curvature="exact").saliency(model, loss, X, Y)
    assert {k: v.shape for k, v in sal.items()} == {k: p.shape for k, p in model.named_parameters()}
    # The conv kernel is one free parameter per entry (shared over 9 positions): its h_kk is the full second
    # derivative in that parameter, i.e. the diagonal of the dense Hessian over named_parameters.
    h = torch.diagonal(dense_hessian(model, loss, X, Y))
    w = _flat(effective_params(model)).detach()
    assert_close(_flat(sal), torch.clamp(0.5 * h * w**2, min=0), rtol=1e-10, atol=1e-15, name="OBD exact")
    lm = hessian_diag(model, loss, X, Y, method="lecun-lm")
    expected = {n: 0.5 * lm[n] * p.detach() ** 2 for n, p in model.named_parameters()}
    assert_close(_flat(OBD().saliency(model, loss, X, Y)), _flat(expected), rtol=1e-12, atol=0,
                 name="OBD lecun-lm")


def test_obd_clips_negative_curvature_to_zero():
    model, loss, X, Y = tiny_conv_problem(seed=1)  # untrained: the exact diagonal has negative entries
    h = hessian_diag(model, loss, X, Y, method="exact")
    assert h.health.negative_fraction > 0
    sal = OBD(curvature="exact").saliency(model, loss, X, Y)
    for n, s in sal.items():
        assert torch.all(s >= 0) and torch.all(s[h[n] < 0] == 0)


# --------------------------------------------------------------------------------------- magnitude and random


def test_global_magnitude_is_absolute_value():
    model, loss, X, Y = tiny_conv_problem()
    sal = Magnitude().saliency(model, loss, X, Y)
    for n, p in model.named_parameters():
        assert torch.equal(sal[n], p.detach().abs())


def test_layer_magnitude_prunes_the_same_fraction_of_every_tensor():
    model, loss, X, Y = tiny_conv_problem()
    prune.one_shot(model, Magnitude(scope="layer"), loss, X, Y, 0.5)
    mask = methods.model_mask(model)
    for n, m in mask.items():
        assert abs((~m).float().mean().item() - 0.5) <= 1 / m.numel() + 1e-12, n
    survivors = {n: effective_params(model)[n].detach().abs()[m] for n, m in mask.items()}
    before = dict(tiny_conv_problem()[0].named_parameters())
    for n, m in mask.items():  # within each tensor the smallest were deleted
        deleted = before[n.removesuffix("_orig")].detach().abs()[~m]
        if deleted.numel() and survivors[n].numel():
            assert deleted.max() <= survivors[n].min()


def test_random_is_seeded():
    model, loss, X, Y = tiny_conv_problem()
    a, b, c = (Random(seed=s).saliency(model, loss, X, Y) for s in (0, 0, 1))
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], c[n]) for n in a)
    assert all(((v > 0) & (v <= 1)).all() for v in a.values())
