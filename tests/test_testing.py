"""The conformance check itself: it passes good methods and names the check a broken method fails."""

import doctest

import pytest
import torch

from prunebench import testing
from prunebench.methods import Magnitude, PruningMethod, model_mask
from prunebench.models import effective_params


class _Base(PruningMethod):
    citation = "a test method"

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        mask = model_mask(model) if mask is None else mask
        return {n: p.detach().abs() * mask[n] for n, p in effective_params(model).items()}


class MissingKey(_Base):
    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        out = super().saliency(model, loss_fn, inputs, targets, mask=mask)
        out.pop(next(iter(out)))
        return out


class WrongShape(_Base):
    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        sal = super().saliency(model, loss_fn, inputs, targets, mask=mask)
        return {n: s.reshape(-1) for n, s in sal.items()}


class Negative(_Base):
    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        return {n: -s for n, s in super().saliency(model, loss_fn, inputs, targets, mask=mask).items()}


class NotFinite(_Base):
    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        return {n: s / 0 for n, s in super().saliency(model, loss_fn, inputs, targets, mask=mask).items()}


class Unseeded(_Base):
    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        return {n: torch.rand(p.shape, dtype=p.dtype) for n, p in model.named_parameters()}


class DataDependent(_Base):
    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        scale = float(targets.abs().sum())
        return {n: s * scale for n, s in super().saliency(model, loss_fn, inputs, targets, mask=mask).items()}


class ClaimsToMove(_Base):
    moves_weights = True


class UpdatesWithoutFlag(_Base):
    def update(self, model, loss_fn, inputs, targets, *, mask=None, delete):
        return {n: torch.zeros_like(p) for n, p in model.named_parameters()}


class BadUpdate(_Base):
    curvature = "inverse"
    moves_weights = True

    def update(self, model, loss_fn, inputs, targets, *, mask=None, delete):
        return {n: torch.zeros_like(p) for n, p in model.named_parameters()}


class DeletedNotZero(_Base):
    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        return {n: p.detach().abs() + 1 for n, p in model.named_parameters()}


class NoCitation(_Base):
    citation = ""


@pytest.mark.parametrize(("cls", "check", "detail"), [
    (NoCitation, "flags", "citation must be a non-empty string"),
    (ClaimsToMove, "hooks", "moves_weights is True but update is not implemented"),
    (UpdatesWithoutFlag, "hooks", "moves_weights is False but update is implemented"),
    (MissingKey, "keys-and-shapes", "saliency keys"),
    (WrongShape, "keys-and-shapes", r"must be a tensor of shape \(3, 17\)"),
    (Negative, "finite-nonnegative", r"has \d+ negative of \d+ entries"),
    (NotFinite, "finite-nonnegative", r"has \d+ non-finite of \d+ entries"),
    (Unseeded, "determinism", "two computations"),
    (DataDependent, "data-independence", "curvature is None but the saliencies depend on the data"),
    (DeletedNotZero, "deleted-saliency-zero", "it must be 0"),
    (BadUpdate, "update", "the update leaves deleted entries"),
])
def test_a_broken_method_fails_the_named_check(cls, check, detail):
    expected = rf"(?s){cls.__name__}\(\) fails conformance check '{check}': .*{detail}"
    with pytest.raises(AssertionError, match=expected):
        testing.check_method(cls)


def test_a_good_method_passes_every_check():
    passed = testing.check_method(Magnitude())
    assert passed == [c for c in testing.CHECKS if c != "update"]


def test_check_method_accepts_a_name_a_class_or_an_instance_and_nothing_else():
    assert testing.check_method("magnitude") == testing.check_method(Magnitude)
    with pytest.raises(TypeError, match="method must be a registered name, a PruningMethod subclass or "):
        testing.check_method(3)


def test_check_method_takes_a_custom_problem_and_skips_save_reload_for_unnamed_models():
    from torch import nn

    from prunebench.models import Net

    model = Net("MLP(3-2)", (3,), nn.Linear(3, 2)).double()
    X, Y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    passed = testing.check_method("magnitude", problem=(model, nn.MSELoss(), X, Y))
    assert "save-reload" not in passed and "pruning" in passed


def test_tiny_problem_is_deterministic_and_near_a_minimum():
    a, loss, X, Y = testing.tiny_problem(0)
    b = testing.tiny_problem(0)[0]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    grads = torch.autograd.grad(loss(a(X), Y), list(a.parameters()))
    assert sum(float((g**2).sum()) for g in grads) ** 0.5 < 1e-3


def test_testing_module_doctest_runs():
    result = doctest.testmod(testing, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2 and result.failed == 0
