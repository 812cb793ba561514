"""Full-network OBS (prunebench.methods.fullobs): the joint update, agreement with one-at-a-time OBS, delayed
downdates and compaction, float32 against float64, memory refusal, and WoodFisher's block layout
(``blocks="parameter"``, ``max_block``) against a dense float64 oracle of the blockwise empirical Fisher
(agreement to 1e-8 relative: the Woodbury form loses about ``eps * ||F|| / lambda`` ~ 1e-12 there)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from cases import Case
from helpers import assert_close
from prunebench import methods, prune, tasks
from prunebench.curvature import ParamLayout, _memory, hessian
from prunebench.methods import get
from prunebench.methods.fullobs import FullOBS
from prunebench.models import build, effective_params
from prunebench.testing import check_method
from prunebench.train import TrainConfig, fit


def _least_squares(n: int = 40, p: int = 6, seed: int = 0):
    """A linear model at the minimum of E = sum (y - Xw)^2: H = 2 X^T X exactly (a quadratic)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, p, generator=g, dtype=torch.float64)
    y = torch.randn(n, 1, generator=g, dtype=torch.float64)
    model = nn.Sequential(nn.Linear(p, 1, bias=False)).double().requires_grad_(False)
    model[0].weight.copy_(torch.linalg.lstsq(X, y).solution.T)
    return model, nn.MSELoss(reduction="sum"), X, y


def _names(deletions):
    return [(d.name, d.index) for d in deletions]


def _sequence(method, model, loss_fn, X, y):
    steps = list(method.sequence(model, loss_fn, X, y))
    return [(s.deletion.name, s.deletion.index) for s in steps], steps


@pytest.mark.parametrize("group_size", [1, 2, 3])
def test_joint_update_on_a_quadratic_is_the_closed_form(group_size):
    model, loss_fn, X, y = _least_squares()
    damping = 1e-3
    A_inv = torch.linalg.inv(2 * X.T @ X + damping * torch.eye(X.shape[1], dtype=torch.float64))
    w = model[0].weight.detach()[0].clone()
    Q = [4, 1, 2]
    delete = {"0.weight": torch.zeros(1, 6, dtype=torch.bool)}
    delete["0.weight"][0, Q] = True
    obs = FullOBS(curvature="ggn", damping=damping, group_size=group_size)
    dw = obs.update(model, loss_fn, X, y, delete=delete)["0.weight"][0]
    expected = -A_inv[:, Q] @ torch.linalg.solve(A_inv[Q][:, Q], w[Q])
    # Woodbury from I / damping loses about eps * ||2 X^T X|| / damping (~1e-11) relative: 1e-9 is safe.
    assert_close(dw, expected, rtol=1e-9, atol=1e-12, name="joint dw")
    assert torch.equal((w + dw)[Q], torch.zeros(3, dtype=torch.float64))  # exactly zero, not roundoff


def test_joint_saliency_is_the_actual_loss_change_on_a_quadratic():
    model, loss_fn, X, y = _least_squares(seed=1)
    obs = FullOBS(curvature="ggn", damping=1e-5, group_size=3)
    selection = obs.select(model, loss_fn, X, y, count=3)
    A_inv = torch.linalg.inv(2 * X.T @ X + 1e-5 * torch.eye(6, dtype=torch.float64))
    w = model[0].weight.detach()[0]
    Q = [d.index for d in selection.deletions]
    joint = 0.5 * w[Q] @ torch.linalg.solve(A_inv[Q][:, Q], w[Q])
    # The members' saliencies (z_i^2 / 2 from the Cholesky factor) add up to the joint saliency; the Woodbury
    # inverse from I / 1e-5 carries ~eps ||2 X^T X|| / 1e-5 ~ 1e-9 relative roundoff.
    assert_close(selection.predicted_change, joint, rtol=1e-7, atol=0, name="sum of member saliencies")
    before = loss_fn(model(X), y)
    model[0].weight.add_(selection.delta["0.weight"])
    # At the minimum of a quadratic the second-order model is exact, up to the damping: 1e-5 against the
    # smallest eigenvalue of 2 X^T X (~40) is ~3e-7 relative.
    assert_close(loss_fn(model(X), y) - before, joint, rtol=1e-5, atol=0, name="actual loss change")
    # The group is the three smallest single-weight saliencies of the first ranking.
    single = w**2 / (2 * A_inv.diagonal())
    assert sorted(Q) == sorted(torch.argsort(single)[:3].tolist())


def _problem(case: Case):
    model, loss_fn, X, y = case.build()
    return model, loss_fn, X, y


OBS_CASES = [Case("mlp-3-4-3-tanh", "ce-mean", n=16), Case("mlp-3-4-3-sigmoid", "mse-sum", n=12),
             Case("mlp-3-4-3-tanh-pruned", "ce-sum", n=16)]


@pytest.mark.parametrize("case", OBS_CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("hessian", ["fisher", "ggn"])
def test_group_size_one_is_the_papers_obs(case, hessian):
    """Same deletions in the same order and the same weights as prunebench's one-at-a-time OBS (dense
    Cholesky inverse, rank-1 downdates), here through delayed downdates and compactions."""
    model, loss_fn, X, y = _problem(case)
    reference = methods.get("obs", curvature=hessian, damping=1e-3)
    ours = FullOBS(curvature=hessian, damping=1e-3, samples=None, group_size=1, flush=4, compact=0.1)
    ref_order, ref_steps = _sequence(reference, model, loss_fn, X, y)
    our_order, our_steps = _sequence(ours, model, loss_fn, X, y)
    assert our_order == ref_order
    assert ours.last_stats.compactions > 0 and ours.last_stats.downdate_flop > 0
    for a, b in zip(ref_steps, our_steps, strict=True):
        for name in a.delta:
            # Both invert G + 1e-3 I in float64 (Woodbury vs Cholesky): weights agree to ~1e-13 absolute.
            assert_close(b.delta[name], a.delta[name], rtol=0, atol=1e-10, name=f"delta[{name}]")
        assert_close(b.deletion.saliency, a.deletion.saliency, rtol=1e-8, atol=1e-14, name="saliency")


def test_layer_blocks_are_block_diagonal_obs():
    model, loss_fn, X, y = _problem(Case("mlp-3-4-3-tanh", "mse-mean", n=16))
    reference = methods.get("obs", curvature="block-diagonal", alpha=1e-3)
    ours = FullOBS(curvature="ggn", damping=1e-3, samples=None, blocks="module", flush=3, compact=0.2)
    ref_order, ref_steps = _sequence(reference, model, loss_fn, X, y)
    our_order, our_steps = _sequence(ours, model, loss_fn, X, y)
    assert our_order == ref_order
    for name in ref_steps[-1].delta:
        assert_close(our_steps[10].delta[name], ref_steps[10].delta[name], rtol=0, atol=1e-10, name=name)


@pytest.mark.parametrize("case", [Case("mlp-3-4-3-tanh", "ce-mean", n=16),
                                  Case("mlp-3-4-3-tanh-pruned", "mse-mean", n=12)], ids=lambda c: c.id)
@pytest.mark.parametrize("blocks", [None, "module"])
def test_one_step_is_woodfishers_sum_of_single_weight_updates(case, blocks):
    """procedure="one-step": one ranking by L_q and dw = -sum_q (w_q / [A^-1]_qq) A^-1 e_q, against a dense
    inverse of the Fisher restricted to the present weights (flush=1: the stored matrix is lower-triangular
    after removing the pruned ones, so the panel product is exercised)."""
    model, loss_fn, X, y = _problem(case)
    damping = 1e-3
    obs = FullOBS(damping=damping, samples=None, procedure="one-step", blocks=blocks, flush=1)
    selection = obs.select(model, loss_fn, X, y, count=8)
    layout = ParamLayout.from_model(model)
    F = hessian(model, loss_fn, X, y, "fisher").matrix
    if blocks == "module":
        keep = torch.zeros_like(F, dtype=torch.bool)
        for sl in layout.blocks.values():
            keep[sl, sl] = True
        F = torch.where(keep, F, torch.zeros_like(F))
    present = layout.flatten({k: m.to(torch.bool) for k, m in methods.model_mask(model).items()})
    R = torch.nonzero(present, as_tuple=True)[0]
    A_inv = torch.zeros_like(F)
    A_inv[R[:, None], R] = torch.linalg.inv(F[R][:, R] + damping * torch.eye(R.numel(), dtype=F.dtype))
    w = layout.flatten(effective_params(model)).detach()
    d = A_inv.diagonal()
    single = torch.where(present, w**2 / (2 * torch.where(present, d, torch.ones_like(d))), torch.inf)
    Q = torch.argsort(single, stable=True)[:8]
    assert [layout.slice(d.name).start + d.index for d in selection.deletions] == Q.tolist()
    expected = -A_inv[:, Q] @ (w[Q] / d[Q])
    expected[Q] = -w[Q]
    # Woodbury vs a dense inverse of G + 1e-3 I in float64: ~1e-13 absolute on weights of order 1.
    assert_close(layout.flatten(selection.delta), expected, rtol=0, atol=1e-10, name="one-step dw")


@pytest.mark.parametrize("flush,compact", [(1, 1.0), (2, 0.01), (1000, 0.5), (5, 0.3)])
def test_delayed_downdates_and_compaction_do_not_change_results(flush, compact):
    model, loss_fn, X, y = _problem(Case("mlp-3-4-4-3-3-tanh", "ce-mean", n=24))
    baseline = FullOBS(damping=1e-3, samples=None, group_size=2, flush=1, compact=1.0)
    variant = FullOBS(damping=1e-3, samples=None, group_size=2, flush=flush, compact=compact)
    ref = baseline.select(model, loss_fn, X, y, count=40)
    got = variant.select(model, loss_fn, X, y, count=40)
    assert [(d.name, d.index) for d in got.deletions] == [(d.name, d.index) for d in ref.deletions]
    for name in ref.delta:
        # Reassociated float64 sums only: 1e-12 absolute on weights of order 1.
        assert_close(got.delta[name], ref.delta[name], rtol=0, atol=1e-12, name=name)


@pytest.fixture(scope="module")
def digits_mlp():
    """mlp-64-32-10 (2,410 weights) trained on scikit-learn digits (cross-entropy): a real saliency spread."""
    splits = tasks.get("digits").data()
    X = splits.x_train.reshape(-1, 64).to(torch.float64)
    y = splits.y_train
    model = build("mlp-64-32-10", seed=0, dtype=torch.float64).requires_grad_(False)
    loss_fn = nn.CrossEntropyLoss()
    with torch.enable_grad():
        fit(model.requires_grad_(True), loss_fn, X, y, TrainConfig(optimizer="lbfgs", epochs=30,
                                                                   weight_decay=1e-4), seed=0)
    return model.requires_grad_(False), loss_fn, X, y


def test_float32_agrees_with_float64_on_a_trained_network(digits_mlp):
    """The float32 inverse (what a 32k-weight network needs) against float64, to 90% sparsity.

    Measured on this network (500 samples, groups of 16): float32 deletes exactly the same weights as float64
    at 50% and 90% sparsity and the training losses agree to 4e-6 (relative) at damping 1e-5, 3e-7 at 1e-4.
    Tolerances with margin for other BLAS libraries: >= 99% of the deletions shared and the loss within 1e-4.
    """
    model, loss_fn, X, y = digits_mlp
    total = sum(p.numel() for p in model.parameters())
    counts = [total // 2, int(0.9 * total)]
    paths = {dtype: list(FullOBS(damping=1e-5, samples=500, group_size=16, dtype=dtype)
                         .prune_path(model, loss_fn, X, y, counts)) for dtype in ("float64", "float32")}
    for c64, c32 in zip(paths["float64"], paths["float32"], strict=True):
        s64 = {(d.name, d.index) for d in c64.deletions}
        s32 = {(d.name, d.index) for d in c32.deletions}
        assert len(s64 & s32) >= 0.99 * len(s64), f"{len(s64 & s32)} of {len(s64)} deletions shared"
        losses = []
        for cp in (c64, c32):
            net = copy.deepcopy(model)
            prune.apply_selection(net, cp.selection(), prune.prunable_names(net))
            losses.append(float(loss_fn(net(X), y)))
        assert abs(losses[1] - losses[0]) <= 1e-4 * losses[0], f"float64 {losses[0]}, float32 {losses[1]}"


def test_refuses_an_inverse_that_does_not_fit(monkeypatch):
    """The 784-40-20-10 MNIST MLP: 32,360^2 float32 entries are 4.19 GB; with 1 GB free it is refused before
    anything is allocated, with the size and the remedies."""
    monkeypatch.setattr(_memory, "available_bytes", lambda device: 10**9)
    model = build("mlp-784-40-20-10", seed=0)
    X, y = torch.rand(4, 784), torch.tensor([0, 1, 2, 3])
    obs = FullOBS(dtype="float32", samples=4)
    with pytest.raises(MemoryError, match=r"obs-full cannot hold its inverse: inverse_hessian needs about "
                                          r"4\.19 GB .* only 1\.00 GB is available .*dtype='float32'"):
        obs.saliency(model, nn.CrossEntropyLoss(), X, y)
    with pytest.raises(MemoryError, match=r"needs about 8\.38 GB"):
        FullOBS(dtype="float64", samples=4).select(model, nn.CrossEntropyLoss(), X, y, count=10)


def test_conformance():
    assert "update" in check_method("obs-full")
    assert "pruning" in check_method(methods.get("obs-full", group_size=4, dtype="float32", flush=3))
    assert "pruning" in check_method(methods.get("obs-full", curvature="ggn", blocks="module", group_size=3))
    assert "update" in check_method(methods.get("obs-full", procedure="one-step"))


def test_prune_path_meets_each_count_and_matches_one_shot():
    model, loss_fn, X, y = _problem(Case("mlp-3-4-3-tanh", "ce-mean", n=16))
    obs = FullOBS(damping=1e-3, samples=None, group_size=4)
    checkpoints = list(obs.prune_path(model, loss_fn, X, y, [5, 13, 20]))
    assert [c.count for c in checkpoints] == [5, 13, 20]
    assert [len(c.deletions) for c in checkpoints] == [5, 13, 20]
    # A group never crosses a checkpoint, so each is what a one-shot run to that count deletes.
    alone = obs.select(model, loss_fn, X, y, count=13)
    assert _names(alone.deletions) == _names(checkpoints[1].deletions)
    net = copy.deepcopy(model)
    prune.apply_selection(net, checkpoints[2].selection(), prune.prunable_names(net))
    assert sum(int((t == 0).sum()) for t in effective_params(net).values()) >= 20
    everything = list(obs.prune_path(model, loss_fn, X, y, [10, 1000]))
    assert everything[-1].stopped == "exhausted" and everything[-1].count == 31


@pytest.mark.parametrize("params,match", [
    ({"curvature": "exact"}, r"curvature must be one of \['ggn', 'fisher'\]; got 'exact'"),
    ({"damping": 0.0}, r"damping must be a positive float \(e.g. 1e-4\); got 0.0"),
    ({"group_size": 0}, r"group_size must be an integer >= 1; got 0"),
    ({"samples": 0}, r"samples must be an integer >= 1 or None \(all the data\); got 0"),
    ({"blocks": "layer"}, r"blocks must be one of \[None, 'module', 'parameter'\]; got 'layer'"),
    ({"dtype": "float16"}, r"dtype must be one of \['float64', 'float32'\]; got 'float16'"),
    ({"flush": 1.5}, r"flush must be an integer >= 1; got 1.5"),
    ({"compact": 0}, r"compact must be a float in \(0, 1\]"),
    ({"seed": -1}, r"seed must be an integer >= 0; got -1"),
    ({"procedure": "joint"}, r"procedure must be one of \['sequential', 'one-step'\]; got 'joint'"),
])
def test_parameter_messages(params, match):
    with pytest.raises(ValueError, match=match):
        FullOBS(**params)


def test_prune_path_and_update_messages():
    model, loss_fn, X, y = _problem(Case("mlp-3-4-3-tanh", "ce-mean", n=8))
    with pytest.raises(ValueError, match=r"counts must be a non-empty increasing list"):
        next(FullOBS().prune_path(model, loss_fn, X, y, [5, 3]))
    net = copy.deepcopy(model)
    prune.one_shot(net, methods.get("magnitude"), loss_fn, X, y, 0.3)
    dead = {n: ~m for n, m in methods.model_mask(net).items()}
    with pytest.raises(ValueError, match=r"delete must name present entries only"):
        FullOBS().update(net, loss_fn, X, y, delete=dead)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    model, loss_fn, X, y = _problem(Case("mlp-3-4-4-3-3-tanh", "ce-mean", n=24))
    obs = FullOBS(damping=1e-3, samples=None, group_size=2, flush=3)
    cpu = obs.select(model, loss_fn, X, y, count=30)
    gpu = obs.select(copy.deepcopy(model).cuda(), loss_fn, X.cuda(), y.cuda(), count=30)
    assert [(d.name, d.index) for d in gpu.deletions] == [(d.name, d.index) for d in cpu.deletions]
    for name in cpu.delta:
        assert_close(gpu.delta[name].cpu(), cpu.delta[name], rtol=0, atol=1e-10, name=name)


def _block_problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    g = torch.Generator().manual_seed(1)
    return model, torch.randn(30, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (30,), generator=g)


def _oracle(model, x, y, damping, max_block):
    params = {k: v.detach() for k, v in model.named_parameters()}

    def one(p, xi, yi):
        return nn.functional.cross_entropy(torch.func.functional_call(model, p, (xi[None],)), yi[None])

    grads = torch.func.vmap(torch.func.grad(one), in_dims=(None, 0, 0))(params, x, y)
    G = torch.cat([grads[k].reshape(x.shape[0], -1) for k in params], dim=1)
    F = G.T @ G / x.shape[0] + damping * torch.eye(G.shape[1], dtype=torch.float64)
    Finv = torch.zeros_like(F)
    start = 0
    for p in params.values():
        for a in range(start, start + p.numel(), max_block):
            b = min(a + max_block, start + p.numel())
            Finv[a:b, a:b] = torch.linalg.inv(F[a:b, a:b])
        start += p.numel()
    w = torch.cat([p.reshape(-1) for p in params.values()])
    return Finv, w


@pytest.mark.parametrize("max_block", [3, 7, 1000], ids=["max_block=3", "max_block=7", "whole"])
def test_parameter_blocks_with_max_block_match_the_dense_oracle(max_block):
    model, x, y = _block_problem()
    damping = 1e-3
    method = get("obs-full", curvature="fisher", damping=damping, samples=None, blocks="parameter",
                 procedure="one-step", max_block=max_block)
    Finv, w = _oracle(model, x, y, damping, max_block)
    d = Finv.diagonal()
    saliency = method.saliency(model, nn.CrossEntropyLoss(), x, y)
    got = torch.cat([saliency[k].reshape(-1) for k, _ in model.named_parameters()])
    assert_close(got, w**2 / (2 * d), rtol=1e-8, atol=0.0, name="saliency")
    g = torch.Generator().manual_seed(2)
    delete = {k: torch.rand(p.shape, generator=g) < 0.5 for k, p in model.named_parameters()}
    gone = torch.cat([delete[k].reshape(-1) for k, _ in model.named_parameters()])
    dw = -(Finv @ torch.where(gone, w / d, torch.zeros_like(w)))
    dw[gone] = -w[gone]
    update = method.update(model, nn.CrossEntropyLoss(), x, y, delete=delete)
    got_dw = torch.cat([update[k].reshape(-1) for k, _ in model.named_parameters()])
    assert_close(got_dw, dw, rtol=1e-8, atol=1e-12, name="one-step update")
    assert "max_block" in method.params and method.params["blocks"] == "parameter"


def test_max_block_validation():
    with pytest.raises(ValueError, match=r"max_block must be an integer >= 1 or None \(whole blocks\); got 0"):
        get("obs-full", max_block=0)
    assert "max_block" not in get("obs-full").params  # entries made before the option keep their parameters


def test_hessian_is_a_deprecated_alias_of_curvature_and_params_keep_the_record_key():
    # Records and leaderboard entries store {"hessian": ...}: either name gives those params.
    with pytest.warns(DeprecationWarning, match=r"hessian= is deprecated; use curvature="):
        old = FullOBS(hessian="ggn", damping=1e-3)
    new = FullOBS(curvature="ggn", damping=1e-3)
    assert old.params == new.params and list(new.params)[0] == "hessian"
    assert FullOBS().params["hessian"] == "fisher"
    model, loss_fn, X, y = _problem(Case("mlp-3-4-3-tanh", "ce-mean", n=8))
    a, b = old.saliency(model, loss_fn, X, y), new.saliency(model, loss_fn, X, y)
    assert all(torch.equal(a[k], b[k]) for k in a)
