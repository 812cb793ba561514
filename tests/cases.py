"""Test cases as data: small models x losses x devices, with readable ids.

A :class:`Case` builds, deterministically from its fields, a model, a loss function, inputs and targets:

    Case("mlp-3-4-3-tanh", "mse-sum").id == "model=mlp-3-4-3-tanh,loss=mse-sum,dev=cpu"

Models are named in :data:`MODELS`; losses are ``mse-sum``, ``mse-mean``, ``ce-sum``, ``ce-mean``.
``dev=cuda`` cases carry the ``cuda`` marker and skip where there is no GPU. Use :func:`params` to parametrise
a test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from prunebench.models import Net, ScaledTanh, build

_ACT = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU, "identity": nn.Identity,
        "scaled-tanh": ScaledTanh}


def mlp(sizes: list[int], hidden: str, output: str = "identity", bias: bool = True) -> Net:
    """An MLP with ``hidden`` activations and an ``output`` activation (``identity``: none)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b, bias=bias))
        act = output if i == len(sizes) - 2 else hidden
        if act != "identity":
            layers.append(_ACT[act]())
    return Net(f"MLP({'-'.join(map(str, sizes))}, {hidden}/{output})", (sizes[0],), *layers)


def _cnn_small() -> Net:
    """Two shared-weight layers (stride, padding), a padded overlapping pool, and a pool before an activation.

    1x7x7 -> conv 3x3 stride 2 pad 1 -> 2x4x4 -> tanh -> avg 2 -> 2x2x2 -> conv 2x2 pad 1 -> 3x3x3
    -> avg 3 stride 2 pad 1 -> 3x2x2 -> sigmoid -> 12 -> 3, scaled tanh. 73 parameters.
    """
    return Net("CNN(small)", (1, 7, 7),
               nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.Tanh(), nn.AvgPool2d(2),
               nn.Conv2d(2, 3, 2, padding=1), nn.AvgPool2d(3, stride=2, padding=1), nn.Sigmoid(),
               nn.Flatten(), nn.Linear(12, 3), ScaledTanh())


def _cnn_linear() -> Net:
    """A convolution read directly by a Linear layer (no activation between): 1x4x4 -> 2x4x4 -> 3."""
    return Net("CNN(conv-linear)", (1, 4, 4), nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(32, 3),
               nn.Tanh())


def _cnn_conv_only() -> Net:
    """Convolutions all the way to the outputs (no Linear): 1x5x5 -> 2x2x2 -> 3x1x1 -> 3."""
    return Net("CNN(conv-only)", (1, 5, 5), nn.Conv2d(1, 2, 3, stride=2), nn.Tanh(), nn.Conv2d(2, 3, 2),
               nn.Flatten())


def _pruned(builder: Callable[[], Net], amount: float = 0.4) -> Callable[[], Net]:
    def make() -> Net:
        net = builder()
        for module in net:
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                prune.l1_unstructured(module, "weight", amount=amount)
        return net
    return make


MODELS: dict[str, Callable[[], Net]] = {
    "mlp-3-4-3-tanh": lambda: mlp([3, 4, 3], "tanh"),
    "mlp-3-4-3-sigmoid": lambda: mlp([3, 4, 3], "sigmoid", "sigmoid"),
    "mlp-3-4-3-relu": lambda: mlp([3, 4, 3], "relu"),
    "mlp-3-4-3-scaled-tanh": lambda: mlp([3, 4, 3], "scaled-tanh", "scaled-tanh"),
    "mlp-3-4-3-tanh-nobias": lambda: mlp([3, 4, 3], "tanh", "tanh", bias=False),
    "mlp-3-4-4-3-3-tanh": lambda: mlp([3, 4, 4, 3, 3], "tanh", "sigmoid"),
    "mlp-3-4-3-3-relu-nobias": lambda: mlp([3, 4, 3, 3], "relu", bias=False),
    "mlp-3-4-3-tanh-pruned": _pruned(lambda: mlp([3, 4, 3], "tanh", "tanh")),
    "cnn-small": _cnn_small,
    "cnn-small-pruned": _pruned(_cnn_small),
    "cnn-conv-linear": _cnn_linear,
    "cnn-conv-only": _cnn_conv_only,
    "lenet-digits": lambda: build("lenet-digits"),
}

LOSSES = ("mse-sum", "mse-mean", "ce-sum", "ce-mean")


@dataclass(frozen=True)
class Case:
    """One model x loss x device combination; ``n`` samples, everything seeded by ``seed``."""

    model: str
    loss: str
    device: str = "cpu"
    n: int = 4
    seed: int = 0

    @property
    def id(self) -> str:
        return f"model={self.model},loss={self.loss},dev={self.device}"

    def build(self, dtype: torch.dtype = torch.float64):
        """``(model, loss_fn, inputs, targets)`` on ``self.device`` in ``dtype`` (CE: class indices)."""
        gen = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = MODELS[self.model]()
            # Larger-than-default weights so that activations leave their linear range and f'' terms matter.
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(2.0)
        model = model.to(self.device, dtype)
        # Draw in float64 and cast, so that every dtype sees the same numbers.
        X = torch.randn(self.n, *model.input_shape, generator=gen, dtype=torch.float64).to(self.device, dtype)
        C = model(X).shape[1]
        kind, reduction = self.loss.split("-")
        if kind == "mse":
            loss_fn = nn.MSELoss(reduction=reduction)
            y = torch.randn(self.n, C, generator=gen, dtype=torch.float64).to(self.device, dtype)
        else:
            loss_fn = nn.CrossEntropyLoss(reduction=reduction)
            y = torch.randint(0, C, (self.n,), generator=gen).to(self.device)
        return model, loss_fn, X, y


def params(cases: Iterable[Case]) -> list:
    """``pytest.param`` objects with readable ids, marking CUDA cases."""
    out = []
    for case in cases:
        marks = []
        if case.device.startswith("cuda"):
            marks = [pytest.mark.cuda,
                     pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def grid(models: Iterable[str], losses: Iterable[str] = LOSSES,
         devices: Iterable[str] = ("cpu",)) -> list[Case]:
    """Every combination of the given models, losses and devices."""
    return [Case(m, loss, d) for m in models for loss in losses for d in devices]
