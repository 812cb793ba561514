"""The paper architectures, built by name, each printing its shape.

Every model is a :class:`Net`: an ``nn.Sequential`` of the layers :mod:`prunebench.curvature` back-propagates
exact second derivatives through layer by layer (Linear, convolutions, pooling, Flatten, elementwise
activations).

Free parameters, not connections, are what pruning counts: a convolution kernel weight is one free parameter
however many connections share it (LeCun, Denker & Solla 1989, section 3).

References:
    LeCun, Boser, Denker, Henderson, Howard, Hubbard & Jackel (1990), "Handwritten digit recognition with a
    back-propagation network", NIPS 2 (the shared-weight zip-code network that OBD pruned).
    Hassibi & Stork (1993), "Second order derivatives for network pruning: Optimal Brain Surgeon", NIPS 5.
    Singh & Alistarh (2020), "WoodFisher", NeurIPS (the 784-40-20-10 test network without biases).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils import prune

__all__ = [
    "MODELS",
    "Net",
    "ScaledTanh",
    "activation_derivatives",
    "build",
    "effective_params",
    "functional_forward",
]


class ScaledTanh(nn.Module):
    """LeCun's squashing function f(a) = 1.7159 tanh(2a/3): f(+-1) = +-1, where f'' is largest."""

    A = 1.7159
    S = 2.0 / 3.0

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.A * torch.tanh(self.S * a)

    def extra_repr(self) -> str:
        return "1.7159*tanh(2a/3)"


_ACTIVATION_NAMES = {nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.ReLU: "relu", nn.Identity: "identity",
                     ScaledTanh: "scaled-tanh", nn.LeakyReLU: "leaky-relu", nn.ELU: "elu", nn.SiLU: "silu",
                     nn.GELU: "gelu", nn.Softplus: "softplus"}

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def activation_derivatives(module: nn.Module, a: torch.Tensor, second: bool = True
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Value, first and second derivative (``None`` unless ``second``) of an elementwise activation at
    pre-activation ``a`` (any shape).

    At a kink (ReLU and LeakyReLU at 0, ELU at 0) f' is taken from the side autograd takes: ReLU's f'(0) = 0,
    LeakyReLU's the negative slope, ELU's ``alpha``; f'' is zero on both sides for the piecewise-linear ones.
    Softplus is linear (f' = 1, f'' = 0) where ``beta a > threshold``, as torch computes it. GELU: the exact
    ``a Phi(a)`` (f'' = phi(a) (2 - a^2)) or the tanh approximation.
    """
    if isinstance(module, nn.Tanh):
        t = torch.tanh(a)
        d1 = 1 - t**2
        return t, d1, -2 * t * d1 if second else None
    if isinstance(module, ScaledTanh):
        t = torch.tanh(ScaledTanh.S * a)
        d1 = ScaledTanh.A * ScaledTanh.S * (1 - t**2)
        return ScaledTanh.A * t, d1, -2 * ScaledTanh.S * t * d1 if second else None
    if isinstance(module, nn.Sigmoid):
        s = torch.sigmoid(a)
        d1 = s * (1 - s)
        return s, d1, d1 * (1 - 2 * s) if second else None
    if isinstance(module, nn.ReLU):
        return torch.relu(a), (a > 0).to(a.dtype), torch.zeros_like(a) if second else None
    if isinstance(module, nn.LeakyReLU):
        d1 = torch.where(a > 0, torch.ones_like(a), torch.full_like(a, module.negative_slope))
        return a * d1, d1, torch.zeros_like(a) if second else None
    if isinstance(module, nn.ELU):
        positive = a > 0
        e = module.alpha * torch.exp(torch.clamp(a, max=0))  # alpha e^a on the negative side
        # At 0 autograd takes f' from the left (alpha) and f'' from the right (0): the same here.
        return (torch.where(positive, a, e - module.alpha), torch.where(positive, 1.0, e),
                torch.where(a >= 0, 0.0, e) if second else None)
    if isinstance(module, nn.SiLU):
        s = torch.sigmoid(a)
        d1 = s * (1 + a * (1 - s))
        return a * s, d1, s * (1 - s) * (2 + a * (1 - 2 * s)) if second else None
    if isinstance(module, nn.GELU):
        if module.approximate == "tanh":
            t = torch.tanh(_SQRT_2_OVER_PI * (a + _GELU_CUBIC * a**3))
            du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * a**2)
            sech2 = 1 - t**2
            d1 = 0.5 * (1 + t) + 0.5 * a * sech2 * du
            d2 = sech2 * (du - a * t * du**2 + 0.5 * a * _SQRT_2_OVER_PI * 6 * _GELU_CUBIC * a)
            return 0.5 * a * (1 + t), d1, d2 if second else None
        cdf = 0.5 * (1 + torch.erf(a * math.sqrt(0.5)))
        pdf = torch.exp(-0.5 * a**2) / math.sqrt(2 * math.pi)
        return a * cdf, cdf + a * pdf, pdf * (2 - a**2) if second else None
    if isinstance(module, nn.Softplus):
        z = module.beta * a
        linear = z > module.threshold
        s = torch.sigmoid(z)
        value = torch.where(linear, a, torch.nn.functional.softplus(a, module.beta, module.threshold))
        # torch's second derivative is zero from the threshold on (f' switches above it): the same here.
        return (value, torch.where(linear, 1.0, s),
                torch.where(z >= module.threshold, 0.0, module.beta * s * (1 - s)) if second else None)
    if isinstance(module, nn.Identity):
        return a, torch.ones_like(a), torch.zeros_like(a) if second else None
    raise TypeError(
        f"activation must be one of {sorted(_ACTIVATION_NAMES.values())}; got {type(module).__name__}. "
        "Use one of the supported activation modules or extend prunebench.models.activation_derivatives."
    )


def _act(name: str) -> nn.Module:
    return {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU, "identity": nn.Identity,
            "scaled-tanh": ScaledTanh}[name]()


class Net(nn.Sequential):
    """A paper architecture: an ``nn.Sequential`` that knows its name and prints its shape.

    Attributes:
        name: the registry name it was built from (a key of :data:`MODELS`), set by :func:`build`.
        arch: the short architecture string, e.g. ``"MLP(17-3-1, sigmoid)"``.
        input_shape: shape of one input sample, e.g. ``(17,)`` or ``(1, 16, 16)``.
    """

    def __init__(self, arch: str, input_shape: tuple[int, ...], *layers: nn.Module):
        super().__init__(*layers)
        self.name = ""
        self.arch = arch
        self.input_shape = tuple(input_shape)

    def free_parameters(self) -> int:
        """Number of free (independently adjustable) parameters; shared weights count once, and entries held
        at zero by a mask (``torch.nn.utils.prune``: a fixed connection table, or pruned weights) not at all."""
        total = 0
        for name, p in self.named_parameters():
            total += p.numel() if not name.endswith("_orig") else int(self._mask(name).count_nonzero())
        return total

    def _mask(self, name: str) -> torch.Tensor:
        prefix, _, leaf = name.rpartition(".")
        return getattr(self.get_submodule(prefix), leaf.removesuffix("_orig") + "_mask")

    def connections(self) -> int:
        """Number of connections (multiply-adds of one forward pass, biases counted as connections; masked
        weights are no connections)."""
        total = 0
        x = torch.zeros(1, *self.input_shape, dtype=next(self.parameters()).dtype)
        for layer in self:
            y = layer(x)
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                weight = layer.weight.detach()
                inputs_per_output = (weight.flatten(1) != 0).sum(1) if hasattr(layer, "weight_mask") else \
                    torch.full((weight.shape[0],), weight[0].numel())
                per_channel = inputs_per_output + (layer.bias is not None)
                positions = y[0].numel() // weight.shape[0]
                total += positions * int(per_channel.sum())
            x = y
        return total

    def __repr__(self) -> str:
        return f"{self.arch} [{self.free_parameters()} free parameters, {self.connections()} connections]"


def _mlp(sizes: list[int], hidden: str, output: str, bias: bool = True) -> Net:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out, bias=bias))
        last = i == len(sizes) - 2
        if not (last and output == "identity"):
            layers.append(_act(output if last else hidden))
    tail = "" if bias else ", no bias"
    arch = f"MLP({'-'.join(map(str, sizes))}, {hidden}{tail})"
    return Net(arch, (sizes[0],), *layers)


def _lenet_usps() -> Net:
    """Shared-weight net for 16x16 digits after LeCun et al. (1990), with full H2->H3 connectivity.

    16x16 input placed in a 28x28 field (padding 6) -> conv 5x5, 4 maps 24x24 -> average 2x2 -> conv 5x5,
    12 maps 8x8 -> average 2x2 -> 192 -> 10, scaled tanh throughout. 3,246 free parameters and 139,402
    connections (the 1990 net: 2,578 and 98,442, because H3 saw only some H2 maps and subsampling had
    trainable coefficients; this net keeps standard layers so every curvature backend supports it).
    """
    return Net(
        "LeNet(16x16: c4@5x5-avg2-c12@5x5-avg2-10, scaled-tanh)", (1, 16, 16),
        nn.Conv2d(1, 4, 5, padding=6), ScaledTanh(), nn.AvgPool2d(2),
        nn.Conv2d(4, 12, 5), ScaledTanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(192, 10), ScaledTanh(),
    )


LENET1990_TABLE = ((0,), (1,), (2,), (3,), (0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3), (0, 1), (2, 3))
"""H2 maps read by each of the 12 H3 maps of :func:`_lenet1990` (inferred: see its docstring)."""


def _lenet1990() -> Net:
    """The shared-weight network of LeCun, Boser, Denker, Henderson, Howard, Hubbard & Jackel (1990),
    "Handwritten digit recognition with a back-propagation network" (the net Optimal Brain Damage pruned):
    2,578 free parameters.

    Layers (stated in the paper): 16x16 input; H1: 4 feature maps 24x24, 5x5 kernels; H2: 4 maps 12x12, each
    unit the average of a 2x2 block times a trainable coefficient plus a trainable bias; H3: 12 feature maps
    8x8, 5x5 kernels on a subset of the H2 maps; H4: 12 maps 4x4, subsampled like H2; 10 output units fully
    connected to H4. Every unit squashes its sum (here LeCun's 1.7159 tanh(2a/3)).

    Inferred details (the paper does not print them):

    - Input: the 16x16 image centred in a 28x28 field of zeros (``padding=6`` on H1): 24x24 H1 maps need a
      28x28 input, and 4,635 units = 784 inputs + 3,850 others + 1 bias unit only with a 28x28 input.
    - Connection table: the paper's counts fix its size. 104 (H1) + 8 (H2) + 12 biases (H3) + 24 (H4) +
      1,930 (output) + 25 k (H3 kernels) = 2,578 gives k = 20 (H2 map, H3 map) pairs, and then the
      connections come to exactly the paper's 98,442 (59,904 + 2,880 + 64 (25 k + 12) + 960 + 1,930, a
      subsampling unit counting 4 inputs and its bias). Which 20 pairs is not stated; :data:`LENET1990_TABLE`
      takes every H2 map 5 times: 4 H3 maps on one H2 map each, 6 on every pair, 2 on the pairs {0, 1} and
      {2, 3} again.
    - The table is a fixed mask on a full 4 -> 12 convolution (``torch.nn.utils.prune.custom_from_mask``: the
      parameter is ``weight_orig``, zero at the 28 absent kernels, which :meth:`Net.free_parameters` does not
      count and the forward pass never uses); a subsampling layer is ``AvgPool2d(2)`` then a depthwise 1x1
      convolution (its weight the per-map coefficient, its bias the per-map bias).
    - :meth:`Net.connections` gives 96,138: it counts a subsampling unit's coefficient once (2 per unit with the
      bias) where the paper counts its four averaged inputs (5 per unit).
    """
    h3 = nn.Conv2d(4, 12, 5)
    mask = torch.zeros_like(h3.weight)
    for out, inputs in enumerate(LENET1990_TABLE):
        mask[out, list(inputs)] = 1
    with torch.no_grad():
        h3.weight.mul_(mask)
    prune.custom_from_mask(h3, "weight", mask)
    return Net(
        "LeNet-1990(16x16: c4@5x5-sub2-c12@5x5 (20 of 48 map pairs)-sub2-10, scaled-tanh)", (1, 16, 16),
        nn.Conv2d(1, 4, 5, padding=6), ScaledTanh(), nn.AvgPool2d(2), nn.Conv2d(4, 4, 1, groups=4), ScaledTanh(),
        h3, ScaledTanh(), nn.AvgPool2d(2), nn.Conv2d(12, 12, 1, groups=12), ScaledTanh(),
        nn.Flatten(), nn.Linear(192, 10), ScaledTanh(),
    )


def _lenet_zip1989() -> Net:
    """The strided-convolution net of LeCun et al. (1989), "Backpropagation applied to handwritten zip code
    recognition": 16x16 input; H1 12 maps 8x8 by 5x5 kernels at stride 2 (input padded by 2); H2 12 maps 4x4
    by 5x5 kernels at stride 2 (here on all 12 H1 maps; the paper's took 8 of 12); 30 hidden units; 10
    outputs; tanh. 10,024 free parameters."""
    return Net("LeNet-1989(16x16: c12@5x5/2-c12@5x5/2-30-10, tanh)", (1, 16, 16),
               nn.Conv2d(1, 12, 5, stride=2, padding=2), nn.Tanh(), nn.Conv2d(12, 12, 5, stride=2, padding=2),
               nn.Tanh(), nn.Flatten(), nn.Linear(192, 30), nn.Tanh(), nn.Linear(30, 10))


def _cnn_depthwise_separable() -> Net:
    """A depthwise-separable CNN on 16x16 inputs (MobileNet-style blocks): conv 3x3 (8 maps) -> ReLU -> [depthwise
    3x3, pointwise 1x1 to 16] -> ReLU -> max 2 -> [depthwise 3x3, pointwise 1x1 to 32] -> ReLU -> avg 2 -> 10."""
    return Net("CNN(16x16: c8@3x3-dw3x3-pw16-max2-dw3x3-pw32-avg2-10, relu)", (1, 16, 16),
               nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
               nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 16, 1), nn.ReLU(), nn.MaxPool2d(2),
               nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.Conv2d(16, 32, 1), nn.ReLU(), nn.AvgPool2d(2),
               nn.Flatten(), nn.Linear(512, 10))


def _cnn_dilated() -> Net:
    """A dilated CNN on 16x16 inputs: three 3x3 convolutions (8 maps) at dilation 1, 2, 4 ('same' size),
    tanh, average 4 -> 10."""
    return Net("CNN(16x16: c8@3x3-c8@3x3d2-c8@3x3d4-avg4-10, tanh)", (1, 16, 16),
               nn.Conv2d(1, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, 8, 3, padding=2, dilation=2), nn.Tanh(),
               nn.Conv2d(8, 8, 3, padding=4, dilation=4), nn.Tanh(), nn.AvgPool2d(4), nn.Flatten(),
               nn.Linear(128, 10))


def _cnn_relu_maxpool() -> Net:
    """A plain ReLU CNN on 16x16 inputs: conv 3x3 (16 maps) -> max 2 -> conv 3x3 (32 maps) -> max 2 -> 10."""
    return Net("CNN(16x16: c16@3x3-max2-c32@3x3-max2-10, relu)", (1, 16, 16),
               nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
               nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 10))


def _lenet_digits() -> Net:
    """The 8x8 variant for scikit-learn digits: conv 3x3, 4 maps 8x8 -> avg 2 -> conv 3x3, 8 maps 4x4 -> avg 2
    -> 32 -> 10, scaled tanh. 666 free parameters."""
    return Net(
        "LeNet(8x8: c4@3x3-avg2-c8@3x3-avg2-10, scaled-tanh)", (1, 8, 8),
        nn.Conv2d(1, 4, 3, padding=1), ScaledTanh(), nn.AvgPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), ScaledTanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(32, 10), ScaledTanh(),
    )


MODELS: dict[str, Callable[[], Net]] = {
    "xor-2-2-1": lambda: _mlp([2, 2, 1], "sigmoid", "sigmoid"),
    "monk-17-3-1": lambda: _mlp([17, 3, 1], "sigmoid", "sigmoid"),
    "monk-17-2-1": lambda: _mlp([17, 2, 1], "sigmoid", "sigmoid"),
    "lenet-usps": _lenet_usps,
    "lenet-digits": _lenet_digits,
    "lenet-300-100": lambda: _mlp([784, 300, 100, 10], "relu", "identity"),
    "mlp-784-40-20-10": lambda: _mlp([784, 40, 20, 10], "relu", "identity", bias=False),
    "mlp-64-32-10": lambda: _mlp([64, 32, 10], "tanh", "identity"),
    "mlp-256-128-64-10": lambda: _mlp([256, 128, 64, 10], "tanh", "identity"),
    "nettalk-203-80-26": lambda: _mlp([203, 80, 26], "sigmoid", "sigmoid"),
    "nettalk-203-20-26": lambda: _mlp([203, 20, 26], "sigmoid", "sigmoid"),
    "lenet1990": _lenet1990,
    "lenet-zip1989": _lenet_zip1989,
    "cnn-dwsep": _cnn_depthwise_separable,
    "cnn-dilated": _cnn_dilated,
    "cnn-relu-maxpool": _cnn_relu_maxpool,
    "mlp-64-32x6-10": lambda: _mlp([64, 32, 32, 32, 32, 32, 32, 10], "tanh", "identity"),
}
"""Architectures by name. The paper models: XOR 2-2-1 (9 weights), MONK 17-3-1 (58) and 17-2-1 (39) as
inferred in PAPERS.md section 2; LeNet-style nets for OBD (``lenet1990``: the 2,578-parameter net OBD pruned);
LeNet-300-100; the WoodFisher test MLP; NETtalk. For the curvature benchmark zoo: the 1989 zip-code net with
stride-2 convolutions, depthwise-separable, dilated and ReLU/max-pooling CNNs, and a deep narrow MLP."""


def build(name: str, *, seed: int | None = None, dtype: torch.dtype = torch.float32) -> Net:
    """Build the architecture ``name`` (a key of :data:`MODELS`), initialised from ``seed`` when given."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}; got {name!r}. "
                         "Run `prunebench models` to list them.")
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = MODELS[name]()
    else:
        net = MODELS[name]()
    net.name = name
    return net.to(dtype)


def effective_params(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors the forward pass uses, keyed like ``dict(model.named_parameters())``.

    For a module pruned with ``torch.nn.utils.prune`` the parameter ``<layer>.weight_orig`` maps to the
    effective ``weight_orig * weight_mask``, computed afresh (``module.weight`` is refreshed only by a forward
    pass, so it can be stale after an in-place update of ``weight_orig``); every other parameter maps to itself.
    """
    modules = None
    out = {}
    for name, p in model.named_parameters():
        prefix, _, leaf = name.rpartition(".")
        if leaf.endswith("_orig"):
            modules = dict(model.named_modules()) if modules is None else modules
            out[name] = p * getattr(modules[prefix], leaf[: -len("_orig")] + "_mask")
        else:
            out[name] = p
    return out


def functional_forward(model: nn.Module, params: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    """``model(inputs)`` with the effective tensors replaced by ``params`` (keyed like named_parameters).

    Masks are *not* re-applied: ``params`` are the effective values, so derivatives are taken with respect to
    the tensors the forward pass really uses.
    """
    renamed = {}
    for name, t in params.items():
        prefix, _, leaf = name.rpartition(".")
        leaf = leaf[: -len("_orig")] if leaf.endswith("_orig") else leaf
        renamed[f"{prefix}.{leaf}" if prefix else leaf] = t
    return _call_without_prune_hooks(model, renamed, inputs)


def _call_without_prune_hooks(model: nn.Module, tensors: dict[str, torch.Tensor], inputs: torch.Tensor):
    """functional_call with pruning forward-pre-hooks disabled so substituted weights are not overwritten."""
    from torch.nn.utils import prune

    saved = []
    for module in model.modules():
        for key, hook in list(module._forward_pre_hooks.items()):
            if isinstance(hook, prune.BasePruningMethod) or (
                isinstance(hook, prune.PruningContainer)
            ):
                saved.append((module, key, hook))
                del module._forward_pre_hooks[key]
    try:
        return functional_call(model, tensors, (inputs,), strict=False)
    finally:
        for module, key, hook in saved:
            module._forward_pre_hooks[key] = hook
