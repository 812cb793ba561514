"""The network as a chain of simple maps (:class:`Step`), and the forward pass that records what the backward
sweeps need.

A supported model is an ``nn.Sequential`` (nested ones are flattened) of the layers in :data:`SUPPORTED`:
``Linear``; ``Conv1d``/``Conv2d`` with any stride, padding (numbers, ``'same'``, ``'valid'``, any
``padding_mode``), dilation and groups; ``AvgPool1d/2d``, ``MaxPool1d/2d``; ``Flatten``; ``Identity`` and
``Dropout`` (eval mode); the elementwise activations of :func:`prunebench.models.activation_derivatives`; and a
final ``LogSoftmax`` (read with ``NLLLoss``: the pair is cross-entropy on the logits). Each layer becomes one
or two steps: one-dimensional layers act on ``[N, C, 1, L]`` (a ``reshape`` step inserts the unit height), and
padding that a convolution cannot do itself (asymmetric ``'same'``, a non-zero ``padding_mode``) becomes a
``pad`` step before it. :func:`record` runs the forward pass and keeps every step's input, for activations
``f'`` and ``f''`` at the pre-activation, for max pooling the argmax.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from ...models import ScaledTanh, activation_derivatives, effective_params

__all__ = ["ACTIVATIONS", "PIECEWISE_LINEAR", "SUPPORTED", "AvgPoolSpec", "Chain", "ConvSpec", "MaxPoolSpec",
           "PadSpec", "Step", "Trace", "Unsupported", "WindowSpec", "lowest_curved", "plan", "record",
           "unsupported"]

ACTIVATIONS = (nn.Tanh, nn.Sigmoid, nn.ReLU, ScaledTanh, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.GELU, nn.Softplus)
PIECEWISE_LINEAR = (nn.ReLU, nn.LeakyReLU)
"""Activations whose f'' is zero everywhere (almost everywhere: not at the kink): their f'' terms are skipped."""

SUPPORTED = ("Linear, Conv1d/Conv2d (any stride, padding, dilation, groups), AvgPool1d/2d, MaxPool1d/2d, "
             "Flatten, Identity, Dropout (eval), Tanh, Sigmoid, ReLU, LeakyReLU, ELU, SiLU, GELU, Softplus, "
             "ScaledTanh, and a final LogSoftmax")


class Unsupported(TypeError):
    """A layer (or model structure) outside the native sweeps; ``layer`` names it for the fallback warning."""

    def __init__(self, message: str, layer: str):
        super().__init__(message)
        self.layer = layer


def unsupported(name: str, module: nn.Module, why: str = "") -> Unsupported:
    """The one error for a layer the native backend cannot back-propagate second derivatives through."""
    detail = f" ({why})" if why else ""
    layer = f"layer {name!r} ({type(module).__name__}){detail}"
    return Unsupported(
        f"{layer} is not supported by the native curvature backend, which supports {SUPPORTED}. Use "
        "backend='torchfunc' (any differentiable layer; dense, small models only), or backend='backpack' / "
        "'curvlinops' for the layers those libraries support.", layer)


@dataclass(frozen=True)
class WindowSpec:
    """A sliding window's geometry as 2-D pairs (a 1-D layer has height 1)."""

    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class ConvSpec(WindowSpec):
    """A convolution's geometry (a Conv1d has height 1); padding symmetric, zeros."""

    dilation: tuple[int, int]
    groups: int


@dataclass(frozen=True)
class AvgPoolSpec(WindowSpec):
    ceil_mode: bool
    count_include_pad: bool
    divisor_override: int | None


@dataclass(frozen=True)
class MaxPoolSpec(WindowSpec):
    dilation: tuple[int, int]
    ceil_mode: bool


@dataclass(frozen=True)
class PadSpec:
    """``F.pad(x, pad, mode)`` with ``pad = (left, right, top, bottom)``."""

    pad: tuple[int, int, int, int]
    mode: str


@dataclass
class Step:
    """One map of the chain.

    Attributes:
        name: the module's name in ``model.named_modules()``.
        module: the layer.
        kind: ``"linear"``, ``"conv"``, ``"pool"`` (average), ``"maxpool"``, ``"pad"``, ``"reshape"``
            (Flatten, Identity, Dropout in eval mode, the unit height of a 1-D layer) or ``"act"``.
        spec: the geometry (:class:`ConvSpec`, :class:`AvgPoolSpec`, :class:`MaxPoolSpec`, :class:`PadSpec`)
            or, for ``"reshape"``, the function on ``[M, *in]``; ``None`` otherwise.
        weight, bias: the effective tensors (masked for pruned layers; a Conv1d weight with a unit height),
            or ``None``.
        weight_key, bias_key: their keys in ``dict(model.named_parameters())`` (``...weight_orig`` when
            pruned); ``weight_shape`` the parameter's own shape.
        indices: for ``"maxpool"``, the argmax ``[N, C, H_out, W_out]`` (flat in ``H W``) of the last
            :func:`record`.
        routes: for ``"conv"``, how the exact sweep's directions on a set of input channels cross it (kept for
            the sweep's other chunks; they depend on the weights only).
    """

    name: str
    module: nn.Module
    kind: str
    spec: object = None
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    weight_key: str | None = None
    bias_key: str | None = None
    weight_shape: torch.Size | None = None
    indices: torch.Tensor | None = None
    routes: dict = field(default_factory=dict)

    @property
    def has_params(self) -> bool:
        return self.weight is not None or self.bias is not None


class Chain(list):
    """The steps of a model (a list of :class:`Step`); ``log_softmax``: the model ends in a LogSoftmax over
    the classes, which is not a step (the loss reads the logits before it)."""

    log_softmax: bool = False


def _unit_height(x: torch.Tensor) -> torch.Tensor:
    """``[M, C, L] -> [M, C, 1, L]`` (already 4-D: unchanged)."""
    return x.unsqueeze(-2) if x.dim() == 3 else x


def _same(x: torch.Tensor) -> torch.Tensor:
    return x


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1)


_CONVS = (nn.Conv1d, nn.Conv2d)
_AVG_POOLS = (nn.AvgPool1d, nn.AvgPool2d)
_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d)
_ONE_D = (nn.Conv1d, nn.AvgPool1d, nn.MaxPool1d)


def _as_pair(value, one_d: bool, fill: int) -> tuple[int, int]:
    """A 1-D layer's ``(k,)`` or ``k`` as ``(fill, k)``; a 2-D layer's as its pair."""
    if one_d:
        return (fill, value[0] if isinstance(value, tuple) else value)
    return _pair(value)


def _conv_steps(name: str, m: nn.Module) -> list[Step]:
    """A convolution as ``[pad step,] conv step`` with symmetric zero padding on the conv itself."""
    one_d = isinstance(m, nn.Conv1d)
    kernel, stride, dilation = (_as_pair(v, one_d, 1) for v in (m.kernel_size, m.stride, m.dilation))
    if m.padding == "valid":
        sides = [(0, 0), (0, 0)]
    elif m.padding == "same":
        sides = []
        for k, d in zip(kernel, dilation, strict=True):
            total = d * (k - 1)
            sides.append((total // 2, total - total // 2))
    else:
        sides = [(p, p) for p in _as_pair(m.padding, one_d, 0)]
    steps = []
    symmetric = all(a == b for a, b in sides)
    if m.padding_mode != "zeros" or not symmetric:
        mode = "constant" if m.padding_mode == "zeros" else m.padding_mode
        (top, bottom), (left, right) = sides
        steps.append(Step(name, m, "pad", PadSpec((left, right, top, bottom), mode)))
        padding = (0, 0)
    else:
        padding = (sides[0][0], sides[1][0])
    steps.append(Step(name, m, "conv", ConvSpec(kernel, stride, padding, dilation, m.groups)))
    return steps


def _pool_step(name: str, m: nn.Module) -> Step:
    one_d = isinstance(m, (nn.AvgPool1d, nn.MaxPool1d))
    kernel = _as_pair(m.kernel_size, one_d, 1)
    stride = _as_pair(m.stride or m.kernel_size, one_d, 1)
    padding = _as_pair(m.padding, one_d, 0)
    if isinstance(m, _AVG_POOLS):
        return Step(name, m, "pool", AvgPoolSpec(kernel, stride, padding, m.ceil_mode, m.count_include_pad,
                                                 getattr(m, "divisor_override", None)))
    if m.return_indices:
        raise unsupported(name, m, "return_indices=True")
    return Step(name, m, "maxpool", MaxPoolSpec(kernel, stride, padding, _as_pair(m.dilation, one_d, 1),
                                                m.ceil_mode))


def plan(model: nn.Module, tensors: dict[str, torch.Tensor] | None = None) -> Chain:
    """The model as a :class:`Chain` of :class:`Step`; raises :class:`Unsupported` naming the first layer
    outside the supported list (a ``ValueError`` for Dropout in training mode, which is random).

    ``tensors``: the model's :func:`~prunebench.models.effective_params`, when the caller has them already.
    """
    if not isinstance(model, nn.Sequential):
        raise Unsupported(f"model must be an nn.Sequential (e.g. prunebench.models.Net) for the native sweeps; "
                          f"got {type(model).__name__}. Use backend='torchfunc' for other module structures "
                          "(small models only).", f"the forward of {type(model).__name__} (not an nn.Sequential)")
    tensors = effective_params(model) if tensors is None else tensors
    owned: dict[str, list[str]] = {}  # module name -> its own parameters' local names
    for key in tensors:
        prefix, _, local = key.rpartition(".")
        owned.setdefault(prefix, []).append(local)
    modules = [(n, m) for n, m in model.named_modules(remove_duplicate=False) if not isinstance(m, nn.Sequential)]
    steps = Chain()
    seen: set[int] = set()
    for position, (name, module) in enumerate(modules):
        if isinstance(module, nn.LogSoftmax):
            if position != len(modules) - 1 or module.dim not in (1, -1):
                raise unsupported(name, module, "LogSoftmax is supported only as the last layer, over dim 1")
            steps.log_softmax = True
        elif isinstance(module, ACTIVATIONS):
            steps.append(Step(name, module, "act"))
        elif isinstance(module, nn.Flatten):
            if module.start_dim != 1 or module.end_dim != -1:
                raise unsupported(name, module, f"start_dim={module.start_dim}, end_dim={module.end_dim}")
            steps.append(Step(name, module, "reshape", _flatten))
        elif isinstance(module, nn.Identity):
            steps.append(Step(name, module, "reshape", _same))
        elif isinstance(module, nn.modules.dropout._DropoutNd):
            if module.training and module.p > 0:
                raise ValueError(f"layer {name!r} ({type(module).__name__}) is in training mode, where it drops "
                                 "units at random; curvature is taken of the deterministic network: call "
                                 "model.eval() first")
            steps.append(Step(name, module, "reshape", _same))
        elif isinstance(module, (*_AVG_POOLS, *_MAX_POOLS)):
            if isinstance(module, _ONE_D):
                steps.append(Step(name, module, "reshape", _unit_height))
            steps.append(_pool_step(name, module))
        elif isinstance(module, (nn.Linear, *_CONVS)):
            if id(module) in seen and owned.get(name):
                raise unsupported(name, module, "the same parametrised layer is used twice")
            seen.add(id(module))
            if isinstance(module, _ONE_D):
                steps.append(Step(name, module, "reshape", _unit_height))
            step = Step(name, module, "linear") if isinstance(module, nn.Linear) else None
            chain = [step] if step is not None else _conv_steps(name, module)
            step = chain[-1]
            for local in owned.get(name, ()):
                key = f"{name}.{local}" if name else local
                role = local.removesuffix("_orig")
                if role not in ("weight", "bias"):
                    raise unsupported(name, module, f"unexpected parameter {local!r}")
                tensor = tensors[key]
                if role == "weight":
                    step.weight_shape = tensor.shape
                    if isinstance(module, nn.Conv1d):
                        tensor = tensor.unsqueeze(2)
                setattr(step, role, tensor)
                setattr(step, f"{role}_key", key)
            steps.extend(chain)
        else:
            raise unsupported(name, module)
    return steps


@dataclass
class Trace:
    """What one forward pass leaves for one backward sweep, which consumes it: each entry is released (set to
    ``None``, or removed from ``derivs``) once no later step of the sweep needs it.

    Attributes:
        inputs: ``inputs[i]`` is the input of step ``i`` (``[N, *in_i]``) where the step has weights (Linear,
            convolution), ``None`` elsewhere: the sweeps need no other (an activation's derivatives are kept
            instead), and a CNN's largest maps are not held.
        shapes: ``shapes[i]`` the per-sample shape ``in_i`` of the input of step ``i``.
        output: the model output ``z``, ``[N, C]`` (the logits, when the model ends in LogSoftmax).
        derivs: for each activation step ``i``: ``(f'(a), f''(a))`` at its input ``a``, each ``[N, *in_i]``
            (``f''`` is ``None`` when :func:`record` was not asked for it).
        log_softmax: the model ends in a LogSoftmax that ``output`` has not passed through.
    """

    inputs: list[torch.Tensor | None]
    shapes: list[torch.Size]
    output: torch.Tensor
    derivs: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    log_softmax: bool = False

    def shape(self, i: int) -> torch.Size:
        """Per-sample shape of the tensor at position ``i`` (the input of step ``i``)."""
        return self.shapes[i] if i < len(self.shapes) else self.output.shape[1:]


def record(steps: list[Step], inputs: torch.Tensor, second: bool = True) -> Trace:
    """Forward pass through ``steps`` keeping every step's input, the activations' derivatives (``f''`` only
    with ``second``; ``None`` in its place otherwise) and the max poolings' argmax (in ``step.indices``)."""
    x = inputs
    kept, shapes, derivs = [], [], {}
    for i, step in enumerate(steps):
        kept.append(x if step.kind in ("linear", "conv") else None)
        shapes.append(x.shape[1:])
        s = step.spec
        if step.kind == "act":  # a piecewise-linear f'' is zero: not formed
            curved = second and not isinstance(step.module, PIECEWISE_LINEAR)
            x, f1, f2 = activation_derivatives(step.module, x, second=curved)
            derivs[i] = (f1, f2)
        elif step.kind == "linear":
            if x.dim() != 2:
                raise unsupported(step.name, step.module, f"input of shape {tuple(x.shape)}; the native "
                                  "backend needs [N, features] inputs to Linear layers (add nn.Flatten "
                                  "before it)")
            x = F.linear(x, step.weight, step.bias)
        elif step.kind == "conv":
            x = F.conv2d(x, step.weight, step.bias, s.stride, s.padding, s.dilation, s.groups)
        elif step.kind == "pool":
            x = F.avg_pool2d(x, s.kernel_size, s.stride, s.padding, s.ceil_mode, s.count_include_pad,
                             s.divisor_override)
        elif step.kind == "maxpool":
            x, indices = F.max_pool2d(x, s.kernel_size, s.stride, s.padding, s.dilation, s.ceil_mode,
                                      return_indices=True)
            step.indices = indices
        elif step.kind == "pad":
            x = F.pad(x, s.pad, s.mode)
        else:
            x = s(x)
    if x.dim() != 2:
        raise ValueError(f"model outputs must have shape [N, C]; got {tuple(x.shape)}. End the model with "
                         "nn.Flatten or nn.Linear.")
    return Trace(kept, shapes, x, derivs, getattr(steps, "log_softmax", False))




def lowest_curved(steps: list[Step]) -> int | None:
    """The first step that is an activation with an f'' term (not piecewise linear), or ``None``: below it the
    sweeps need no ``dE/dx`` (ReLU networks need it nowhere)."""
    return next((i for i, s in enumerate(steps) if s.kind == "act" and not isinstance(s.module, PIECEWISE_LINEAR)),
                None)
