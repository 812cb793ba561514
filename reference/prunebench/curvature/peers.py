"""The peer curvature libraries behind one adapter: torch.func (the dense oracle), BackPACK, curvlinops.

References:
    F. Dangel, F. Kunstner and P. Hennig (2020), "BackPACK: Packing more into backprop", ICLR.
    curvlinops-for-pytorch (F. Dangel et al.), linear operators for curvature matrices,
    https://github.com/f-dangel/curvlinops.

Two entry points, one per quantity, for ``E = loss_fn(model(inputs), targets)`` in the model's dtype:

- :func:`diag` ``(backend, curvature, ...)`` -> dict keyed like ``dict(model.named_parameters())``, each value
  shaped like its parameter;
- :func:`dense` ``(backend, curvature, ...)`` -> ``Tensor[P, P]`` in :class:`ParamLayout` order (small models).

``curvature`` is ``"exact"`` (the Hessian), ``"ggn"`` or ``"fisher"`` (empirical Fisher ``s sum_n g_n g_n^T``,
``g_n`` the gradient of ``loss_fn(model(x_n), y_n)``, ``s`` = 1 or ``1/N`` for reduction "sum"/"mean"). Each
peer's own convention is converted to ours: BackPACK's individual gradients of a "mean" loss carry ``1/N``;
curvlinops' empirical Fisher of ``MSELoss(reduction="mean")`` is ``C`` times ours (it differentiates the
per-sample *sum* of squares). What each peer offers (ours, ``backend="native"``, is in :mod:`.backends`):

============  =================================  ==================================================
backend       diag                               dense
============  =================================  ==================================================
torchfunc     exact, ggn, fisher (dense oracle)  exact, ggn, fisher
backpack      DiagHessian, DiagGGNExact,         ggn (SqrtGGNExact), fisher (BatchGrad); no exact:
              SumGradSquared                     BackPACK only has block-diagonal Hessian products
curvlinops    exact, ggn, fisher (P matrix-      HessianLinearOperator, GGNLinearOperator,
              vector products; its estimators    EFLinearOperator @ identity
              are stochastic)
============  =================================  ==================================================

Layers: BackPACK needs a module extension per layer; ``ScaledTanh`` (and ``Identity`` for the Hessian
diagonal) are mapped here through :func:`prunebench.models.activation_derivatives`; any other layer outside
Linear, Conv1d/2d, AvgPool1d/2d, MaxPool1d/2d, Flatten, Dropout, Tanh, Sigmoid, ReLU, LeakyReLU, ELU (and a
padding string or mode, or average pooling with unequal windows, which BackPACK's derivatives get wrong)
raises a ``TypeError`` naming the layer and the backends that support it (first-order quantities only check
the layers that hold parameters). curvlinops and torchfunc differentiate any layer with ``torch.func``. Pruned
layers (``weight_orig`` and ``weight_mask``) are handed to the peers as a plain copy holding the effective
weight; their results are keyed back to ``...weight_orig``. The user's model is never modified (BackPACK
extends a deep copy).
"""

from __future__ import annotations

import copy
import importlib
import warnings
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils import prune

from ..models import ScaledTanh, activation_derivatives
from . import oracle
from ._backprop import ACTIVATIONS
from .kinds import DENSE, PEERS
from .layout import ParamLayout

__all__ = ["backpack_dense", "backpack_hessian_diag", "curvlinops_dense", "curvlinops_hessian_diag", "dense",
           "detached_copy", "diag"]

_EXTRAS = {"backpack": ("backpack", "backpack-for-pytorch"),
           "curvlinops": ("curvlinops", "curvlinops-for-pytorch")}
_NATIVE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool1d, nn.AvgPool2d, nn.MaxPool1d, nn.MaxPool2d,
                  nn.Flatten, nn.Identity, nn.Dropout, nn.LogSoftmax, *ACTIVATIONS)
_BACKPACK_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool1d, nn.AvgPool2d, nn.MaxPool1d, nn.MaxPool2d,
                    nn.Flatten, nn.Dropout, nn.Tanh, nn.Sigmoid, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Identity,
                    ScaledTanh)
_BACKPACK_LOSSES = (nn.MSELoss, nn.CrossEntropyLoss)
_CHUNK = 256  # identity columns per curvlinops product when extracting a diagonal


def diag(backend: str, curvature: str, model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor,
         targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """The diagonal of ``curvature`` from the peer ``backend``, keyed like ``dict(model.named_parameters())``."""
    _check(backend, curvature)
    if backend == "torchfunc":
        return ParamLayout.from_model(model).unflatten(torch.diagonal(dense(backend, curvature, model, loss_fn,
                                                                             inputs, targets)).clone())
    return {"backpack": backpack_hessian_diag, "curvlinops": curvlinops_hessian_diag}[backend](
        model, loss_fn, inputs, targets, curvature)


def dense(backend: str, curvature: str, model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor,
          targets: torch.Tensor) -> torch.Tensor:
    """The dense ``curvature`` from the peer ``backend``: ``Tensor[P, P]`` in :class:`ParamLayout` order, in the
    model's dtype."""
    _check(backend, curvature)
    if backend == "torchfunc":
        oracles = {"exact": oracle.dense_hessian, "ggn": oracle.dense_ggn, "fisher": oracle.dense_fisher}
        return oracles[curvature](model, loss_fn, inputs, targets, dtype=next(model.parameters()).dtype)
    return {"backpack": backpack_dense, "curvlinops": curvlinops_dense}[backend](
        model, loss_fn, inputs, targets, curvature)


def _check(backend: str, curvature: str) -> None:
    if backend not in PEERS:
        raise ValueError(f"backend must be one of {list(PEERS)}; got {backend!r}")
    if curvature not in DENSE:
        raise ValueError(f"curvature {curvature!r} is not available with backend={backend!r}, which offers "
                         f"{list(DENSE)}; use backend='native' for OBD's 'lecun'/'lecun-lm' and 'hutchinson'")


# ----------------------------------------------------------------------------------------------------------
# Shared preparation


def _require(backend: str):
    """Import the peer library, or raise an ImportError naming the extra that installs it."""
    module, dist = _EXTRAS[backend]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"backend={backend!r} needs the optional dependency {dist!r}, which is not "
                          f"installed ({err}); install it with: pip install 'prunebench[{backend}]'") from err


def detached_copy(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)`` that also works after a forward pass of a pruned model, whose computed
    ``module.weight`` (``orig * mask``, not a graph leaf) refuses to be deep-copied: it is copied detached."""
    memo = {}
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod) and hasattr(module, hook._tensor_name):
                tensor = getattr(module, hook._tensor_name)
                memo[id(tensor)] = tensor.detach().clone()
    return copy.deepcopy(model, memo)


def _plain_copy(model: nn.Module) -> tuple[nn.Module, dict[str, str]]:
    """A deep copy with every pruning reparametrisation removed (effective weights as plain parameters).

    Returns the copy and a map from its parameter names to the original model's (``...weight`` ->
    ``...weight_orig`` for pruned layers).
    """
    twin = detached_copy(model)
    renames = {}
    for name, module in twin.named_modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, prune.BasePruningMethod):
                prune.remove(module, hook._tensor_name)
                key = f"{name}.{hook._tensor_name}" if name else hook._tensor_name
                renames[key] = f"{key}_orig"
    for p in twin.parameters():
        p.requires_grad_(True)
    return twin, renames


def _rekey(values: dict[str, torch.Tensor], renames: dict[str, str],
           model: nn.Module) -> dict[str, torch.Tensor]:
    """Results keyed by the plain copy's names -> keyed (and ordered) like ``model.named_parameters()``."""
    mapped = {renames.get(k, k): v for k, v in values.items()}
    return {name: mapped[name] for name, _ in model.named_parameters()}


def _reorder(matrix: torch.Tensor, twin: nn.Module, renames: dict[str, str],
             model: nn.Module) -> torch.Tensor:
    """A dense matrix in the plain copy's layout -> the original model's layout."""
    src = ParamLayout.from_model(twin)
    dst = ParamLayout.from_model(model)
    where = {renames.get(n, n): src.slice(n) for n in src.names}
    perm = torch.cat([torch.arange(where[n].start, where[n].stop) for n in dst.names]).to(matrix.device)
    return matrix[perm][:, perm]


def _layers_supported_by(module: nn.Module) -> list[str]:
    out = ["native"] if isinstance(module, _NATIVE_LAYERS) else []
    if isinstance(module, _BACKPACK_LAYERS):
        out.append("backpack")
    return out + ["torchfunc", "curvlinops"]


def _check_backpack(model: nn.Module, loss_fn: nn.Module, curvature: str) -> None:
    for name, module in model.named_modules():
        if list(module.children()):
            continue
        parametrised = any(True for _ in module.parameters(recurse=False))
        if curvature == "fisher" and not parametrised:
            continue  # first-order extensions only need the layers that hold parameters
        why = _backpack_limit(module)
        if not isinstance(module, _BACKPACK_LAYERS) or why:
            raise TypeError(f"layer {name!r} ({type(module).__name__}){why} is not supported by "
                            f"backend='backpack' for curvature={curvature!r}; backends that support it: "
                            f"{', '.join(_layers_supported_by(module))}")
    if not isinstance(loss_fn, _BACKPACK_LOSSES):
        raise TypeError(f"loss_fn must be nn.MSELoss or nn.CrossEntropyLoss for backend='backpack'; got "
                        f"{type(loss_fn).__name__}. Use backend='torchfunc' or 'curvlinops'")


def _backpack_limit(module: nn.Module) -> str:
    """A setting of a layer type BackPACK supports that its derivatives do not handle (``""``: none): padding
    given as a string or a padding mode (its unfolding pads with zeros), average pooling with windows of
    different divisors."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d)) and (isinstance(module.padding, str)
                                                        or module.padding_mode != "zeros"):
        return f" (padding={module.padding!r}, padding_mode={module.padding_mode!r})"
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d)) and (module.ceil_mode or not module.count_include_pad):
        return f" (ceil_mode={module.ceil_mode}, count_include_pad={module.count_include_pad})"
    return ""


def _fisher_scale(loss_fn: nn.Module, n: int) -> float:
    """``s`` of the empirical Fisher ``s sum_n g_n g_n^T``: 1 for reduction "sum", ``1/N`` for "mean"."""
    return 1.0 / n if loss_fn.reduction == "mean" else 1.0


# ----------------------------------------------------------------------------------------------------------
# BackPACK


def _elementwise_derivatives():
    """A BackPACK derivatives class for any project activation, from ``activation_derivatives``."""
    from backpack.core.derivatives.elementwise import ElementwiseDerivatives
    from backpack.utils.subsampling import subsample

    class ProjectActivationDerivatives(ElementwiseDerivatives):
        def hessian_is_zero(self, module: nn.Module) -> bool:
            return isinstance(module, (nn.ReLU, nn.Identity))

        def df(self, module, g_inp, g_out, subsampling=None):
            return activation_derivatives(module, subsample(module.input0, subsampling=subsampling))[1]

        def d2f(self, module, g_inp, g_out):
            return activation_derivatives(module, module.input0)[2]

    return ProjectActivationDerivatives()


def _backpack_extension(curvature: str, dense: bool):
    """The BackPACK extension for ``curvature`` with ScaledTanh (and Identity, where missing) mapped."""
    from backpack import extensions as ext

    if curvature == "fisher":
        return ext.BatchGrad() if dense else ext.SumGradSquared()
    if curvature == "exact":
        from backpack.extensions.secondorder.diag_hessian.diag_h_base import DiagHBaseModule

        extension, base, missing = ext.DiagHessian(), DiagHBaseModule, (ScaledTanh, nn.Identity)
    elif dense:
        from backpack.extensions.secondorder.sqrt_ggn.base import SqrtGGNBaseModule

        extension, base, missing = ext.SqrtGGNExact(), SqrtGGNBaseModule, (ScaledTanh,)
    else:
        from backpack.extensions.secondorder.diag_ggn.diag_ggn_base import DiagGGNBaseModule

        extension, base, missing = ext.DiagGGNExact(), DiagGGNBaseModule, (ScaledTanh,)
    for layer in missing:
        extension.set_module_extension(layer, base(derivatives=_elementwise_derivatives()), overwrite=True)
    return extension


def _backpack_run(model, loss_fn, inputs, targets, curvature, dense):
    """Extend a plain copy, back-propagate with the extension; return (copy, renames, {name: savefield})."""
    backpack = _require("backpack")
    twin, renames = _plain_copy(model)
    _check_backpack(twin, loss_fn, curvature)
    extension = _backpack_extension(curvature, dense)
    twin = backpack.extend(twin)
    loss = backpack.extend(copy.deepcopy(loss_fn))
    dtype = next(twin.parameters()).dtype
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # BackPACK builds AvgPool2d's transposed convolution in the default dtype
    try:
        with backpack.backpack(extension), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing")  # inputs need no grad
            loss(twin(inputs.to(dtype)), targets).backward()
    finally:
        torch.set_default_dtype(default)
    return twin, renames, {n: getattr(p, extension.savefield).detach() for n, p in twin.named_parameters()}


def backpack_hessian_diag(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                          curvature: str) -> dict[str, torch.Tensor]:
    """BackPACK's diagonal: ``"exact"`` (DiagHessian), ``"ggn"`` (DiagGGNExact), ``"fisher"`` (SumGradSquared,
    rescaled to ``s sum_n g_n^2``). Keyed like ``dict(model.named_parameters())``."""
    _check("backpack", curvature)
    _, renames, values = _backpack_run(model, loss_fn, inputs, targets, curvature, dense=False)
    if curvature == "fisher":  # BackPACK's g_n carry the mean's 1/N: sum_n (g_n / N)^2 -> (1/N) sum_n g_n^2
        n = inputs.shape[0]
        values = {k: v * (n if loss_fn.reduction == "mean" else 1) for k, v in values.items()}
    return _rekey(values, renames, model)


def backpack_dense(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                   curvature: str) -> torch.Tensor:
    """BackPACK's dense ``"ggn"`` (``V^T V``, SqrtGGNExact) or ``"fisher"`` (BatchGrad): ``[P, P]``."""
    _check("backpack", curvature)
    if curvature == "exact":
        raise ValueError("curvature='exact' is not available densely from backend='backpack' (BackPACK offers "
                         "only block-diagonal Hessian products); use backend='torchfunc' or 'curvlinops'")
    twin, renames, values = _backpack_run(model, loss_fn, inputs, targets, curvature, dense=True)
    layout = ParamLayout.from_model(twin)
    n = inputs.shape[0]
    if curvature == "ggn":  # sqrt_ggn_exact: [C, N, *shape] with GGN = sum over (C, N) of the outer products
        V = layout.flatten({k: v.flatten(0, 1) for k, v in values.items()})
        matrix = V.T @ V
    else:  # grad_batch: [N, *shape], the gradients of E's per-sample terms (1/N included for "mean")
        g = layout.flatten(values) * (n if loss_fn.reduction == "mean" else 1)
        matrix = _fisher_scale(loss_fn, n) * (g.T @ g)
    return _reorder(matrix, twin, renames, model)


# ----------------------------------------------------------------------------------------------------------
# curvlinops


def _curvlinops_operator(model, loss_fn, inputs, targets, curvature):
    curvlinops = _require("curvlinops")
    op_class = {"exact": curvlinops.HessianLinearOperator, "ggn": curvlinops.GGNLinearOperator,
                "fisher": curvlinops.EFLinearOperator}[curvature]
    twin, renames = _plain_copy(model)
    dtype = next(twin.parameters()).dtype
    op = op_class(twin, loss_fn, list(twin.parameters()), [(inputs.to(dtype), targets)],
                  check_deterministic=False)
    # curvlinops' EF of MSELoss("mean") uses the per-sample sum of squares: C times our per-sample loss.
    scale = 1.0
    if curvature == "fisher" and isinstance(loss_fn, nn.MSELoss) and loss_fn.reduction == "mean":
        with torch.no_grad():
            scale = 1.0 / twin(inputs[:1].to(dtype))[0].numel()
    return op, twin, renames, scale


def _columns(op, P: int, dtype, device) -> Callable[[int, int], torch.Tensor]:
    def block(start: int, stop: int) -> torch.Tensor:
        eye = torch.zeros(P, stop - start, dtype=dtype, device=device)
        eye[torch.arange(start, stop), torch.arange(stop - start)] = 1
        return op @ eye

    return block


def curvlinops_hessian_diag(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                            curvature: str) -> dict[str, torch.Tensor]:
    """The exact diagonal of curvlinops' operator (``P`` matrix-vector products, ``_CHUNK`` at a time)."""
    _check("curvlinops", curvature)
    op, twin, renames, scale = _curvlinops_operator(model, loss_fn, inputs, targets, curvature)
    p0 = next(twin.parameters())
    P = op.shape[0]
    columns = _columns(op, P, p0.dtype, p0.device)
    pieces = []
    for start in range(0, P, _CHUNK):
        stop = min(start + _CHUNK, P)
        pieces.append(columns(start, stop)[torch.arange(start, stop), torch.arange(stop - start)])
    values = ParamLayout.from_model(twin).unflatten(scale * torch.cat(pieces))
    return _rekey(values, renames, model)


def curvlinops_dense(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                     curvature: str) -> torch.Tensor:
    """curvlinops' operator applied to the identity: ``Tensor[P, P]`` in the model's layout."""
    _check("curvlinops", curvature)
    op, twin, renames, scale = _curvlinops_operator(model, loss_fn, inputs, targets, curvature)
    p0 = next(twin.parameters())
    P = op.shape[0]
    matrix = scale * _columns(op, P, p0.dtype, p0.device)(0, P)
    return _reorder(matrix, twin, renames, model)
