"""Conformance checks that every pruning method, built in or plug-in, must pass.

>>> from prunebench.testing import check_method
>>> check_method("magnitude")  # doctest: +ELLIPSIS
['flags', 'hooks', 'keys-and-shapes', ...]

Each check raises ``AssertionError`` with a message that names the method, the check and what differed (this
is a test utility). :func:`check_method` returns the names of the checks that passed.
"""

from __future__ import annotations

import copy
import functools

import torch
from torch import nn

from . import prune
from .methods import registry
from .methods.base import CURVATURE_FORMS, PruningMethod, candidate_mask, model_mask
from .models import MODELS, Net, build, effective_params

__all__ = ["CHECKS", "check_method", "least_squares", "tiny_problem"]

CHECKS = ("flags", "hooks", "keys-and-shapes", "finite-nonnegative", "determinism", "data-independence",
          "sparsity-zero", "pruning", "deleted-saliency-zero", "update", "stays-zero-after-optimiser",
          "save-reload")


def tiny_problem(seed: int = 0, dtype: torch.dtype = torch.float64):
    """The MONK net (17-3-1 sigmoid, 58 parameters) near a minimum of MSE on 32 random binary inputs labelled
    by a random teacher of the same shape: ``(model, loss_fn, X, Y)``, a fresh copy on every call.

    Trained by a few full-batch L-BFGS iterations (once per process and seed) so that curvature-based methods
    see a sensible Hessian.
    """
    model, loss_fn, X, Y = _trained_tiny_problem(seed, dtype)
    return copy.deepcopy(model), loss_fn, X.clone(), Y.clone()


@functools.cache
def _trained_tiny_problem(seed: int, dtype: torch.dtype):
    from .train import TrainConfig, fit

    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, 2, (32, 17), generator=g).to(dtype)
    teacher = build("monk-17-3-1", seed=seed + 1, dtype=dtype)
    with torch.no_grad():
        Y = teacher(4 * X - 2)
    model = build("monk-17-3-1", seed=seed, dtype=dtype)
    loss_fn = nn.MSELoss()
    fit(model, loss_fn, X, Y, TrainConfig(optimizer="lbfgs", epochs=30), seed=seed)
    return model, loss_fn, X, Y


def least_squares(samples: int, features: int, seed: int = 0):
    """A linear model (``features`` inputs, one output, no bias, float64, frozen) at the minimum of
    ``MSELoss(reduction="sum")`` on ``samples`` random points: ``(model, loss_fn, X, y)``, ``X`` of shape
    ``[samples, features]`` and ``y`` ``[samples, 1]`` drawn from a generator seeded with ``seed``. ``E`` is
    quadratic in the weights, so OBS's predicted loss change is exact there (the doctests of
    :mod:`prunebench.methods.hassibi1993obs` and :mod:`prunebench.methods.fullobs`)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(samples, features, generator=g, dtype=torch.float64)
    y = torch.randn(samples, 1, generator=g, dtype=torch.float64)
    model = nn.Sequential(nn.Linear(features, 1, bias=False)).double().requires_grad_(False)
    with torch.no_grad():
        model[0].weight.copy_(torch.linalg.lstsq(X, y).solution.T)
    return model, nn.MSELoss(reduction="sum"), X, y


def _fail(method, check, message):
    raise AssertionError(f"{method!r} fails conformance check {check!r}: {message}")


def _instance(method_or_name) -> PruningMethod:
    if isinstance(method_or_name, str):
        return registry.get(method_or_name)
    if isinstance(method_or_name, PruningMethod):
        return method_or_name
    if isinstance(method_or_name, type) and issubclass(method_or_name, PruningMethod):
        return method_or_name()
    raise TypeError("method must be a registered name, a PruningMethod subclass or instance; "
                    f"got {method_or_name!r}")


def _check_saliency(method, check, model, sal):
    expected = {n: p.shape for n, p in model.named_parameters()}
    if set(sal) != set(expected):
        _fail(method, check, f"saliency keys {sorted(sal)} differ from named_parameters {sorted(expected)}")
    for name, shape in expected.items():
        s = sal[name]
        if not isinstance(s, torch.Tensor) or s.shape != shape:
            _fail(method, check, f"saliency[{name!r}] must be a tensor of shape {tuple(shape)}; got "
                                 f"{getattr(s, 'shape', type(s))}")
        if not s.is_floating_point():
            _fail(method, check, f"saliency[{name!r}] must be floating point; got {s.dtype}")


def _same(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def check_method(method_or_name, *, problem=None, seed: int = 0) -> list[str]:
    """Run every conformance check on a method (a registered name, a class or an instance).

    ``problem``: ``(model, loss_fn, inputs, targets)`` to check on (default :func:`tiny_problem`); an unpruned
    model (it is copied, never modified); the save-reload check runs only for a model built by
    :func:`prunebench.models.build`. Checks, in order (:data:`CHECKS`): the flags are valid; ``update`` is
    implemented exactly when ``moves_weights``; saliencies are keyed and shaped like ``named_parameters``;
    they are finite and >= 0; a second instance with the same parameters gives bitwise the same saliencies,
    and so does a second call; a method without curvature (``curvature=None``) ignores the data; sparsity 0
    changes nothing; pruning to 50% deletes exactly that many entries, makes them zero, and (unless
    ``moves_weights``) leaves the others bitwise alone; on the pruned model deleted entries have saliency 0;
    ``update`` keys its change like ``named_parameters`` and zeroes the deleted entries; deleted entries stay
    zero through SGD (momentum, weight decay) and Adam steps; and a pruned model survives save and reload with
    its masks.
    """
    method = _instance(method_or_name)
    cls = type(method)
    base_model, loss_fn, X, Y = problem if problem is not None else tiny_problem(seed)
    passed = []

    if cls.curvature not in CURVATURE_FORMS:
        _fail(method, "flags", f"curvature must be one of {list(CURVATURE_FORMS)}; got {cls.curvature!r}")
    if not isinstance(cls.moves_weights, bool):
        _fail(method, "flags", f"moves_weights must be a bool; got {cls.moves_weights!r}")
    if not isinstance(cls.citation, str) or not cls.citation.strip():
        _fail(method, "flags", "citation must be a non-empty string naming the work it implements")
    passed.append("flags")

    if cls.saliency is PruningMethod.saliency:
        _fail(method, "hooks", "saliency is not implemented")
    has_update = cls.update is not PruningMethod.update
    if has_update != cls.moves_weights:
        _fail(method, "hooks", f"moves_weights is {cls.moves_weights} but update is "
                               f"{'implemented' if has_update else 'not implemented'}; they must agree")
    passed.append("hooks")

    model = copy.deepcopy(base_model)
    sal = method.saliency(model, loss_fn, X, Y, mask=model_mask(model))
    _check_saliency(method, "keys-and-shapes", model, sal)
    passed.append("keys-and-shapes")

    for name, s in sal.items():
        if not torch.isfinite(s).all():
            _fail(method, "finite-nonnegative", f"saliency[{name!r}] has {int((~torch.isfinite(s)).sum())} "
                                                f"non-finite of {s.numel()} entries")
        if (s < 0).any():
            _fail(method, "finite-nonnegative", f"saliency[{name!r}] has {int((s < 0).sum())} negative of "
                                                f"{s.numel()} entries (min {float(s.min()):.3g})")
    passed.append("finite-nonnegative")

    twin = cls(**method.params)
    again = twin.saliency(copy.deepcopy(base_model), loss_fn, X, Y, mask=model_mask(model))
    if not _same(sal, again) or not _same(sal, method.saliency(model, loss_fn, X, Y, mask=model_mask(model))):
        _fail(method, "determinism", f"two computations with parameters {method.params} differ; seed every "
                                     "random choice from the method's parameters")
    passed.append("determinism")

    if cls.curvature is None:
        other_y = 0.5 * Y + 0.25 if Y.is_floating_point() else Y.flip(0)
        other = method.saliency(model, loss_fn, 0.5 * X.flip(0) + 1.0, other_y, mask=model_mask(model))
        if not _same(sal, other):
            _fail(method, "data-independence", "curvature is None but the saliencies depend on the data; "
                                               "declare the curvature the method uses")
        passed.append("data-independence")

    model = copy.deepcopy(base_model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    result = prune.one_shot(model, method, loss_fn, X, Y, 0.0)
    if result.deletions or not _same(state, model.state_dict()):
        _fail(method, "sparsity-zero", "pruning to sparsity 0 changed the model")
    passed.append("sparsity-zero")

    model = copy.deepcopy(base_model)
    before = {k: v.detach().clone() for k, v in effective_params(model).items()}
    total = sum(p.numel() for p in model.parameters())
    result = prune.one_shot(model, method, loss_fn, X, Y, 0.5)
    mask = model_mask(model)
    deleted = sum(int((~m).sum()) for m in mask.values())
    if deleted != total // 2 or len(result.deletions) != total // 2:
        _fail(method, "pruning", f"pruning to 0.5 of {total} entries deleted {deleted} "
                                 f"({len(result.deletions)} reported); expected {total // 2}")
    after = {k: v.detach() for k, v in effective_params(model).items()}
    for (old, w0), (new, w1) in zip(before.items(), after.items(), strict=True):
        if (w1[~mask[new]] != 0).any():
            _fail(method, "pruning", f"deleted entries of {new!r} are not zero: {w1[~mask[new]]}")
        if not cls.moves_weights and not torch.equal(w0[mask[new]], w1[mask[new]]):
            _fail(method, "pruning", f"moves_weights is False but surviving entries of {old!r} changed")
    passed.append("pruning")

    sal = method.saliency(model, loss_fn, X, Y, mask=mask)
    _check_saliency(method, "deleted-saliency-zero", model, sal)
    for name, s in sal.items():
        if (s[~mask[name]] != 0).any():
            _fail(method, "deleted-saliency-zero", f"already-deleted entries of {name!r} have saliency "
                                                   f"{s[~mask[name]]}; it must be 0")
    passed.append("deleted-saliency-zero")

    if cls.moves_weights:
        cand = candidate_mask(model, mask)
        first = next(n for n, c in cand.items() if c.any())
        delete = {n: torch.zeros_like(c) for n, c in cand.items()}
        delete[first].view(-1)[int(torch.nonzero(cand[first].reshape(-1))[0])] = True
        delta = method.update(model, loss_fn, X, Y, mask=mask, delete=delete)
        _check_saliency(method, "update", model, delta)
        for name, w in effective_params(model).items():
            moved = w.detach() + delta[name]
            if (moved[delete[name]] != 0).any():
                _fail(method, "update", f"the update leaves deleted entries of {name!r} at "
                                        f"{moved[delete[name]]}")
        passed.append("update")

    for make in (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
                 lambda ps: torch.optim.Adam(ps, lr=0.1, weight_decay=0.1)):
        opt = make(list(model.parameters()))
        for _ in range(3):
            opt.zero_grad()
            loss_fn(model(X), Y).backward()
            opt.step()
        model(X)
        for name, w in effective_params(model).items():
            if (w.detach()[~mask[name]] != 0).any():
                _fail(method, "stays-zero-after-optimiser", f"deleted entries of {name!r} moved after "
                                                            f"{type(opt).__name__} steps")
    passed.append("stays-zero-after-optimiser")

    if _check_save_reload(method, model, X):
        passed.append("save-reload")
    return passed


def _check_save_reload(method, model, X) -> bool:
    """Save and reload a pruned model built by name; False (skipped) for models that were not."""
    import tempfile
    from pathlib import Path

    from .train import load_checkpoint, save_checkpoint

    if not isinstance(model, Net) or model.name not in MODELS:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        loaded, _ = load_checkpoint(save_checkpoint(model, Path(tmp) / "pruned.pt"))
    loaded = loaded.to(X.dtype)
    if not _same(model_mask(model), model_mask(loaded)) or not torch.equal(model(X), loaded(X)):
        _fail(method, "save-reload", "the reloaded pruned model differs from the saved one")
    return True
