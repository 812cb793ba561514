"""Pruning: the sparsity rule, masks that keep deleted entries at zero, one-shot and iterative runs,
save/reload."""

import copy

import pytest
import torch
from torch import nn

from prunebench import prune
from prunebench.methods import OBS, Magnitude, Selection, get, model_mask
from prunebench.methods.base import Deletion
from prunebench.models import effective_params
from prunebench.testing import tiny_problem
from prunebench.train import TrainConfig, fit, load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def problem():
    return tiny_problem(seed=0)


@pytest.fixture
def fresh(problem):
    model, loss, X, Y = problem
    return copy.deepcopy(model), loss, X, Y


# ------------------------------------------------------------------------------------------- the sparsity
# rule


@pytest.mark.parametrize(("sparsity", "total", "count"), [
    (0.0, 10, 0), (0.5, 9, 4), (0.5, 10, 5), (0.29, 100, 29), (0.7, 10, 7), (0.999, 10, 9), (0.95, 58, 55),
    (0.9, 0, 0), (1e-9, 10, 0),
])
def test_deletion_count_is_the_largest_count_not_above_the_sparsity(sparsity, total, count):
    assert prune._deletion_count(sparsity, total) == count


@pytest.mark.parametrize("bad", [1.5, 1.0, -0.1, float("nan"), "0.5", True, None])
def test_deletion_count_rejects_a_bad_sparsity(bad):
    shown = repr(bad).replace(".", "[.]")
    with pytest.raises(ValueError, match=rf"sparsity must be a float in \[0, 1\); got {shown}"):
        prune._deletion_count(bad, 10)


def test_deletion_count_message_matches_the_style_guide():
    with pytest.raises(ValueError, match=r"^sparsity must be a float in \[0, 1\); got 1.5$"):
        prune._deletion_count(1.5, 10)
    with pytest.raises(ValueError, match="number of prunable entries must be a non-negative integer; got -1"):
        prune._deletion_count(0.5, -1)


def test_one_shot_validates_sparsity_through_the_rule(fresh):
    model, loss, X, Y = fresh
    with pytest.raises(ValueError, match=r"sparsity must be a float in \[0, 1\); got 1.5"):
        prune.one_shot(model, Magnitude(), loss, X, Y, 1.5)


# ------------------------------------------------------------------------------------------- prunable and
# masks


def test_prunable_names_include_biases_by_default(fresh):
    model = fresh[0]
    assert prune.prunable_names(model) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert prune.prunable_names(model, include_bias=False) == ["0.weight", "2.weight"]
    with pytest.raises(TypeError, match="include_bias must be a bool; got 'no'"):
        prune.prunable_names(model, include_bias="no")


def test_one_shot_deletes_exactly_the_count_and_masks_every_prunable_tensor(fresh):
    model, loss, X, Y = fresh
    result = prune.one_shot(model, Magnitude(), loss, X, Y, 0.5)
    assert len(result.deletions) == 29 and result.sparsity == pytest.approx(29 / 58)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight_orig", "0.bias_orig", "2.weight_orig", "2.bias_orig"]
    mask = model_mask(model)
    assert sum(int((~m).sum()) for m in mask.values()) == 29
    for n, p in model.named_parameters():
        assert torch.all(p.detach()[~mask[n]] == 0)  # _orig zeroed too
        assert torch.all(effective_params(model)[n].detach()[~mask[n]] == 0)


def test_sparsity_zero_leaves_the_model_untouched(fresh):
    model, loss, X, Y = fresh
    before = copy.deepcopy(model.state_dict())
    result = prune.one_shot(model, OBS(), loss, X, Y, 0.0)
    assert result.deletions == [] and result.sparsity == 0.0
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_include_bias_false_leaves_biases_unmasked(fresh):
    model, loss, X, Y = fresh
    result = prune.one_shot(model, Magnitude(), loss, X, Y, 0.5, include_bias=False)
    assert len(result.deletions) == 27  # half of the 54 weights
    names = {n for n, _ in model.named_parameters()}
    assert names == {"0.weight_orig", "0.bias", "2.weight_orig", "2.bias"}
    assert all(not d.name.endswith("bias") for d in result.deletions)


def test_pruning_again_counts_the_earlier_deletions(fresh):
    model, loss, X, Y = fresh
    prune.one_shot(model, Magnitude(), loss, X, Y, 0.3)
    second = prune.one_shot(model, Magnitude(), loss, X, Y, 0.5)
    assert len(second.deletions) == 29 - 17
    assert prune.pruned_fraction(model) == pytest.approx(29 / 58)
    assert prune.one_shot(model, Magnitude(), loss, X, Y, 0.4).deletions == []  # never un-deletes


def test_obs_writes_its_update_into_the_orig_tensors(fresh):
    model, loss, X, Y = fresh
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    obs = OBS()
    selection = obs.select(model, loss, X, Y, count=5)
    prune.apply_selection(model, selection, prune.prunable_names(model))
    mask = model_mask(model)
    for n, p in model.named_parameters():
        old = n.removesuffix("_orig")
        expected = torch.where(mask[n], before[old] + selection.delta[old], torch.zeros_like(p))
        assert torch.equal(p.detach(), expected)
    moved = sum(int((p.detach() != before[n.removesuffix("_orig")])[mask[n]].sum())
                for n, p in model.named_parameters())
    assert moved > 40  # OBS adjusts the surviving weights


def test_a_selection_outside_the_prunable_set_is_refused(fresh):
    model = fresh[0]
    selection = Selection([Deletion("0.bias", 0, 0.0)])
    with pytest.raises(ValueError, match=r"deletes entries of '0.bias', which is not prunable"):
        prune.apply_selection(model, selection, ["0.weight", "2.weight"])


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"count": -1}, ValueError, "count must be a non-negative integer or None; got -1"),
    ({"count": 2.5}, ValueError, "count must be a non-negative integer or None; got 2.5"),
])
def test_step_validates_count(fresh, kwargs, error, match):
    model, loss, X, Y = fresh
    with pytest.raises(error, match=match):
        prune.step(model, Magnitude(), loss, X, Y, **kwargs)


# ------------------------------------------------------------------------------------- frozen through
# training


def _train_steps(model, loss, X, Y):
    for opt in (torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=0.01),
                torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=0.01)):
        for _ in range(5):
            opt.zero_grad()
            loss(model(X), Y).backward()
            opt.step()
    fit(model, loss, X, Y, TrainConfig(optimizer="lbfgs", epochs=10, weight_decay=1e-3))


def test_deleted_entries_stay_zero_through_optimiser_steps(fresh):
    model, loss, X, Y = fresh
    prune.one_shot(model, Magnitude(), loss, X, Y, 0.6)
    mask = model_mask(model)
    survivors = {n: p.detach().clone() for n, p in model.named_parameters()}
    _train_steps(model, loss, X, Y)
    model(X)
    for n, p in model.named_parameters():
        assert torch.all(effective_params(model)[n].detach()[~mask[n]] == 0)
        assert torch.all(p.detach()[~mask[n]] == 0)
    assert any(not torch.equal(p.detach(), survivors[n]) for n, p in model.named_parameters())
    assert torch.equal(torch.stack([m.all() for m in model_mask(model).values()]),
                       torch.stack([m.all() for m in mask.values()]))


def test_a_pruned_model_survives_save_and_reload_with_its_masks(fresh, tmp_path):
    model, loss, X, Y = fresh
    prune.one_shot(model, OBS(), loss, X, Y, 0.5)
    path = save_checkpoint(model, tmp_path / "pruned.pt", {"sparsity": 0.5})
    loaded, meta = load_checkpoint(path)
    assert meta == {"sparsity": 0.5}
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]
    mask = model_mask(loaded)
    assert all(torch.equal(mask[n], m) for n, m in model_mask(model).items())
    assert torch.equal(loaded(X), model(X))
    _train_steps(loaded, loss, X, Y)
    loaded(X)
    for n, t in effective_params(loaded).items():
        assert torch.all(t.detach()[~mask[n]] == 0)


# -------------------------------------------------------------------------------------------------- iterative


def test_iterative_reaches_the_target_in_rounds_with_retraining(fresh):
    model, loss, X, Y = fresh
    result = prune.iterative(model, Magnitude(), loss, X, Y, 0.75, rounds=3, retrain=15)
    assert [r["deleted"] for r in result.rounds] == [14, 14, 15]
    assert result.sparsity == pytest.approx(43 / 58) and len(result.deletions) == 43
    for r in result.rounds:
        assert r["loss_retrained"] <= r["loss_pruned"] + 1e-12
    mask = model_mask(model)
    assert sum(int((~m).sum()) for m in mask.values()) == 43


def test_iterative_without_retraining_equals_rounds_of_one_shot(fresh):
    model, loss, X, Y = fresh
    other = copy.deepcopy(model)
    prune.iterative(model, OBS(), loss, X, Y, 0.5, rounds=2)
    prune.one_shot(other, OBS(), loss, X, Y, 0.25)
    prune.one_shot(other, OBS(), loss, X, Y, 0.5)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values(),
                                                  strict=True))


def test_iterative_stops_when_the_method_stops(fresh):
    model, loss, X, Y = fresh
    result = prune.iterative(model, OBS(stop_ratio=1e-12), loss, X, Y, 0.9, rounds=3)
    assert result.stopped == "stop-rule" and len(result.rounds) == 1


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"rounds": 0}, ValueError, "rounds must be a positive integer; got 0"),
    ({"retrain": "lbfgs"}, TypeError,
     "retrain must be a TrainConfig, an integer number of L-BFGS iterations, or None"),
])
def test_iterative_validates_its_arguments(fresh, kwargs, error, match):
    model, loss, X, Y = fresh
    with pytest.raises(error, match=match):
        prune.iterative(model, Magnitude(), loss, X, Y, 0.5, **kwargs)


# ------------------------------------------------------------------------------------------- one-shot paths


def _states(model):
    return {k: v.detach().clone() for k, v in effective_params(model).items()}


@pytest.mark.parametrize("method", ["magnitude", "obs-full"])
def test_one_shot_path_equals_one_shot_at_each_sparsity(problem, method):
    # A method without a path prunes a fresh copy per sparsity; obs-full continues one deletion sequence, which
    # with one weight per group (no group cut at a stop) is deletion for deletion what one_shot does from the
    # dense model: the same operations, so the same bits.
    from prunebench.methods.fullobs import FullOBS

    model, loss, X, Y = problem
    make = (lambda: Magnitude()) if method == "magnitude" else (lambda: FullOBS(damping=1e-3, group_size=1))
    sparsities = [0.2, 0.5, 0.8]
    before = _states(model)
    path = list(prune.one_shot_path(model, make(), loss, X, Y, sparsities))
    assert all(torch.equal(before[k], v) for k, v in _states(model).items()), "the input model was modified"
    assert len(path) == len(sparsities)
    for s, (pruned, result) in zip(sparsities, path, strict=True):
        alone = copy.deepcopy(model)
        expected = prune.one_shot(alone, make(), loss, X, Y, s)
        assert [(d.name, d.index) for d in result.deletions] == [(d.name, d.index) for d in expected.deletions]
        assert result.sparsity == expected.sparsity
        for k, v in _states(alone).items():
            assert torch.equal(_states(pruned)[k], v), (s, k)


def test_one_shot_path_refuses_unsorted_sparsities(problem):
    model, loss, X, Y = problem
    with pytest.raises(ValueError, match=r"sparsities must be increasing and distinct; got \[0.5, 0.2\]"):
        next(prune.one_shot_path(model, Magnitude(), loss, X, Y, [0.5, 0.2]))


def test_path_at_counts_equals_one_shot_path_at_the_same_counts(problem):
    from prunebench.methods.fullobs import FullOBS

    model, loss, X, Y = problem
    total = sum(p.numel() for p in model.parameters())
    sparsities = [0.2, 0.5]
    counts = [prune._deletion_count(s, total) for s in sparsities]
    by_count = list(prune.path_at_counts(model, FullOBS(damping=1e-3, group_size=1), loss, X, Y, counts))
    by_sparsity = list(prune.one_shot_path(model, FullOBS(damping=1e-3, group_size=1), loss, X, Y, sparsities))
    for (a, ra), (b, rb) in zip(by_count, by_sparsity, strict=True):
        assert [(d.name, d.index) for d in ra.deletions] == [(d.name, d.index) for d in rb.deletions]
        assert all(torch.equal(v, _states(b)[k]) for k, v in _states(a).items())


@pytest.mark.parametrize(("counts", "match"), [
    ([5, 2], r"counts must be increasing; got \[5, 2\]"),
    ([-1], "each count must be a non-negative integer; got -1"),
])
def test_path_at_counts_validates_the_counts(problem, counts, match):
    model, loss, X, Y = problem
    with pytest.raises(ValueError, match=match):
        next(prune.path_at_counts(model, Magnitude(), loss, X, Y, counts))


# ------------------------------------------------------------------------------------------- gradual and
# stepwise loops


@pytest.mark.parametrize("method", ["magnitude", "obs-full"])
def test_gradual_follows_the_sequence_one_entry_at_a_time(problem, method):
    """After k deletions the model is the one-shot selection of k entries (the sequence's prefixes are its
    selections, OBS's update included), and the sequence runs to the last entry."""
    from prunebench.methods.fullobs import FullOBS

    model, loss, X, Y = problem
    make = (lambda: Magnitude()) if method == "magnitude" else (lambda: FullOBS(damping=1e-3, group_size=1))
    net = copy.deepcopy(model)
    deletions = prune.gradual(net, make(), loss, X, Y)
    for k in range(1, 4):
        next(deletions)
        alone = copy.deepcopy(model)
        prune.step(alone, make(), loss, X, Y, count=k)
        for name, v in _states(alone).items():
            torch.testing.assert_close(_states(net)[name], v, rtol=1e-10, atol=1e-12)
    rest = 0
    with pytest.raises(StopIteration) as end:
        while True:
            next(deletions)
            rest += 1
    assert end.value.value == "exhausted" and 3 + rest == sum(p.numel() for p in model.parameters())
    assert prune.pruned_fraction(net) == 1.0


def test_stepwise_reaches_each_cumulative_count_and_sees_the_retrained_model(fresh):
    model, loss, X, Y = fresh
    rounds = prune.stepwise(model, Magnitude(), loss, X, Y, [5, 12])
    first = next(rounds)
    assert len(first.deletions) == 5
    _train_steps(model, loss, X, Y)  # retrain between rounds: the next round ranks the retrained weights
    ranked = Magnitude().select(model, loss, X, Y, count=7, mask=model_mask(model))
    second = next(rounds)
    assert [(d.name, d.index) for d in second.deletions] == [
        (d.name if d.name.endswith("_orig") else d.name + "_orig", d.index) for d in ranked.deletions]
    assert sum(int((~m).sum()) for m in model_mask(model).values()) == 12
    assert next(rounds, None) is None


def test_clone_copies_a_pruned_model_whose_weight_carries_a_graph(fresh):
    model, loss, X, Y = fresh
    prune.one_shot(model, Magnitude(), loss, X, Y, 0.5)
    loss(model(X), Y).backward()
    with pytest.raises(RuntimeError):
        copy.deepcopy(model)
    copied = prune.clone(model)
    assert all(torch.equal(v, _states(model)[k]) for k, v in _states(copied).items())


def test_prefixes_of_one_ranking_are_the_one_shot_nets_of_a_rank_once_method(problem):
    model, loss, X, Y = problem
    before = _states(model)
    ranking = Magnitude().select(model, loss, X, Y, count=30)
    nets = list(prune.prefixes(model, ranking, [10, 30]))
    assert all(torch.equal(before[k], v) for k, v in _states(model).items()), "the input model was modified"
    for count, net in zip([10, 30], nets, strict=True):
        alone = copy.deepcopy(model)
        prune.step(alone, Magnitude(), loss, X, Y, count=count)
        assert all(torch.equal(_states(alone)[k], v) for k, v in _states(net).items())


def test_prefixes_refuse_a_ranking_that_moves_the_weights(problem):
    model, loss, X, Y = problem
    moving = OBS().select(model, loss, X, Y, count=3)
    with pytest.raises(ValueError, match="prefixes needs a ranking that leaves the surviving weights alone"):
        next(prune.prefixes(model, moving, [1]))


# Ranking scope: ``global`` (one ranking over all prunable tensors) and ``layer`` (each tensor to the target).
RANKED_METHODS = [("magnitude", {}), ("random", {}), ("obd", {"curvature": "fisher"}),
           ("obs", {"curvature": "fisher", "damping": 1e-3}),
           ("obs-full", {"damping": 1e-3, "samples": None}),
           ("obs-full", {"damping": 1e-3, "samples": None, "group_size": 4}),
           ("obs-full", {"damping": 1e-3, "samples": None, "procedure": "one-step"}),
           ("obs-full", {"damping": 1e-3, "samples": None, "blocks": "module", "procedure": "one-step"}),
           ("kfac", {"damping": 1e-3})]

RANKED_IDS = [f"{n}-{i}" for i, (n, _) in enumerate(RANKED_METHODS)]


def _ranking_problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    g = torch.Generator().manual_seed(1)
    return model, torch.randn(40, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (40,), generator=g)


@pytest.mark.parametrize(("name", "params"), RANKED_METHODS, ids=RANKED_IDS)
def test_layer_ranking_prunes_every_tensor_to_the_target(name, params):
    model, x, y = _ranking_problem()
    prune.one_shot(model, get(name, **params), nn.CrossEntropyLoss(), x, y, 0.6, ranking="layer")
    for key, m in model_mask(model).items():
        assert int((~m).sum()) == int(0.6 * m.numel()), key


def test_layer_ranking_keeps_each_tensors_own_order():
    """Rank-once methods: layer ranking deletes the lowest saliencies of each tensor."""
    model, x, y = _ranking_problem()
    method = get("obd", curvature="fisher")
    s = method.saliency(model, nn.CrossEntropyLoss(), x, y)
    prune.one_shot(model, method, nn.CrossEntropyLoss(), x, y, 0.5, ranking="layer")
    for key, m in model_mask(model).items():
        k = int(0.5 * m.numel())
        lowest = torch.argsort(s[key.removesuffix("_orig")].reshape(-1), stable=True)[:k]
        assert set(torch.nonzero(~m.reshape(-1)).reshape(-1).tolist()) == set(lowest.tolist())


def test_global_and_layer_differ_and_global_is_one_ranking():
    model, x, y = _ranking_problem()
    layer = model_mask(model)
    prune.one_shot(model, get("magnitude"), nn.CrossEntropyLoss(), x, y, 0.6, ranking="global")
    glob = model_mask(model)
    weights = torch.cat([p.detach().abs().reshape(-1) for p in _ranking_problem()[0].parameters()])
    k = int(0.6 * weights.numel())
    assert sum(int((~m).sum()) for m in glob.values()) == k
    assert layer is not None


def test_ranking_validation_and_iterative_layer():
    model, x, y = _ranking_problem()
    with pytest.raises(ValueError, match=r"ranking must be one of \['global', 'layer'\]; got 'row'"):
        prune.one_shot(model, get("magnitude"), nn.CrossEntropyLoss(), x, y, 0.5, ranking="row")
    prune.iterative(model, get("obd", curvature="fisher"), nn.CrossEntropyLoss(), x, y, 0.6, rounds=3,
                    ranking="layer")
    for key, m in model_mask(model).items():
        assert int((~m).sum()) == int(0.6 * m.numel()), key
