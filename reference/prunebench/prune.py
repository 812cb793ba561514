"""Pruning a trained model: one-shot to a target sparsity (or several, from one deletion sequence), gradually
along a method's deletion sequence, or in rounds with retraining in between.

A deleted parameter entry is zero and stays zero: every prunable tensor carries a ``torch.nn.utils.prune``
mask (``prune.custom_from_mask``), so ``named_parameters`` then lists ``<layer>.weight_orig`` and the forward
pass uses ``weight_orig * weight_mask``; gradients of deleted entries are zero, and their ``_orig`` values are
set to zero too, so weight decay leaves them at zero. A method that moves the surviving weights (OBS) has its
update written into ``<name>_orig`` (or into the plain parameter, for non-prunable ones) before the mask is
recomputed. Save and reload a pruned model, masks included, with :func:`prunebench.train.save_checkpoint` and
:func:`~prunebench.train.load_checkpoint`.

Sparsity is the fraction of *prunable* entries deleted. By default every free parameter is prunable, biases
included, as in both papers (OBD counts free parameters; OBS deletes weights and biases alike).

Ranking scope (``ranking``), for every method: ``"global"`` ranks all prunable entries together and deletes
the lowest until the target; ``"layer"`` prunes each prunable tensor to the target separately (its own
count, ``floor(sparsity * size)``), which is what pruning "each layer to 95%" means (WoodFisher's
``diagfisher`` pruner, for instance).
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Generator, Iterable, Iterator, Sequence
from copy import deepcopy
from dataclasses import dataclass, field, replace
from fractions import Fraction

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from ._validation import integer
from .methods.base import RANKINGS, Deletion, PruningMethod, Selection, candidate_mask, check_choice, guest, model_mask
from .models import effective_params
from .train import TrainConfig, fit

__all__ = ["PruneResult", "apply_selection", "clone", "gradual", "has_path", "iterative", "layer_quotas", "one_shot",
           "one_shot_path", "path_at_counts", "prefixes", "prunable_names", "pruned_fraction", "step", "stepwise"]

log = logging.getLogger(__name__)


def _deletion_count(sparsity: float, total: int) -> int:
    """How many of ``total`` prunable entries a sparsity asks for: the largest count whose fraction of
    ``total`` does not exceed ``sparsity``, computed on the decimal the user wrote (0.29 of 100 is 29, not
    28)."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real) or not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be a float in [0, 1); got {sparsity!r}")
    total = integer("the number of prunable entries", total, 0)
    return math.floor(Fraction(repr(float(sparsity))) * total)


def prunable_names(model: nn.Module, include_bias: bool = True) -> list[str]:
    """Names (keys of ``named_parameters``) of the tensors that may be pruned: every free parameter, or only
    the non-bias ones when ``include_bias`` is False."""
    if not isinstance(include_bias, bool):
        raise TypeError(f"include_bias must be a bool; got {include_bias!r}")
    names = []
    for name, _ in model.named_parameters():
        leaf = name.rpartition(".")[2].removesuffix("_orig")
        if include_bias or leaf != "bias":
            names.append(name)
    return names


def _counts(model: nn.Module, names: list[str] | None = None) -> tuple[int, int]:
    """(deleted, total) entries of the parameters ``names`` (default: all), with or without ``_orig``."""
    mask = model_mask(model)
    wanted = None if names is None else {n.removesuffix("_orig") for n in names}
    chosen = [m for n, m in mask.items() if wanted is None or n.removesuffix("_orig") in wanted]
    return sum(int((~m).sum()) for m in chosen), sum(m.numel() for m in chosen)


def layer_quotas(model: nn.Module, names: list[str], sparsity: float) -> dict[str, int]:
    """Layer ranking's deletions still to make in each tensor of ``names`` to bring it to ``sparsity`` on its
    own: ``floor(sparsity * size) - already deleted`` (at least 0), keyed like ``named_parameters``."""
    mask = model_mask(model)
    wanted = {n.removesuffix("_orig") for n in names}
    return {n: max(_deletion_count(sparsity, m.numel()) - int((~m).sum()), 0)
            for n, m in mask.items() if n.removesuffix("_orig") in wanted}


def _supports_quotas(method: PruningMethod) -> bool:
    import inspect

    return "quotas" in inspect.signature(method.select).parameters


def pruned_fraction(model: nn.Module, names: list[str] | None = None) -> float:
    """Fraction of the entries of the parameters ``names`` (default: all) that are deleted (mask 0)."""
    deleted, total = _counts(model, names)
    return deleted / total if total else 0.0


@dataclass
class PruneResult:
    """What a pruning run did. ``deletions`` in the order made, named as the model names its parameters after
    pruning (``<layer>.weight_orig``); ``predicted_change`` the sum of their saliencies (the predicted
    increase of E); ``stopped`` why the last chunk ended (``"count"``, ``"exhausted"``, or the method's own
    rule); ``sparsity`` the fraction of prunable entries deleted at the end; ``rounds`` one dict per chunk
    (``deleted``, ``predicted_change``, ``loss_before``, ``loss_pruned``, ``loss_retrained``)."""

    deletions: list[Deletion] = field(default_factory=list)
    stopped: str = "count"
    sparsity: float = 0.0
    rounds: list[dict] = field(default_factory=list)

    @property
    def predicted_change(self) -> float:
        return float(sum(d.saliency for d in self.deletions))

    def to_dict(self) -> dict:
        """JSON-ready: deletions as ``[name, index, saliency]`` triples."""
        return {"deletions": [[d.name, d.index, d.saliency] for d in self.deletions], "stopped": self.stopped,
                "sparsity": self.sparsity, "predicted_change": self.predicted_change, "rounds": self.rounds}


def _split(name: str) -> tuple[str, str]:
    prefix, _, leaf = name.rpartition(".")
    return prefix, leaf.removesuffix("_orig")


def _ensure_masks(model: nn.Module, names: list[str]) -> None:
    """Give every tensor in ``names`` a pruning mask (all ones where it has none yet)."""
    modules = dict(model.named_modules())
    for name in names:
        prefix, leaf = _split(name)
        module = modules[prefix]
        if not hasattr(module, leaf + "_mask"):
            torch_prune.custom_from_mask(module, leaf, torch.ones_like(getattr(module, leaf)))


def apply_selection(model: nn.Module, selection: Selection, prunable: list[str]) -> None:
    """Write ``selection`` into ``model``: add its ``delta`` (if any) to the effective weights, then delete
    its entries (``_orig`` and mask set to 0). Every tensor in ``prunable`` gets a mask."""
    params = dict(model.named_parameters())
    effective = {n: t.detach().clone() for n, t in effective_params(model).items()}
    deleted = selection.delete_masks(effective)
    for n in deleted:
        if deleted[n].any() and n.removesuffix("_orig") not in {p.removesuffix("_orig") for p in prunable}:
            raise ValueError(f"the selection deletes entries of {n!r}, which is not prunable; "
                             "pass candidates restricted to the prunable parameters")
    _ensure_masks(model, prunable)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for old_name, eff in effective.items():
            new = eff + selection.delta[old_name] if selection.delta is not None else eff
            prefix, leaf = _split(old_name)
            module = modules[prefix]
            if hasattr(module, leaf + "_mask"):
                orig, buffer = getattr(module, leaf + "_orig"), getattr(module, leaf + "_mask")
                keep = (buffer != 0) & ~deleted[old_name]
                orig.copy_(torch.where(keep, new, torch.zeros((), dtype=new.dtype, device=new.device)))
                buffer.copy_(keep.to(buffer.dtype))
            else:
                params[old_name].copy_(new)
    for name in prunable:
        prefix, leaf = _split(name)
        module = modules[prefix]
        setattr(module, leaf, getattr(module, leaf + "_orig") * getattr(module, leaf + "_mask"))


def clone(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)``, pruned or not. A pruned tensor (``weight_orig * weight_mask``, recomputed by a
    forward pre-hook) is first recomputed without autograd: a tensor with a graph cannot be deep-copied."""
    with torch.no_grad():
        for module in model.modules():
            for hook in module._forward_pre_hooks.values():
                if isinstance(hook, torch_prune.BasePruningMethod):
                    hook(module, ())
    return deepcopy(model)


def _loss(model, loss_fn, inputs, targets) -> float:
    with torch.no_grad():
        return float(loss_fn(model(inputs), targets))


def step(model: nn.Module, method: PruningMethod, loss_fn: nn.Module, inputs: torch.Tensor,
         targets: torch.Tensor, *, count: int | None, include_bias: bool = True,
         quotas: dict[str, int] | None = None) -> PruneResult:
    """Delete up to ``count`` more prunable entries chosen by ``method`` (``None``: as many as the method's
    own stopping rule allows), at most ``quotas[name]`` of each tensor when given (layer ranking; see
    :func:`layer_quotas`). ``count=0`` leaves the model untouched."""
    if count is not None:
        integer("count", count, 0, expected="a non-negative integer or None")
    if quotas is not None and not _supports_quotas(method):
        raise ValueError(f"ranking='layer' needs a method whose select() takes quotas; {type(method).__name__} "
                         "does not. Use ranking='global'")
    names = prunable_names(model, include_bias)
    if count == 0:
        return PruneResult(sparsity=pruned_fraction(model, names))
    before = _loss(model, loss_fn, inputs, targets)
    mask = model_mask(model)
    extra = {} if quotas is None else {"quotas": quotas}
    with guest(method):
        selection = method.select(model, loss_fn, inputs, targets, count=count, mask=mask,
                                  candidates=candidate_mask(model, mask, names), **extra)
    return _applied(model, method, selection, loss_fn, inputs, targets, before, include_bias)


def _applied(model: nn.Module, method: PruningMethod, selection: Selection, loss_fn: nn.Module,
             inputs: torch.Tensor, targets: torch.Tensor, before: float, include_bias: bool) -> PruneResult:
    """Write ``selection`` into ``model`` and report it as one round."""
    apply_selection(model, selection, prunable_names(model, include_bias))
    after = _loss(model, loss_fn, inputs, targets)
    names = prunable_names(model, include_bias)
    log.info("%s deleted %d entries: E %.4e -> %.4e (predicted +%.3e)", method, len(selection.deletions),
             before, after, selection.predicted_change)
    current = dict(model.named_parameters())
    deletions = [d if d.name in current else replace(d, name=d.name + "_orig") for d in selection.deletions]
    return PruneResult(deletions, selection.stopped, pruned_fraction(model, names),
                       [{"deleted": len(selection.deletions), "predicted_change": selection.predicted_change,
                         "loss_before": before, "loss_pruned": after, "loss_retrained": None}])


def one_shot(model: nn.Module, method: PruningMethod, loss_fn: nn.Module, inputs: torch.Tensor,
             targets: torch.Tensor, sparsity: float, *, include_bias: bool = True,
             ranking: str = "global") -> PruneResult:
    """Prune once, without retraining, until ``sparsity`` of the prunable entries are deleted (entries deleted
    before count towards it), ranked over all of them (``ranking="global"``) or each tensor brought to
    ``sparsity`` separately (``"layer"``). Sparsity 0 leaves the model untouched. A method with a stopping
    rule may stop early (``result.stopped`` says so)."""
    check_choice("ranking", ranking, RANKINGS)
    names = prunable_names(model, include_bias)
    already, total = _counts(model, names)
    target = _deletion_count(sparsity, total)
    if ranking == "layer":
        quotas = layer_quotas(model, names, sparsity)
        return step(model, method, loss_fn, inputs, targets, count=sum(quotas.values()),
                    include_bias=include_bias, quotas=quotas)
    return step(model, method, loss_fn, inputs, targets, count=max(target - already, 0),
                include_bias=include_bias)


def has_path(method: PruningMethod) -> bool:
    """Whether ``method`` has a ``prune_path``: one deletion sequence whose prefixes are its one-shot
    selections, so that :func:`one_shot_path` reaches several sparsities from one sequence."""
    return callable(getattr(method, "prune_path", None))


def one_shot_path(model: nn.Module, method: PruningMethod, loss_fn: nn.Module, inputs: torch.Tensor,
                  targets: torch.Tensor, sparsities: Sequence[float], *, include_bias: bool = True
                  ) -> Iterator[tuple[nn.Module, PruneResult]]:
    """For each of ``sparsities`` (increasing), a copy of ``model`` pruned :func:`one_shot` to it, with its
    result; ``model`` itself is left untouched.

    A method with a ``prune_path`` (one deletion sequence whose prefixes are its one-shot selections, e.g.
    ``obs-full``: one inverse, downdated as it goes) reaches every sparsity from a single sequence, its groups
    ended at each sparsity's count; any other method prunes a fresh copy per sparsity (:func:`path_at_counts`).
    """
    sparsities = [float(s) for s in sparsities]
    if sparsities != sorted(set(sparsities)):
        raise ValueError(f"sparsities must be increasing and distinct; got {sparsities}")
    already, total = _counts(model, prunable_names(model, include_bias))
    counts = [max(_deletion_count(s, total) - already, 0) for s in sparsities]
    yield from path_at_counts(model, method, loss_fn, inputs, targets, counts, include_bias=include_bias)


def path_at_counts(model: nn.Module, method: PruningMethod, loss_fn: nn.Module, inputs: torch.Tensor,
                   targets: torch.Tensor, counts: Sequence[int], *, include_bias: bool = True
                   ) -> Iterator[tuple[nn.Module, PruneResult]]:
    """:func:`one_shot_path` at numbers of deletions instead of sparsities: for each of ``counts`` (increasing
    numbers of prunable entries to delete, counted from the entries ``model`` already lacks), a copy of
    ``model`` with that many deleted one-shot, and its result; ``model`` itself is left untouched."""
    counts = [integer("each count", c, 0) for c in counts]
    if counts != sorted(counts):
        raise ValueError(f"counts must be increasing; got {counts}")
    if not has_path(method):
        for count in counts:
            copy = clone(model)
            yield copy, step(copy, method, loss_fn, inputs, targets, count=count, include_bias=include_bias)
        return
    names = prunable_names(model, include_bias)
    before = _loss(model, loss_fn, inputs, targets)
    mask = model_mask(model)
    checkpoints = method.prune_path(model, loss_fn, inputs, targets, counts, mask=mask,
                                    candidates=candidate_mask(model, mask, names))
    for count in counts:
        with guest(method):
            checkpoint = next(checkpoints, None)
        copy = clone(model)
        if checkpoint is None:  # the sequence ran out of candidates at an earlier count
            yield copy, PruneResult(stopped="exhausted", sparsity=pruned_fraction(copy, names))
            continue
        if checkpoint.count != count and checkpoint.stopped == "count":
            raise RuntimeError(f"{method}.prune_path yielded {checkpoint.count} deletions where {count} were asked")
        yield copy, _applied(copy, method, checkpoint.selection(), loss_fn, inputs, targets, before, include_bias)


def prefixes(model: nn.Module, ranking: Selection, counts: Iterable[int], *, include_bias: bool = True
             ) -> Iterator[nn.Module]:
    """Rank once, then cut: for each of ``counts``, a copy of ``model`` with the first ``count`` deletions of
    ``ranking`` (one :class:`~prunebench.methods.Selection`, e.g. a method's ``select`` at the largest count)
    written into it; ``model`` itself is left untouched. The ranking must not move the surviving weights (a
    prefix of a joint update is no update)."""
    if ranking.delta is not None:
        raise ValueError("prefixes needs a ranking that leaves the surviving weights alone; this one moves them "
                         "(use path_at_counts)")
    names = prunable_names(model, include_bias)
    for count in counts:
        copy = clone(model)
        apply_selection(copy, Selection(ranking.deletions[:integer("each count", count, 0)]), names)
        yield copy


def gradual(model: nn.Module, method: PruningMethod, loss_fn: nn.Module, inputs: torch.Tensor,
            targets: torch.Tensor, *, include_bias: bool = True) -> Generator[Deletion, None, str]:
    """Follow ``method``'s deletion sequence (:meth:`~prunebench.methods.PruningMethod.sequence`, computed once
    on a copy of ``model`` as it is now) on ``model`` itself, one entry at a time, without retraining: each
    deletion, with the method's update of the other weights, is written into ``model`` before it is yielded.
    Returns (``StopIteration.value``) why the sequence ended (``"exhausted"`` unless the method says).
    Closing the generator frees the method's state (OBS's inverse)."""
    names = prunable_names(model, include_bias)
    _ensure_masks(model, names)
    steps = method.sequence(clone(model), loss_fn, inputs, targets)
    previous = None
    try:
        while True:
            try:
                now = next(steps)
            except StopIteration as end:
                return end.value or "exhausted"
            # Each step's delta is cumulative since the start: apply only what is new since the previous step.
            increment = None if now.delta is None else (
                now.delta if previous is None else {k: v - previous[k] for k, v in now.delta.items()})
            previous = now.delta
            apply_selection(model, Selection([now.deletion], increment), names)
            yield now.deletion
    finally:
        steps.close()


def stepwise(model: nn.Module, method: PruningMethod, loss_fn: nn.Module, inputs: torch.Tensor,
             targets: torch.Tensor, counts: Iterable[int], *, include_bias: bool = True) -> Iterator[PruneResult]:
    """Delete prunable entries of ``model`` in rounds, one :func:`step` per round, until each of the cumulative
    ``counts`` (deletions made since the start; an iterable, endless if need be) is reached, and yield each
    round's result. The method is asked afresh every round, so it sees the model as the caller left it:
    retraining ``model`` (masks kept) before asking for the next round gives OBD's iterative procedure
    (:func:`iterative`)."""
    names = prunable_names(model, include_bias)
    start, _ = _counts(model, names)
    for count in counts:
        done, _ = _counts(model, names)
        yield step(model, method, loss_fn, inputs, targets, count=max(start + count - done, 0),
                   include_bias=include_bias)


def iterative(model: nn.Module, method: PruningMethod, loss_fn: nn.Module, inputs: torch.Tensor,
              targets: torch.Tensor, sparsity: float, *, rounds: int = 5,
              retrain: TrainConfig | int | None = None, include_bias: bool = True,
              seed: int = 0, ranking: str = "global") -> PruneResult:
    """OBD's procedure: delete a chunk, optionally retrain with the masks kept, recompute curvature, repeat.

    ``rounds`` equal chunks reach ``sparsity``. ``retrain``: a :class:`~prunebench.train.TrainConfig`, or an
    integer n for n full-batch L-BFGS iterations, or ``None`` for none. Curvature is recomputed at the start
    of each round because the method is called afresh on the current model. ``ranking="layer"`` brings
    every prunable tensor to each round's sparsity separately.
    """
    check_choice("ranking", ranking, RANKINGS)
    n_rounds = integer("rounds", rounds, 1)
    if isinstance(retrain, int) and not isinstance(retrain, bool):
        retrain = TrainConfig(optimizer="lbfgs", epochs=retrain)
    if retrain is not None and not isinstance(retrain, TrainConfig):
        raise TypeError(f"retrain must be a TrainConfig, an integer number of L-BFGS iterations, or None; "
                        f"got {retrain!r}")
    names = prunable_names(model, include_bias)
    start, total = _counts(model, names)
    target = _deletion_count(sparsity, total)
    result = PruneResult(sparsity=pruned_fraction(model, names))
    if ranking == "layer":
        chunks = _layer_rounds(model, method, loss_fn, inputs, targets, sparsity, n_rounds, include_bias)
    else:
        chunks = stepwise(model, method, loss_fn, inputs, targets,
                          [(max(target - start, 0) * r) // n_rounds for r in range(1, n_rounds + 1)],
                          include_bias=include_bias)
    for r, chunk in enumerate(chunks, 1):
        info = chunk.rounds[0] if chunk.rounds else {"deleted": 0, "predicted_change": 0.0,
                                                      "loss_before": _loss(model, loss_fn, inputs, targets),
                                                      "loss_pruned": None, "loss_retrained": None}
        if retrain is not None and info["deleted"]:
            fit(model, loss_fn, inputs, targets, retrain, seed=seed + r)
            info["loss_retrained"] = _loss(model, loss_fn, inputs, targets)
        result.deletions.extend(chunk.deletions)
        result.rounds.append(info)
        result.stopped = chunk.stopped
        if chunk.stopped != "count":
            break
    result.sparsity = pruned_fraction(model, names)
    return result


def _layer_rounds(model: nn.Module, method: PruningMethod, loss_fn: nn.Module, inputs: torch.Tensor,
                  targets: torch.Tensor, sparsity: float, n_rounds: int, include_bias: bool) -> Iterator[PruneResult]:
    """:func:`stepwise` under layer ranking: round r brings every prunable tensor to ``r / n_rounds`` of
    ``sparsity`` on its own."""
    names = prunable_names(model, include_bias)
    for r in range(1, n_rounds + 1):
        quotas = layer_quotas(model, names, float(Fraction(repr(float(sparsity))) * r / n_rounds))
        yield step(model, method, loss_fn, inputs, targets, count=sum(quotas.values()), include_bias=include_bias,
                   quotas=quotas)
