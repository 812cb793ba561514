"""prunebench.methods.hassibi1993obs: OBS's closed forms on quadratic objectives, its downdates and its
stopping rule."""

import doctest

import pytest
import torch
from torch import nn

from helpers import assert_close
from prunebench import methods, prune
from prunebench.curvature.oracle import dense_hessian
from prunebench.methods import OBD, OBS, Magnitude, hassibi1993obs
from prunebench.models import Net, effective_params
from prunebench.saliency_check import compare


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
    report = compare(model, loss, X, Y, OBS(curvature=hessian))
    assert len(report.names) == 10
    # E is exactly quadratic and the model sits at its minimum, so eq. (5) is exact; the measured dE = E(w') -
    # E(w) loses about eps * E to cancellation (E ~ 40 here), hence atol 1e-12 beside rtol 1e-10.
    assert_close(report.predicted, report.measured, rtol=1e-10, atol=1e-12, name=f"OBS({hessian}) dE")
    assert report.statistics["spearman"] == pytest.approx(1.0)


def test_obs_recursion_matches_the_exact_saliency_up_to_alpha():
    model, loss, X, Y = linear_problem()
    report = compare(model, loss, X, Y, OBS(curvature="recursion", alpha=1e-6))
    # eq. 17 inverts H + alpha I: relative error ~ alpha / lambda_min(H) (lambda_min ~ 42 here) plus the
    # roundoff of starting from I / alpha, ~ (lambda_max / alpha) * eps ~ 1e-8; measured 5e-8 at alpha = 1e-6.
    assert_close(report.predicted, report.measured, rtol=1e-6, atol=1e-12, name="OBS(recursion) dE")


def test_obs_equals_obd_when_the_hessian_is_diagonal():
    model, loss, X, Y = linear_problem(scales=[0.5, 1.0, 2.0, 3.0])
    obs = _flat(OBS(curvature="exact").saliency(model, loss, X, Y))
    measured = torch.as_tensor(compare(model, loss, X, Y, OBS(curvature="exact")).measured)
    assert_close(obs, measured, rtol=1e-10, atol=1e-12, name="OBS dE (diagonal H)")
    for curvature in ("exact", "lecun", "lecun-lm", "ggn"):
        obd = _flat(OBD(curvature=curvature).saliency(model, loss, X, Y))
        assert_close(obd, obs, rtol=1e-10, atol=1e-14, name=f"OBD({curvature}) vs OBS, diagonal H")


def test_obs_with_the_identity_as_hessian_ranks_exactly_like_magnitude():
    # Orthonormal input columns and E = sum of squares: H = 2 I exactly, so L_q = w_q^2 / (2 * 1/2) = w_q^2.
    model, loss, X, Y = linear_problem(n=30, d=6, k=3, scales=[1.0] * 6, seed=1)
    H = dense_hessian(model, loss, X, Y)
    assert_close(H, 2 * torch.eye(18, dtype=torch.float64), rtol=0, atol=1e-12, name="H")
    obs = _flat(OBS(curvature="exact").saliency(model, loss, X, Y))
    mag = _flat(Magnitude().saliency(model, loss, X, Y))
    assert torch.equal(torch.argsort(obs), torch.argsort(mag))
    assert_close(obs, mag**2, rtol=1e-10, atol=0, name="OBS saliency w^2 h / 2 with H = 2I")
    mask = methods.model_mask(model)
    obs_deletions = OBS(curvature="exact").select(model, loss, X, Y, count=None).deletions
    mag_deletions = Magnitude().select(model, loss, X, Y, count=None, mask=mask).deletions
    order_obs = [(d.name, d.index) for d in obs_deletions]
    order_mag = [(d.name, d.index) for d in mag_deletions]
    assert order_obs == order_mag


def test_after_an_obs_step_the_deleted_weight_is_exactly_zero():
    model, loss, X, Y = linear_problem(seed=2)
    obs = OBS(curvature="exact")
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
    obs = OBS(curvature="exact")
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
    report = compare(model, loss, X, Y, OBS(curvature="exact"))
    assert len(report.names) == 7  # only the present entries
    # After magnitude pruning the model is at no minimum, so check L_q against its closed form over the
    # remaining weights R: w_q^2 / (2 [(H_RR)^-1]_qq), which is what downdating the deleted weights out of
    # H^-1 gives.
    w = _flat(effective_params(model)).detach()
    present = _flat(methods.model_mask(model))
    H = dense_hessian(model, loss, X, Y)
    Hr_inv = torch.linalg.inv(H[present][:, present])
    expected = w[present] ** 2 / (2 * torch.diagonal(Hr_inv))
    sal = _flat(OBS(curvature="exact").saliency(model, loss, X, Y))
    assert_close(sal[present], expected, rtol=1e-10, atol=1e-14, name="L_q with deleted weights downdated")
    assert torch.all(sal[~present] == 0)


def test_obs_stopping_rule_stops_when_the_smallest_saliency_is_not_much_smaller_than_E():
    model, loss, X, Y = linear_problem(seed=5)
    with torch.no_grad():
        E = float(loss(model(X), Y))
    full = OBS(curvature="exact").select(model, loss, X, Y, count=None)
    assert full.stopped == "exhausted" and len(full.deletions) == 10
    ratio = 1.01 * full.deletions[0].saliency / E  # admits the first deletion only (E grows, L grows faster)
    stopped = OBS(curvature="exact", stop_ratio=ratio).select(model, loss, X, Y, count=None)
    assert stopped.stopped == "stop-rule"
    assert 1 <= len(stopped.deletions) < 10
    assert [d.index for d in stopped.deletions] == [d.index for d in full.deletions[: len(stopped.deletions)]]
    counted = OBS(curvature="exact", stop_ratio=1e9).select(model, loss, X, Y, count=3)
    assert counted.stopped == "count" and len(counted.deletions) == 3


def test_hassibi1993obs_doctest_runs():
    result = doctest.testmod(hassibi1993obs, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


def test_hessian_is_a_deprecated_alias_of_curvature_and_params_keep_the_record_key():
    # Records and leaderboard entries store {"hessian": ...}: either name gives those params, and they rebuild
    # the same method.
    model, loss, X, Y = linear_problem()
    with pytest.warns(DeprecationWarning, match=r"OBS\(\): hessian= is deprecated; use curvature="):
        old = methods.get("obs", hessian="exact", on_indefinite="damp")
    new = methods.get("obs", curvature="exact", on_indefinite="damp")
    assert old.params == {"hessian": "exact", "alpha": 1e-6, "damping": 0.0, "stop_ratio": None,
                          "on_indefinite": "damp"}
    assert new.params == old.params and OBS().params["hessian"] == "recursion"
    a, b = old.saliency(model, loss, X, Y), new.saliency(model, loss, X, Y)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(TypeError, match="takes parameters"):
        methods.get("obs", hesian="exact")
