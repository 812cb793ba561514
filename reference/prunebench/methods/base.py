"""The pruning-method interface: one base class, capability flags, and the hooks every method implements.

A method is a small class. Class-level flags say what it needs and what it does:

- ``curvature``: the *form* of second-order information it uses, one of :data:`CURVATURE_FORMS` (``None`` for
  methods that look at the weights alone, ``"gradient"``, ``"diag"`` for a Hessian diagonal, ``"dense"`` for a
  full matrix, ``"inverse"`` for an inverse Hessian). Not to be confused with a method's ``curvature=``
  parameter, which names the *matrix* (a kind of :mod:`prunebench.curvature.kinds`: ``"exact"``, ``"ggn"``,
  ...): the flag says what shape of information, the parameter which matrix supplies it;
- ``moves_weights``: whether deleting weights also changes the surviving ones (Optimal Brain Surgeon does);
- ``citation``: the reference it implements (free text, one line).

Hooks, all taking the model, the objective ``E = loss_fn(model(inputs), targets)`` and the data:

- :meth:`PruningMethod.saliency` (required): the predicted increase of E when each entry alone is deleted, a
  dict keyed like ``dict(model.named_parameters())``, each value shaped like its parameter, finite and >= 0,
  and 0 for entries already deleted;
- :meth:`PruningMethod.update` (required exactly when ``moves_weights``): the change of every weight that goes
  with deleting a given set of entries jointly; deleted entries end at zero;
- :meth:`PruningMethod.sequence` and :meth:`PruningMethod.select` (provided): the deletion order and a chunk
  of it. Rank-once methods need not touch them; a method that re-ranks after each deletion (OBS) overrides
  :meth:`~PruningMethod.sequence`.

Ranking scope: ``select`` and ``sequence`` take ``quotas`` (``None``, or a dict keyed like ``named_parameters``
of how many entries of each tensor to delete): ``None`` is one ranking over every candidate (``"global"``);
with quotas each tensor is pruned to its own count (``"layer"``: the lowest-ranked entries of each tensor; a
method that re-ranks after every deletion takes the best deletion among the tensors whose quota is not yet
met). :func:`prunebench.prune.one_shot` turns ``ranking="layer"`` into the quotas.

Masks: ``mask`` and ``candidates`` are dicts keyed like ``named_parameters`` of boolean tensors shaped like
each parameter: ``mask`` is True where an entry is still present, ``candidates`` where it may be deleted now
(present and prunable). Saliencies and curvature are with respect to the effective tensors (``weight_orig *
weight_mask``).

Methods are guests (plug-ins run the same way as built-ins): every saliency a ranking uses is checked
(:func:`check_tensors`: one finite tensor per parameter, shaped like it), and an exception raised inside a
method is re-raised as :class:`MethodError` ("method NAME failed: ...", the method's own exception as its
cause) by :func:`guest`, so that it is never mistaken for a mistake of the user's.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from .._validation import integer
from ..models import effective_params

__all__ = ["CURVATURE_FORMS", "RANKINGS", "Deletion", "MethodError", "PruningMethod", "Selection",
           "Step", "candidate_mask", "check_choice", "check_quotas", "check_tensors", "effective_weights", "guest",
           "method_name", "model_mask", "zero_where_deleted"]

RANKINGS = ("global", "layer")
"""Ranking scopes: one ranking over all prunable tensors, or each tensor pruned to the target separately."""

CURVATURE_FORMS = (None, "gradient", "diag", "dense", "inverse")
"""Values the ``curvature`` flag may take: the form of second-order information a method uses."""


def __getattr__(name: str) -> Any:
    if name == "CURVATURE_KINDS":  # its first name, before the matrix kinds of prunebench.curvature.kinds
        warnings.warn("CURVATURE_KINDS is deprecated; use CURVATURE_FORMS (same values)", DeprecationWarning,
                      stacklevel=2)
        return CURVATURE_FORMS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

Tensors = dict[str, torch.Tensor]


class MethodError(RuntimeError):
    """A pruning method (built in or plug-in) raised, or returned something that breaks the contract."""


def method_name(method: Any) -> str:
    """The name ``method`` was registered under (``registry.get`` stamps it), else its class name."""
    return getattr(method, "registered_name", None) or type(method).__name__


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:120]


def check_tensors(method: Any, what: str, tensors: Any, model: nn.Module) -> Tensors:
    """``tensors`` (a method's saliency or update) after checking it holds one floating-point tensor per
    parameter of ``model``, shaped like it, every entry finite; otherwise :class:`MethodError` naming the
    method and what it returned."""
    name = method_name(method)
    expected = {n: p.shape for n, p in model.named_parameters()}
    if not isinstance(tensors, dict):
        raise MethodError(f"method {name!r} returned {_describe(tensors)} as its {what}; expected a dict with one "
                          f"tensor per parameter {sorted(expected)}")
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise MethodError(f"method {name!r} returned a {what} keyed {sorted(tensors)}; expected one per parameter "
                          f"{sorted(expected)} (missing {missing}, unexpected {extra})")
    for key, shape in expected.items():
        value = tensors[key]
        if not isinstance(value, torch.Tensor) or value.shape != shape or not value.is_floating_point():
            raise MethodError(f"method {name!r} returned {_describe(value)} as the {what} of {key!r}; expected a "
                              f"floating-point tensor of shape {tuple(shape)}")
        bad = ~torch.isfinite(value.detach())
        if bool(bad.any()):
            first = value.detach().reshape(-1)[bad.reshape(-1)][0].item()
            raise MethodError(f"method {name!r} returned a {what} with {int(bad.sum())} non-finite of "
                              f"{value.numel()} entries in {key!r} (e.g. {first}); every entry must be finite")
    return tensors


@contextlib.contextmanager
def guest(method: Any) -> Iterator[None]:
    """Run code that calls into ``method``: its exceptions become :class:`MethodError` ("method NAME failed:
    TYPE: message", chained to the original so ``-v`` shows the method's traceback)."""
    try:
        yield
    except MethodError:
        raise
    except Exception as exc:
        raise MethodError(f"method {method_name(method)!r} failed: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class Deletion:
    """One deleted entry: parameter ``name`` (a key of ``named_parameters``), ``index`` into its flattened
    tensor, and ``saliency``, the increase of E predicted for it when it was deleted (after the deletions
    before it)."""

    name: str
    index: int
    saliency: float


@dataclass(frozen=True)
class Step:
    """One step of a deletion sequence: the deletion and, for methods that move weights, the cumulative change
    of every weight since the start of the sequence (keyed like ``named_parameters``; ``None`` otherwise)."""

    deletion: Deletion
    delta: Tensors | None = None


@dataclass
class Selection:
    """A chunk of deletions chosen by :meth:`PruningMethod.select`.

    ``delta`` (methods that move weights) is the change to add to the effective weights, keyed like
    ``named_parameters``; the deleted entries of ``weights + delta`` are zero. ``stopped`` says why the chunk
    ended: ``"count"`` (the requested number), ``"exhausted"`` (no candidates left) or a method's own reason
    (e.g. OBS's stopping rule).
    """

    deletions: list[Deletion] = field(default_factory=list)
    delta: Tensors | None = None
    stopped: str = "count"

    @property
    def predicted_change(self) -> float:
        """Sum of the saliencies: the predicted increase of E over the whole chunk (OBD's Fig. 1b)."""
        return float(sum(d.saliency for d in self.deletions))

    def delete_masks(self, like: Tensors) -> dict[str, torch.Tensor]:
        """Boolean masks (True = deleted in this chunk) keyed and shaped like ``like``."""
        out = {name: torch.zeros(t.shape, dtype=torch.bool, device=t.device) for name, t in like.items()}
        for d in self.deletions:
            out[d.name].view(-1)[d.index] = True
        return out


def model_mask(model: nn.Module) -> dict[str, torch.Tensor]:
    """Which entries are present: True except where a ``torch.nn.utils.prune`` mask is 0; keyed like
    ``named_parameters``, each shaped like its parameter."""
    modules = dict(model.named_modules())
    out = {}
    for name, p in model.named_parameters():
        prefix, _, leaf = name.rpartition(".")
        if leaf.endswith("_orig"):
            buffer = getattr(modules[prefix], leaf[: -len("_orig")] + "_mask")
            out[name] = buffer.detach() != 0
        else:
            out[name] = torch.ones(p.shape, dtype=torch.bool, device=p.device)
    return out


def candidate_mask(model: nn.Module, mask: dict[str, torch.Tensor] | None = None,
                   prunable: list[str] | None = None) -> dict[str, torch.Tensor]:
    """Entries that may be deleted now: present (``mask``) and in a parameter named in ``prunable`` (default:
    all). ``prunable`` names may be given with or without the ``_orig`` suffix."""
    mask = model_mask(model) if mask is None else mask
    if prunable is None:
        return {name: m.clone() for name, m in mask.items()}
    wanted = {n.removesuffix("_orig") for n in prunable}
    return {name: (m.clone() if name.removesuffix("_orig") in wanted else torch.zeros_like(m))
            for name, m in mask.items()}


def check_choice(key: str, value: Any, choices: tuple) -> None:
    """Raise the one-voice ValueError when ``value`` is not among ``choices``."""
    if value not in choices:
        raise ValueError(f"{key} must be one of {list(choices)}; got {value!r}")


class PruningMethod:
    """Base class of every pruning method (see the module docstring for the contract).

    Subclasses take their parameters as keyword-only arguments of ``__init__``, validate them, and pass them
    to :meth:`_record` so that :attr:`params` reports them (the leaderboard stores them with every entry).
    Read the capability flags from the class (``type(method).curvature``): the ``curvature=`` parameter of OBD,
    OBS and FullOBS (the matrix) shares the name of the ``curvature`` flag (its form), so those methods keep the
    parameter's value under another attribute.
    """

    curvature: ClassVar[str | None] = None
    moves_weights: ClassVar[bool] = False
    citation: ClassVar[str] = ""

    def _record(self, **params: Any) -> None:
        """Remember the constructor arguments for :attr:`params` and ``repr``."""
        self._params = dict(params)

    @property
    def params(self) -> dict[str, Any]:
        """The constructor arguments of this instance (what ``registry.get(name, **params)`` needs to rebuild
        it)."""
        return dict(getattr(self, "_params", {}))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def saliency(self, model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *,
                 mask: dict[str, torch.Tensor] | None = None) -> Tensors:
        """Predicted increase of E when each entry alone is deleted: dict keyed like ``named_parameters``,
        each value shaped like its parameter, finite, >= 0, and 0 where ``mask`` is False (already
        deleted)."""
        raise NotImplementedError(f"{type(self).__name__} must implement "
                                  "saliency(model, loss_fn, inputs, targets, *, mask)")

    def update(self, model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *,
               mask: dict[str, torch.Tensor] | None = None, delete: dict[str, torch.Tensor]) -> Tensors:
        """Change of every effective weight that goes with deleting the entries where ``delete`` is True,
        jointly.

        Keyed like ``named_parameters``; the deleted entries of ``weights + delta`` are zero. Implemented
        exactly by the methods with ``moves_weights = True``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not move the surviving weights "
                                  "(moves_weights is False), so it has no update")

    def single_deletion_updates(self, model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor,
                                targets: torch.Tensor, deletions: list[tuple[str, int]], *,
                                mask: dict[str, torch.Tensor] | None = None) -> Iterator[Tensors]:
        """For each ``(name, flat index)`` in ``deletions``, the :meth:`update` of deleting that entry alone
        (used to measure each saliency). The default calls :meth:`update` once per entry; OBS overrides it
        with one inverse Hessian for all of them."""
        mask = model_mask(model) if mask is None else mask
        params = dict(model.named_parameters())
        for name, index in deletions:
            yield self.update(model, loss_fn, inputs, targets, mask=mask,
                              delete=Selection([Deletion(name, index, 0.0)]).delete_masks(params))

    def sequence(self, model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *,
                 mask: dict[str, torch.Tensor] | None = None,
                 candidates: dict[str, torch.Tensor] | None = None,
                 quotas: dict[str, int] | None = None) -> Iterator[Step]:
        """The deletions in the order this method makes them, one :class:`Step` at a time, until no candidate
        is left (the generator's return value says why it ended).

        The default ranks once by :meth:`saliency` (OBD's procedure: compute, sort, delete the lowest). For a
        method that moves weights, each step's ``delta`` is :meth:`update` of all deletions so far (generic,
        one update per step; a method with a cheaper recursion, like OBS, overrides this).
        """
        mask = model_mask(model) if mask is None else mask
        candidates = mask if candidates is None else candidates
        order = self._rank(self._checked_saliency(model, loss_fn, inputs, targets, mask), candidates, quotas)
        params = dict(model.named_parameters())
        deleted: list[Deletion] = []
        for d in order:
            deleted.append(d)
            delta = None
            if self.moves_weights:
                delta = self.update(model, loss_fn, inputs, targets, mask=mask,
                                    delete=Selection(deleted).delete_masks(params))
            yield Step(d, delta)
        return "exhausted"

    def select(self, model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *,
               count: int | None, mask: dict[str, torch.Tensor] | None = None,
               candidates: dict[str, torch.Tensor] | None = None,
               quotas: dict[str, int] | None = None) -> Selection:
        """Choose up to ``count`` deletions among ``candidates`` (``None``: until the sequence ends), at most
        ``quotas[name]`` of each tensor when ``quotas`` is given (layer ranking).

        Rank-once methods take the ``count`` lowest saliencies (ties broken by parameter order, then index)
        and, when they move weights, one joint :meth:`update`; methods that override :meth:`sequence` take its
        first ``count`` steps.
        """
        mask = model_mask(model) if mask is None else mask
        candidates = mask if candidates is None else candidates
        if type(self).sequence is not PruningMethod.sequence:
            extra = {} if quotas is None else {"quotas": quotas}
            steps = self.sequence(model, loss_fn, inputs, targets, mask=mask, candidates=candidates, **extra)
            return self._take(steps, count)
        order = self._rank(self._checked_saliency(model, loss_fn, inputs, targets, mask), candidates, quotas)
        chosen = order if count is None else order[:count]
        reached = count is not None and len(order) >= count
        selection = Selection(chosen, stopped="count" if reached else "exhausted")
        if self.moves_weights and chosen:
            params = dict(model.named_parameters())
            selection.delta = self.update(model, loss_fn, inputs, targets, mask=mask,
                                          delete=selection.delete_masks(params))
        return selection

    def _checked_saliency(self, model, loss_fn, inputs, targets, mask) -> Tensors:
        return check_tensors(self, "saliency", self.saliency(model, loss_fn, inputs, targets, mask=mask), model)

    def _take(self, steps: Iterator[Step], count: int | None) -> Selection:
        selection = Selection()
        while count is None or len(selection.deletions) < count:
            try:
                step = next(steps)
            except StopIteration as end:
                selection.stopped = end.value or "exhausted"
                break
            if not math.isfinite(step.deletion.saliency):
                raise MethodError(f"method {method_name(self)!r} returned saliency {step.deletion.saliency} for "
                                  f"{step.deletion.name}[{step.deletion.index}]; every saliency must be finite")
            selection.deletions.append(step.deletion)
            selection.delta = step.delta
        return selection

    @staticmethod
    def _rank(saliency: Tensors, candidates: dict[str, torch.Tensor],
              quotas: dict[str, int] | None = None) -> list[Deletion]:
        """Candidates in increasing saliency (stable: ties keep parameter order, then flat index); with
        ``quotas``, only the ``quotas[name]`` lowest of each tensor."""
        names, flat_idx, values = [], [], []
        for name, allowed in candidates.items():
            idx = torch.nonzero(allowed.reshape(-1), as_tuple=True)[0]
            if quotas is not None:
                own = saliency[name].detach().reshape(-1)[idx].to("cpu", torch.float64)
                keep = torch.argsort(own, stable=True)[: max(int(quotas.get(name, 0)), 0)]
                idx = idx[keep.to(idx.device).sort().values]
            if idx.numel():
                names.extend([name] * idx.numel())
                flat_idx.append(idx.cpu())
                values.append(saliency[name].detach().reshape(-1)[idx].to("cpu", torch.float64))
        if not values:
            return []
        all_values, all_idx = torch.cat(values), torch.cat(flat_idx)
        order = torch.argsort(all_values, stable=True).tolist()
        return [Deletion(names[i], int(all_idx[i]), float(all_values[i])) for i in order]


def check_quotas(quotas: dict[str, int] | None, candidates: dict[str, torch.Tensor]) -> None:
    """Raise the one-voice ValueError unless ``quotas`` is ``None`` or maps names of ``candidates`` to
    non-negative integers."""
    if quotas is None:
        return
    unknown = sorted(set(quotas) - set(candidates))
    if unknown:
        raise ValueError(f"quotas must be keyed like named_parameters {sorted(candidates)}; got unknown {unknown}")
    for key, value in quotas.items():
        integer(f"quotas[{key!r}]", value, 0)


def zero_where_deleted(saliency: Tensors, mask: dict[str, torch.Tensor]) -> Tensors:
    """Set the saliency of already-deleted entries to 0 (deleting them again costs nothing)."""
    return {name: torch.where(mask[name], s, torch.zeros((), dtype=s.dtype, device=s.device))
            for name, s in saliency.items()}


def effective_weights(model: nn.Module) -> Tensors:
    """Detached effective tensors keyed like ``named_parameters``."""
    return {name: t.detach() for name, t in effective_params(model).items()}
