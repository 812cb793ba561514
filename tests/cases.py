"""Test cases as data: small models x losses x devices, with readable ids.

A :class:`Case` builds, deterministically from its fields, a model, a loss function, inputs and targets:

    Case("mlp-3-4-3-tanh", "mse-sum").id == "model=mlp-3-4-3-tanh,loss=mse-sum,dev=cpu"

Models are named in :data:`MODELS` (:data:`LAYER_MODELS`: one small model per layer kind and setting);
losses are ``mse-sum``, ``mse-mean``, ``ce-sum``, ``ce-mean``, and ``nll-sum``, ``nll-mean`` (NLLLoss, for
models ending in LogSoftmax).
``dev=cuda`` cases carry the ``cuda`` marker and skip where there is no GPU. Use :func:`params` to parametrise
a test.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
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


def _headed(name: str, input_shape: tuple[int, ...], *body: nn.Module, classes: int = 3) -> Net:
    """``body``, then Flatten and a Linear layer to ``classes`` outputs sized by a dry run."""
    with torch.no_grad():
        features = nn.Sequential(*body).eval()(torch.zeros(1, *input_shape)).flatten(1).shape[1]
    return Net(name, input_shape, *body, nn.Flatten(), nn.Linear(features, classes))


def _conv2d_case(layer: Callable[[], nn.Module]) -> Callable[[], Net]:
    """``layer`` between two activations above a first convolution: 2x6x6 -> conv 3x3 (3 maps) -> tanh ->
    layer -> sigmoid -> linear 3. The layer is crossed by the sweeps, owns its diagonal, and the first
    convolution's directions are pushed through it to the f'' terms above it."""
    return lambda: _headed("conv2d", (2, 6, 6), nn.Conv2d(2, 4, 3, padding=1), nn.Tanh(), layer(), nn.Sigmoid())


def _pool2d_case(layer: Callable[[], nn.Module]) -> Callable[[], Net]:
    """A pooling ``layer`` between two convolutions: 2x6x6 -> conv 3x3 (3 maps) -> tanh -> pool -> conv 2x2
    -> sigmoid -> linear 3."""
    return lambda: _headed("pool2d", (2, 6, 6), nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), layer(),
                           nn.Conv2d(3, 2, 2), nn.Sigmoid())


def _conv1d_case(*layers: Callable[[], nn.Module]) -> Callable[[], Net]:
    """1-D layers above a first Conv1d: 2x10 -> conv 3 (4 channels) -> tanh -> layers -> sigmoid ->
    linear 3."""
    return lambda: _headed("conv1d", (2, 10), nn.Conv1d(2, 4, 3, padding=1), nn.Tanh(), *(m() for m in layers),
                           nn.Sigmoid())


def _act_case(act: Callable[[], nn.Module]) -> Callable[[], Net]:
    """MLP 3-4-4-3 with ``act`` after both hidden layers (two layers: cross terms matter)."""
    return lambda: Net("act", (3,), nn.Linear(3, 4), act(), nn.Linear(4, 4), act(), nn.Linear(4, 3))


LAYER_MODELS: dict[str, tuple[str, Callable[[], Net]]] = {
    # name: (layer kind, builder)
    "linear-bias": ("Linear", lambda: mlp([3, 4, 3], "tanh")),
    "linear-nobias": ("Linear", lambda: mlp([3, 4, 4, 3], "tanh", bias=False)),
    "conv2d-stride2": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 3, 3, stride=2, padding=1))),
    "conv2d-stride2x1-kernel3x2": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 3, (3, 2), stride=(2, 1),
                                                                            padding=(1, 0)))),
    "conv2d-dilation2": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 3, 3, dilation=2, padding=2))),
    "conv2d-overpadded": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 3, 2, padding=2))),
    "conv2d-groups2": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 6, 3, groups=2, padding=1))),
    "conv2d-depthwise": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 4, 3, groups=4, padding=1))),
    "conv2d-depthwise-x2-stride2": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 8, 3, groups=4, stride=2))),
    "conv2d-same-odd": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 3, 3, padding="same"))),
    "conv2d-same-even-dilated": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 3, (4, 2), padding="same",
                                                                          dilation=(1, 2)))),
    "conv2d-valid": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 3, 3, padding="valid"))),
    "conv2d-reflect": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 3, 3, padding=1, padding_mode="reflect"))),
    "conv2d-replicate": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 3, 3, padding=(1, 2),
                                                                  padding_mode="replicate"))),
    "conv2d-circular": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 3, 3, padding=1, padding_mode="circular"))),
    "conv2d-pointwise": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 6, 1))),
    "conv2d-pointwise-groups2": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 6, 1, groups=2))),
    "conv2d-depthwise-1x1": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 4, 1, groups=4))),
    "conv2d-full-then-grouped": ("Conv2d", lambda: _headed(
        "conv2d-full-grouped", (2, 5, 5), nn.Conv2d(2, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 4, 3, padding=1),
        nn.Tanh(), nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.Sigmoid())),
    "conv2d-nobias-stride2": ("Conv2d", _conv2d_case(lambda: nn.Conv2d(4, 3, 3, stride=2, bias=False))),
    "conv1d-stride2": ("Conv1d", _conv1d_case(lambda: nn.Conv1d(4, 4, 3, stride=2, padding=1))),
    "conv1d-dilation2-groups2": ("Conv1d", _conv1d_case(lambda: nn.Conv1d(4, 6, 3, dilation=2, groups=2))),
    "conv1d-depthwise-same": ("Conv1d", _conv1d_case(lambda: nn.Conv1d(4, 4, 4, groups=4, padding="same"))),
    "conv1d-reflect-nobias": ("Conv1d", _conv1d_case(lambda: nn.Conv1d(4, 3, 3, padding=2, bias=False,
                                                                       padding_mode="reflect"))),
    "avgpool2d-tiling": ("AvgPool2d", _pool2d_case(lambda: nn.AvgPool2d(2))),
    "avgpool2d-overlap-padded": ("AvgPool2d", _pool2d_case(lambda: nn.AvgPool2d(3, stride=2, padding=1))),
    "avgpool2d-ceil-exclude-pad": ("AvgPool2d", _pool2d_case(lambda: nn.AvgPool2d(
        3, stride=2, padding=1, ceil_mode=True, count_include_pad=False))),
    "maxpool2d": ("MaxPool2d", _pool2d_case(lambda: nn.MaxPool2d(2))),
    "maxpool2d-overlap-padded": ("MaxPool2d", _pool2d_case(lambda: nn.MaxPool2d(3, stride=2, padding=1))),
    "maxpool2d-dilated-ceil": ("MaxPool2d", _pool2d_case(lambda: nn.MaxPool2d(2, dilation=2, ceil_mode=True))),
    "avgpool1d": ("AvgPool1d", _conv1d_case(lambda: nn.AvgPool1d(3, stride=2, padding=1),
                                            lambda: nn.Conv1d(4, 3, 2))),
    "maxpool1d": ("MaxPool1d", _conv1d_case(lambda: nn.MaxPool1d(2), lambda: nn.Conv1d(4, 3, 2))),
    "flatten-conv-only": ("Flatten", lambda: Net("conv-flatten", (1, 5, 5), nn.Conv2d(1, 2, 3, stride=2),
                                                 nn.Tanh(), nn.Conv2d(2, 3, 2), nn.Flatten())),
    "identity-dropout": ("Identity/Dropout", lambda: Net("id-drop", (3,), nn.Linear(3, 4), nn.Identity(),
                                                        nn.Tanh(), nn.Dropout(0.5), nn.Linear(4, 4),
                                                        nn.Sigmoid(), nn.Dropout(0.2), nn.Linear(4, 3))),
    "dropout2d-relu-cnn": ("Identity/Dropout", lambda: _headed(
        "cnn-relu", (1, 6, 6), nn.Conv2d(1, 3, 3), nn.Dropout2d(0.3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 2, 2), nn.ELU())),
    "nested-sequential": ("Sequential", lambda: Net("nested", (3,), nn.Sequential(nn.Linear(3, 4), nn.Tanh()),
                                                    nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.Sigmoid()),
                                                                  nn.Linear(4, 3)))),
    "tanh": ("Tanh", _act_case(nn.Tanh)),
    "sigmoid": ("Sigmoid", _act_case(nn.Sigmoid)),
    "relu": ("ReLU", _act_case(nn.ReLU)),
    "leaky-relu": ("LeakyReLU", _act_case(lambda: nn.LeakyReLU(0.2))),
    "elu": ("ELU", _act_case(lambda: nn.ELU(0.7))),
    "silu": ("SiLU", _act_case(nn.SiLU)),
    "gelu": ("GELU", _act_case(nn.GELU)),
    "gelu-tanh": ("GELU", _act_case(lambda: nn.GELU(approximate="tanh"))),
    "softplus": ("Softplus", _act_case(lambda: nn.Softplus(beta=2.0))),
    "logsoftmax-mlp": ("LogSoftmax", lambda: Net("mlp-logsoftmax", (3,), nn.Linear(3, 4), nn.Tanh(),
                                                 nn.Linear(4, 3), nn.LogSoftmax(dim=1))),
    "logsoftmax-cnn": ("LogSoftmax", lambda: Net("cnn-logsoftmax", (1, 5, 5), nn.Conv2d(1, 2, 3), nn.SiLU(),
                                                 nn.Flatten(), nn.Linear(18, 3), nn.LogSoftmax(dim=-1))),
}
"""Small models, one per layer kind and setting, for the layer coverage matrix: ``name -> (kind, builder)``."""

MODELS: dict[str, Callable[[], Net]] = {
    "mlp-3-4-3-tanh": lambda: mlp([3, 4, 3], "tanh"),
    "mlp-3-4-3-sigmoid": lambda: mlp([3, 4, 3], "sigmoid", "sigmoid"),
    "mlp-3-4-3-relu": lambda: mlp([3, 4, 3], "relu"),
    "mlp-3-4-3-scaled-tanh": lambda: mlp([3, 4, 3], "scaled-tanh", "scaled-tanh"),
    "mlp-3-4-3-tanh-nobias": lambda: mlp([3, 4, 3], "tanh", "tanh", bias=False),
    "mlp-3-4-4-3-3-tanh": lambda: mlp([3, 4, 4, 3, 3], "tanh", "sigmoid"),
    "mlp-3-4-3-3-relu-nobias": lambda: mlp([3, 4, 3, 3], "relu", bias=False),
    # Widening downwards: the f'' terms reach the last Linear layer as signed columns, crossing it in pieces.
    "mlp-3-12-10-4-3-tanh": lambda: mlp([3, 12, 10, 4, 3], "tanh"),
    "mlp-3-4-3-tanh-pruned": _pruned(lambda: mlp([3, 4, 3], "tanh", "tanh")),
    "cnn-small": _cnn_small,
    "cnn-small-pruned": _pruned(_cnn_small),
    "cnn-conv-linear": _cnn_linear,
    "cnn-conv-only": _cnn_conv_only,
    "lenet-digits": lambda: build("lenet-digits"),
    "lenet1990": lambda: build("lenet1990"),
    **{name: builder for name, (_, builder) in LAYER_MODELS.items()},
}

LOSSES = ("mse-sum", "mse-mean", "ce-sum", "ce-mean")
"""The losses of :func:`grid`; ``nll-sum`` and ``nll-mean`` (NLLLoss) also exist, for models ending in
LogSoftmax."""


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
        model = model.to(self.device, dtype).eval()
        # Draw in float64 and cast, so that every dtype sees the same numbers.
        X = torch.randn(self.n, *model.input_shape, generator=gen, dtype=torch.float64).to(self.device, dtype)
        C = model(X).shape[1]
        kind, reduction = self.loss.split("-")
        if kind == "mse":
            loss_fn = nn.MSELoss(reduction=reduction)
            y = torch.randn(self.n, C, generator=gen, dtype=torch.float64).to(self.device, dtype)
        else:
            loss_fn = (nn.CrossEntropyLoss if kind == "ce" else nn.NLLLoss)(reduction=reduction)
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


def inverse_problem(model: str, loss: str, n: int = 6, dtype=torch.float64):
    """``(model, loss_fn, X, y)`` for the inverse tests: the paper nets (xor-2-2-1, monk-17-3-1, built by
    name) or a :class:`Case` model."""
    if model in ("xor-2-2-1", "monk-17-3-1"):
        net = build(model, seed=0, dtype=dtype)
        gen = torch.Generator().manual_seed(1)
        X = torch.randn(n, *net.input_shape, generator=gen, dtype=torch.float64).to(dtype)
        y = torch.rand(n, 1, generator=gen, dtype=torch.float64).to(dtype)
        return net, nn.MSELoss(reduction=loss.split("-")[1]), X, y
    return Case(model, loss, n=n).build(dtype)


def damped(model, loss_fn, X, y, curvature: str, alpha: float = 1e-3) -> torch.Tensor:
    """``G + alpha I`` from the dense float64 oracle of ``curvature``."""
    from prunebench.curvature import oracle

    G = {"ggn": oracle.dense_ggn, "fisher": oracle.dense_fisher, "exact": oracle.dense_hessian}[curvature](
        model, loss_fn, X, y)
    return G + alpha * torch.eye(G.shape[0], dtype=G.dtype)


def tiny_conv_problem(seed: int = 0):
    """A conv-tanh-linear net on 6 random 5x5 images with MSE: ``(model, loss_fn, X, Y)`` (the method tests)."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Net("conv-tiny", (1, 5, 5), nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(),
                    nn.Linear(18, 2)).double()
    X = torch.randn(6, 1, 5, 5, generator=g, dtype=torch.float64)
    Y = torch.randn(6, 2, generator=g, dtype=torch.float64)
    return model, nn.MSELoss(), X, Y


WEIGHTS_ARCH = "mlp-784-40-20-10"
"""The architecture of the weight-file tests (three Linear layers: fc1..fc3)."""


def weight_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """The state dict of a seeded :data:`WEIGHTS_ARCH` as NumPy arrays."""
    model = build(WEIGHTS_ARCH, seed=seed)
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def aliased_weights(arrays):
    """``arrays`` under the fc1..fc3 names of another framework."""
    return {"fc1.weight": arrays["0.weight"], "fc2.weight": arrays["2.weight"], "fc3.weight": arrays["4.weight"]}


def bad_weight_files(tmp_path) -> dict[str, tuple]:
    """Weight files the loader must refuse: label -> (path, pattern of the one-line error)."""
    arrays = weight_arrays()
    files = {}
    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(pickle.dumps(arrays))
    files["pickle-suffix"] = (pkl, r"weights file must end in one of .*Pickles \(\.pkl, \.ckpt\) are not read")
    full = tmp_path / "full.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, full)
    files["full-pickle"] = (full, r"cannot be loaded with torch.load\(weights_only=True\).*never executed")
    disguised = tmp_path / "disguised.npz"
    disguised.write_bytes(pickle.dumps(arrays))
    files["pickle-as-npz"] = (disguised, r"disguised.npz")
    shapes = tmp_path / "shapes.npz"
    np.savez(shapes, **{**arrays, "2.weight": np.zeros((20, 41), np.float32)})
    files["wrong-shape"] = (shapes, r"'2.weight' must have shape \(20, 40\); got \(20, 41\)")
    keys = tmp_path / "keys.npz"
    np.savez(keys, **{**arrays, "6.weight": np.zeros((3, 3), np.float32)})
    files["unknown-key"] = (keys, r"unknown keys \['6.weight'\], missing keys \[\]")
    nan = {k: v.copy() for k, v in arrays.items()}
    nan["0.weight"][3, 5] = np.nan
    nan_path = tmp_path / "nan.npz"
    np.savez(nan_path, **nan)
    files["nan"] = (nan_path, r"'0.weight' must be finite; got 1 NaN or infinite entries")
    return files


def layer_losses(name: str) -> tuple[str, ...]:
    """Two losses per layer model (four for the plain MLP): NLL (sum and mean) after LogSoftmax, else MSE-sum
    and CE-mean."""
    if name.startswith("logsoftmax"):
        return ("nll-sum", "nll-mean")
    if name == "linear-bias":
        return ("mse-sum", "mse-mean", "ce-sum", "ce-mean")
    return ("mse-sum", "ce-mean")


LAYER_CASES = [Case(name, loss, n=3) for name in LAYER_MODELS for loss in layer_losses(name)]
"""Every layer model of :data:`LAYER_MODELS` with its losses (the layer-coverage tests)."""
