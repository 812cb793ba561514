"""Deterministic training to a minimum, and safe checkpoints.

The pruning papers assume a trained network sits at a minimum of its objective (OBD's "extremal"
approximation: the gradient term of the Taylor expansion vanishes). Small nets are therefore trained with
full-batch L-BFGS with a strong-Wolfe line search, which reaches a gradient norm many orders of magnitude below
first-order methods; large ones with minibatch Adam, optionally finished by L-BFGS. Every fit reports its final
gradient norm so the assumption can be checked.

A stopping rule instead of a budget: with ``grad_rms_tol`` set, L-BFGS stops as soon as the RMS gradient of the
objective over the free parameters, ``||dE/dw|| / sqrt(P)`` (deleted entries of a pruned net left out of P),
is at most that value; its iteration count is then only a cap, and a fit that reaches the cap first reports
``converged=False`` (``stop="cap"``), one whose line search can make no more progress ``stop="stalled"``.

Weight decay is the penalty (lambda/2)||w||^2 added to the objective (Hassibi & Stork's "BPWD").
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ._validation import integer
from .models import Net, build

__all__ = ["FitReport", "TrainConfig", "deterministic", "fit", "free_count", "load_checkpoint", "save_checkpoint"]

log = logging.getLogger(__name__)

OPTIMIZERS = ("lbfgs", "adam", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``epochs`` counts passes for adam/sgd and L-BFGS iterations for lbfgs.

    ``finish_lbfgs`` runs that many full-batch L-BFGS iterations after a first-order phase, to land on a
    minimum. ``batch_size=None`` means full batch. ``grad_rms_tol``: stop L-BFGS once the RMS gradient per free
    parameter is at most this (``epochs`` or ``finish_lbfgs`` is then the cap); None: run the iterations.
    ``momentum`` is SGD's (unused by the others); ``lr_decay`` multiplies the learning rate after every epoch of
    adam/sgd (``torch.optim.lr_scheduler.ExponentialLR``; 1 keeps it constant).
    """

    optimizer: str = "lbfgs"
    epochs: int = 500
    lr: float = 1.0
    weight_decay: float = 0.0
    batch_size: int | None = None
    finish_lbfgs: int = 0
    tolerance_grad: float = 1e-9
    grad_rms_tol: float | None = None
    momentum: float = 0.9
    lr_decay: float = 1.0

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        for key in ("epochs", "finish_lbfgs"):
            integer(key, getattr(self, key), 0)
        if not self.lr > 0:
            raise ValueError(f"lr must be a positive float; got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be a float >= 0; got {self.weight_decay!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be a float in [0, 1); got {self.momentum!r}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be a float in (0, 1]; got {self.lr_decay!r}")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ValueError(f"batch_size must be None (full batch) or a positive integer; got {self.batch_size!r}")
        if self.grad_rms_tol is not None and (isinstance(self.grad_rms_tol, bool) or not self.grad_rms_tol > 0):
            raise ValueError(f"grad_rms_tol must be None or a positive float, e.g. 1e-5; got {self.grad_rms_tol!r}")


@dataclass
class FitReport:
    """What a fit reached. ``grad_norm`` is ||dE/dw|| of the data term alone; ``objective_grad_norm`` includes
    the weight-decay penalty (the quantity the optimiser drives to zero); ``grad_rms`` is the latter over
    sqrt(free parameters), what ``grad_rms_tol`` bounds. ``stop``: ``"tolerance"`` (the rule was met),
    ``"cap"`` (the iterations ran out first), ``"stalled"`` (the line search made no progress) or
    ``"budget"`` (no rule: the iterations were run); ``converged`` is ``stop == "tolerance"``, None without a
    rule."""

    loss: float
    objective: float
    grad_norm: float
    objective_grad_norm: float
    iterations: int
    wall_time: float
    history: list[float] = field(default_factory=list)
    grad_rms: float = math.nan
    stop: str = "budget"
    converged: bool | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def deterministic(seed: int):
    """Seed torch's generator and force deterministic kernels for the duration of the block."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous)


def _penalty(model: nn.Module, weight_decay: float) -> torch.Tensor:
    return 0.5 * weight_decay * sum((p**2).sum() for p in model.parameters() if p.requires_grad)


def _grad_norms(model, loss_fn, X, Y, weight_decay) -> tuple[float, float, float, float]:
    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_fn(model(X), Y)
    g_loss = torch.autograd.grad(loss, params)
    g_pen = [weight_decay * p.detach() for p in params]
    norm_loss = math.sqrt(sum(float((g**2).sum()) for g in g_loss))
    norm_obj = math.sqrt(sum(float(((g + h) ** 2).sum()) for g, h in zip(g_loss, g_pen, strict=True)))
    objective = float(loss.detach()) + float(_penalty(model, weight_decay).detach())
    return float(loss.detach()), objective, norm_loss, norm_obj


def free_count(model: nn.Module) -> int:
    """Free parameters that training can move: entries of a pruned tensor whose mask is 0 are left out."""
    modules = dict(model.named_modules())
    total = 0
    for name, p in model.named_parameters():
        prefix, _, leaf = name.rpartition(".")
        mask = getattr(modules[prefix], leaf.removesuffix("_orig") + "_mask", None) if leaf.endswith("_orig") else None
        total += p.numel() if mask is None else int((mask != 0).sum())
    return total


def _rms(params, free: int) -> float:
    """RMS over the ``free`` parameters of the objective's gradient, read from ``p.grad``."""
    return math.sqrt(sum(float((p.grad**2).sum()) for p in params)) / math.sqrt(max(free, 1))


def _lbfgs(model, loss_fn, X, Y, iterations, weight_decay, tolerance_grad, history, rms_tol=None):
    """Run L-BFGS for at most ``iterations``; returns (iterations done, stop reason)."""
    params = [p for p in model.parameters() if p.requires_grad]
    free = free_count(model)
    chunk = 10 if rms_tol is not None else 20
    # torch's own test is max |g| <= tolerance_grad; max |g| <= rms_tol implies the RMS rule, so it may stop early.
    inner_tol = tolerance_grad if rms_tol is None else max(tolerance_grad, rms_tol)
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=chunk, max_eval=10 * chunk, history_size=50,
                            line_search_fn="strong_wolfe", tolerance_grad=inner_tol, tolerance_change=1e-16)

    def closure():
        opt.zero_grad()
        objective = loss_fn(model(X), Y) + _penalty(model, weight_decay)
        objective.backward()
        return objective

    done = 0
    if rms_tol is not None:
        closure()
        if _rms(params, free) <= rms_tol:
            return 0, "tolerance"
    while done < iterations:
        opt.param_groups[0]["max_iter"] = min(chunk, iterations - done)
        before = opt.state[opt._params[0]].get("n_iter", 0)
        value = float(opt.step(closure).detach())
        after = opt.state[opt._params[0]].get("n_iter", 0)
        if not math.isfinite(value):
            raise FloatingPointError(f"training diverged: objective is {value} after {done} L-BFGS iterations; "
                                     "check the inputs for NaN/inf")
        history.append(value)
        done += after - before
        if rms_tol is not None:
            closure()  # the gradient at the current weights (torch leaves the last line-search point's)
            if _rms(params, free) <= rms_tol:
                return done, "tolerance"
            if after == before:
                return done, "stalled"
            continue
        grad_norm = max(float(p.grad.abs().max()) for p in params)
        if after == before or grad_norm <= tolerance_grad:  # converged, or the line search can make no progress
            break
    return done, ("cap" if rms_tol is not None else "budget")


def _first_order(model, loss_fn, X, Y, config: TrainConfig, history):
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=config.lr)
    else:
        opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=config.lr_decay)
    n = X.shape[0]
    batch = config.batch_size or n
    generator = torch.Generator().manual_seed(int(torch.initial_seed()) % (2**63))
    steps = 0
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator).to(X.device)
        total = 0.0
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            opt.zero_grad()
            objective = loss_fn(model(X[idx]), Y[idx]) + _penalty(model, config.weight_decay)
            objective.backward()
            opt.step()
            total += objective.item() * len(idx)
            steps += 1
        history.append(total / n)
        schedule.step()
        if not math.isfinite(history[-1]):
            raise FloatingPointError(f"training diverged: objective is {history[-1]} after {len(history)} epochs; "
                                     f"lower lr (now {config.lr})")
    return steps


def fit(model: Net, loss_fn: nn.Module, X: torch.Tensor, Y: torch.Tensor, config: TrainConfig, *,
        seed: int = 0) -> FitReport:
    """Train ``model`` in place on inputs ``X`` (N, ...) and loss targets ``Y`` to (near) a minimum.

    Deterministic: the same model, data, config and seed give bitwise-identical weights on the same machine.
    """
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"inputs and targets must have the same number of samples; got {X.shape[0]} and "
                         f"{Y.shape[0]}")
    start = time.perf_counter()
    history: list[float] = []
    stop = "budget"
    with deterministic(seed):
        if config.optimizer == "lbfgs":
            iterations, stop = _lbfgs(model, loss_fn, X, Y, config.epochs, config.weight_decay,
                                      config.tolerance_grad, history, config.grad_rms_tol)
        else:
            iterations = _first_order(model, loss_fn, X, Y, config, history)
            if config.finish_lbfgs or config.grad_rms_tol is not None:
                done, stop = _lbfgs(model, loss_fn, X, Y, config.finish_lbfgs, config.weight_decay,
                                    config.tolerance_grad, history, config.grad_rms_tol)
                iterations += done
    loss, objective, g_loss, g_obj = _grad_norms(model, loss_fn, X, Y, config.weight_decay)
    report = FitReport(loss=loss, objective=objective, grad_norm=g_loss, objective_grad_norm=g_obj,
                       iterations=iterations, wall_time=time.perf_counter() - start, history=history,
                       grad_rms=g_obj / math.sqrt(max(free_count(model), 1)), stop=stop,
                       converged=None if config.grad_rms_tol is None else stop == "tolerance")
    log.info("trained %s: loss %.3e, |grad| %.2e after %d iterations", model.arch, loss, g_obj, iterations)
    return report


def save_checkpoint(model: Net, path: str | Path, meta: dict | None = None) -> Path:
    """Write ``model`` (with any pruning masks) and ``meta`` to ``path`` atomically (tensors and plain data only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": model.name, "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
               "state_dict": model.state_dict(), "meta": meta or {}}
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # parallel workers may write the same checkpoint
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> tuple[Net, dict]:
    """Rebuild the model saved by :func:`save_checkpoint` (masks re-applied) with ``weights_only=True``."""
    from torch.nn.utils import prune

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}; train the model first or check the path")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"checkpoint {path} could not be read ({reason}); delete it so it is rebuilt") from exc
    model = build(payload["model"], dtype=getattr(torch, payload["dtype"]))
    state = payload["state_dict"]
    modules = dict(model.named_modules())
    for key, mask in state.items():
        if key.endswith("_mask"):
            prefix, _, leaf = key.rpartition(".")
            prune.custom_from_mask(modules[prefix], leaf[: -len("_mask")], mask)
    model.load_state_dict(state)
    return model, payload["meta"]
