"""prunebench.curvature.diagonal: every Hessian diagonal against the dense float64 oracle, on every
supported layer kind and setting, pruned and float32 models, Hutchinson's estimator, and bad input.

Tolerances: :func:`helpers.close` (float64, ``rtol=1e-10``, absolute floor ``1e-12 * max|expected|``)."""

from __future__ import annotations

import functools
import importlib.util
import math

import pytest
import torch
from torch import nn

import prunebench.curvature.backends as backends
import prunebench.curvature.diagonal as diagonal_module
import prunebench.curvature.peers as peers
from cases import LAYER_CASES, LAYER_MODELS, Case, grid, mlp, params
from helpers import ORACLES, close, dense
from prunebench.curvature import (
    ParamLayout,
    hessian,
    hessian_diag,
)
from prunebench.curvature._backprop import plan
from prunebench.models import Net, effective_params

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = ["mlp-3-4-3-tanh", "mlp-3-4-3-sigmoid", "mlp-3-4-3-relu", "mlp-3-4-3-scaled-tanh",
         "mlp-3-4-3-tanh-nobias", "mlp-3-4-4-3-3-tanh", "mlp-3-4-3-3-relu-nobias", "mlp-3-4-3-tanh-pruned",
         "mlp-3-12-10-4-3-tanh", "cnn-small", "cnn-small-pruned", "cnn-conv-linear", "cnn-conv-only"]


CASES = (grid(SMALL) + [Case("lenet-digits", "mse-sum", n=2), Case("lenet-digits", "ce-mean", n=2),
                         Case("lenet1990", "ce-mean", n=1), Case("lenet1990", "mse-sum", n=1)]
         + [Case("cnn-small", "ce-mean", "cuda")])


@pytest.mark.parametrize("method", ["exact", "ggn", "fisher"])
@pytest.mark.parametrize("case", params(CASES))
def test_native_diagonal_matches_oracle(case, method):
    model, loss_fn, X, y = case.build()
    result = hessian_diag(model, loss_fn, X, y, method)
    layout = ParamLayout.from_model(model)
    assert list(result) == [name for name, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        assert result[name].shape == p.shape, name
    expected = torch.diagonal(dense(Case(case.model, case.loss, n=case.n), method))
    close(layout.flatten(result).cpu(), expected, f"{method} diagonal")


@pytest.mark.parametrize("loss", ["mse-sum", "mse-mean", "ce-sum", "ce-mean"])
def test_a_batch_swept_in_chunks_matches_the_oracle(loss, monkeypatch):
    """A CNN's batch is swept in chunks of samples (at least 16; here 16 + 16 + 8, the loss scaled by the whole
    batch): the sum over chunks is the oracle's diagonal, and a dense chain is swept in one piece."""
    monkeypatch.setattr(diagonal_module, "CHUNK_BYTES", 1)
    case = Case("cnn-small", loss, n=40)
    model, loss_fn, X, y = case.build()
    steps = plan(model, effective_params(model))
    assert diagonal_module._chunk_size(steps, X, loss_fn, "ggn") == 16
    for method in ("exact", "ggn", "fisher"):
        result = hessian_diag(model, loss_fn, X, y, method)
        close(ParamLayout.from_model(model).flatten(result), torch.diagonal(dense(case, method)), method)
    model, loss_fn, X, y = Case("mlp-3-4-3-tanh", loss, n=40).build()
    assert diagonal_module._chunk_size(plan(model, effective_params(model)), X, loss_fn, "exact") == 40


def test_torchfunc_diagonal_is_the_oracle_diagonal():
    case = Case("cnn-small", "ce-sum")
    model, loss_fn, X, y = case.build()
    for method in ("exact", "ggn", "fisher"):
        result = hessian_diag(model, loss_fn, X, y, method, backend="torchfunc")
        assert result.health.backend == "torchfunc"
        close(ParamLayout.from_model(model).flatten(result), torch.diagonal(dense(case, method)), method)


def test_pruned_model_is_differentiated_in_the_effective_weight():
    model, loss_fn, X, y = Case("mlp-3-4-3-tanh-pruned", "mse-sum").build()
    result = hessian_diag(model, loss_fn, X, y)
    assert "0.weight_orig" in result and "0.weight" not in result
    # A pruned (zero) weight still has curvature: the loss is not flat in it. Check against a model whose
    # effective weights are plain parameters.
    plain = mlp([3, 4, 3], "tanh", "tanh").double()
    effective = {k.removesuffix("_orig"): v.detach() for k, v in effective_params(model).items()}
    with torch.no_grad():
        for name, p in plain.named_parameters():
            p.copy_(effective[name])
    reference = hessian_diag(plain, loss_fn, X, y)
    close(result["0.weight_orig"], reference["0.weight"], "pruned layer vs plain layer")


def test_float32_agrees_with_float64():
    # Same sweep in single precision: rounding ~1e-7 relative per operation, a few dozen operations deep.
    case = Case("cnn-small", "ce-sum")
    model, loss_fn, X, y = case.build(torch.float32)
    result = hessian_diag(model, loss_fn, X, y)
    assert all(v.dtype == torch.float32 for v in result.values())
    close(ParamLayout.from_model(model).flatten(result).double(), torch.diagonal(dense(case, "exact")),
          "float32 exact diagonal", rtol=1e-4, floor=1e-5)


@pytest.mark.montecarlo
def test_hutchinson_converges_at_the_monte_carlo_rate():
    # For Rademacher v, v_i (Hv)_i = H_ii + sum_{j != i} H_ij v_i v_j: unbiased with standard deviation
    # sigma_i = sqrt(sum_{j != i} H_ij^2 / K) after K probes. The error in units of sigma is O(1): we require
    # its root-mean-square over entries to be below 2 (expected 1) and every entry within 5 sigma, for
    # K = 25 and K = 400 (the absolute error then shrinks ~4x, the 1/sqrt(K) rate). Seeded, so deterministic.
    case = Case("mlp-3-4-3-tanh", "ce-sum")
    model, loss_fn, X, y = case.build()
    H = dense(case, "exact")
    layout = ParamLayout.from_model(model)
    spread = ((H**2).sum(1) - torch.diagonal(H) ** 2).sqrt()
    errors = {}
    for K in (25, 400):
        estimate = layout.flatten(hessian_diag(model, loss_fn, X, y, "hutchinson", probes=K, seed=7))
        z = (estimate - torch.diagonal(H)) / (spread / math.sqrt(K))
        assert z.pow(2).mean().sqrt() < 2.0, f"K={K}: rms error {z.pow(2).mean().sqrt():.2f} sigma"
        assert z.abs().max() < 5.0, f"K={K}: max error {z.abs().max():.2f} sigma"
        errors[K] = (estimate - torch.diagonal(H)).norm()
    assert errors[400] < errors[25]


def test_hutchinson_is_reproducible_and_exact_for_diagonal_hessians():
    case = Case("mlp-3-4-3-tanh", "mse-sum")
    model, loss_fn, X, y = case.build()
    a = hessian_diag(model, loss_fn, X, y, "hutchinson", probes=3, seed=5)
    b = hessian_diag(model, loss_fn, X, y, "hutchinson", probes=3, seed=5)
    c = hessian_diag(model, loss_fn, X, y, "hutchinson", probes=3, seed=6)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    # A linear model under MSE: H = 2 X^T X per output row; one output and one input feature make it diagonal.
    lin = Net("linear", (1,), nn.Linear(1, 1, bias=False)).double()
    x1, y1 = torch.randn(4, 1, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    h = hessian_diag(lin, nn.MSELoss(reduction="sum"), x1, y1, "hutchinson", probes=1)
    close(h["0.weight"], 2 * (x1**2).sum().view(1, 1), "Hutchinson on a 1x1 Hessian")


def _small():
    return Case("mlp-3-4-3-tanh", "mse-sum").build()


def test_unknown_method_and_backend_are_rejected():
    model, loss_fn, X, y = _small()
    with pytest.raises(ValueError, match=r"curvature must be one of .*'exact'.*; got 'diag'"):
        hessian_diag(model, loss_fn, X, y, "diag")
    with pytest.raises(ValueError, match=r"backend must be one of .*; got 'jax'"):
        hessian_diag(model, loss_fn, X, y, backend="jax")
    with pytest.raises(ValueError, match=r"probes must be a positive int; got 0"):
        hessian_diag(model, loss_fn, X, y, "hutchinson", probes=0)
    with pytest.raises(ValueError, match=r"not available with backend='torchfunc'.*use backend='native'"):
        hessian_diag(model, loss_fn, X, y, "lecun", backend="torchfunc")
    with pytest.raises(ValueError, match=r"curvature must be one of \['exact', 'ggn', 'fisher'\]; got 'lecun'"):
        hessian(model, loss_fn, X, y, "lecun")
    with pytest.raises(ValueError, match=r"backend must be 'native' or 'torchfunc' for dense matrices"):
        hessian(model, loss_fn, X, y, backend="backpack")


HAS_BACKPACK = importlib.util.find_spec("backpack") is not None


HAS_CURVLINOPS = importlib.util.find_spec("curvlinops") is not None


def _logits_model(model: Net) -> Net:
    return Net(model.arch, model.input_shape, *list(model)[:-1])


@functools.cache
def reference(case: Case, method: str) -> torch.Tensor:
    """The oracle's diagonal ``[P]`` (the GGN of NLL after LogSoftmax: at the logits, see the docstring)."""
    model, loss_fn, X, y = case.build()
    if method == "ggn" and isinstance(loss_fn, nn.NLLLoss):
        model, loss_fn = _logits_model(model), nn.CrossEntropyLoss(reduction=loss_fn.reduction)
    return torch.diagonal(ORACLES[method](model, loss_fn, X, y))


def _backpack_supports(model: nn.Module, loss_fn: nn.Module, method: str) -> bool:
    try:
        peers._check_backpack(model, loss_fn, method)
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("case", params(LAYER_CASES))
def test_layer_diagonals_match_the_oracle_and_the_peers(case):
    model, loss_fn, X, y = case.build()
    layout = ParamLayout.from_model(model)
    for method in ("exact", "ggn", "fisher"):
        expected = reference(case, method)
        close(layout.flatten(hessian_diag(model, loss_fn, X, y, method)), expected, f"native {method}")
        if HAS_BACKPACK and _backpack_supports(model, loss_fn, method):
            close(layout.flatten(backends.diag("backpack", method, model, loss_fn, X, y)), expected,
                  f"BackPACK {method}")
        if HAS_CURVLINOPS and case.loss.startswith("ce") and method != "fisher" and not (
                method == "exact" and any(isinstance(m, nn.SiLU) for m in model.modules())):
            # curvlinops' Hessian products use forward-mode AD, which torch lacks for SiLU's backward.
            close(layout.flatten(backends.diag("curvlinops", method, model, loss_fn, X, y)), expected,
                  f"curvlinops {method}")


def test_layer_matrix_covers_every_layer_kind_of_the_list():
    kinds = {kind for kind, _ in LAYER_MODELS.values()}
    assert kinds >= {"Linear", "Conv1d", "Conv2d", "AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d", "Flatten",
                     "Identity/Dropout", "Tanh", "Sigmoid", "ReLU", "LeakyReLU", "ELU", "SiLU", "GELU", "Softplus",
                     "LogSoftmax", "Sequential"}


def test_a_model_without_parameters_is_refused():
    net = Net("empty", (3,), nn.Tanh(), nn.Flatten())
    with pytest.raises(ValueError, match=r"model must have parameters \(curvature is taken with respect to "
                                         r"them\); got a Net with none"):
        hessian_diag(net, nn.MSELoss(), torch.randn(2, 3), torch.randn(2, 3))


def test_a_batch_of_one_is_exact_and_a_sample_without_its_batch_dimension_is_refused():
    case = Case("conv2d-stride2", "ce-mean", n=1)
    model, loss_fn, X, y = case.build()
    for method in ("exact", "ggn", "fisher"):
        close(ParamLayout.from_model(model).flatten(hessian_diag(model, loss_fn, X, y, method)),
              reference(case, method), f"batch of one, {method}")
    with pytest.raises(ValueError, match=r"inputs must be a batch of shape \[N, 2, 6, 6\] with N >= 1; got shape "
                                         r"\(2, 6, 6\). A single sample is a batch of one: pass x.unsqueeze\(0\)"):
        hessian_diag(model, loss_fn, X[0], y)
    with pytest.raises(ValueError, match=r"got shape \(0, 2, 6, 6\)"):
        hessian_diag(model, loss_fn, X[:0], y[:0])
    with pytest.raises(ValueError, match=r"targets must hold one entry per sample \(N = 1 rows\); got shape \(\)"):
        hessian_diag(model, loss_fn, X, y[0])


def test_nan_inputs_and_training_mode_dropout_are_refused():
    model, loss_fn, X, y = Case("identity-dropout", "mse-sum").build()
    bad = X.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"inputs must be finite; got 1 NaN/inf entries"):
        hessian_diag(model, loss_fn, bad, y)
    model.train()
    with pytest.raises(ValueError, match=r"layer '3' \(Dropout\) is in training mode.*call model.eval\(\)"):
        hessian_diag(model, loss_fn, X, y)


def test_method_is_a_deprecated_alias_of_curvature():
    model, loss_fn, X, y = _small()
    with pytest.warns(DeprecationWarning, match=r"hessian_diag\(\): method= is deprecated; use curvature="):
        old = hessian_diag(model, loss_fn, X, y, method="lecun")
    new = hessian_diag(model, loss_fn, X, y, curvature="lecun")
    assert all(torch.equal(old[k], new[k]) for k in new) and old.health == new.health
    with pytest.warns(DeprecationWarning, match=r"CurvatureHealth.method is deprecated; use .curvature"):
        assert new.health.method == "lecun"
    with pytest.warns(DeprecationWarning, match=r"hessian\(\): method= is deprecated; use curvature="):
        dense = hessian(model, loss_fn, X, y, method="ggn")
    assert torch.equal(dense.matrix, hessian(model, loss_fn, X, y, "ggn").matrix)
    with pytest.raises(TypeError, match="unexpected keyword argument 'kind'"):
        hessian_diag(model, loss_fn, X, y, kind="ggn")


def test_column_bytes_are_the_factor_columns_at_the_widest_position(monkeypatch):
    """``r`` columns per sample at the widest position held whole, for one chunk: cross-entropy ``C - 1``, MSE
    ``C``, the Fisher one; none for OBD's recursions."""
    from prunebench.curvature.diagonal import column_bytes

    model, loss_fn, X, _ = Case("mlp-3-4-3-tanh", "ce-mean", n=40).build()
    assert column_bytes(model, loss_fn, X, "ggn") == 40 * 2 * 4 * 8  # widest: the 4 hidden units, float64
    assert column_bytes(model, loss_fn, X, "fisher") == 40 * 1 * 4 * 8
    assert column_bytes(model, nn.MSELoss(), X, "exact") == 40 * 3 * 4 * 8
    assert column_bytes(model, loss_fn, X, "lecun") is None
    model, loss_fn, X, _ = Case("mlp-3-12-10-4-3-tanh", "ce-mean", n=40).build()
    assert column_bytes(model, loss_fn, X, "ggn") == 40 * 2 * 10 * 8  # the 12 units below: crossed in pieces
    monkeypatch.setattr(diagonal_module, "CHUNK_BYTES", 1)
    model, loss_fn, X, _ = Case("cnn-small", "ce-mean", n=40).build()
    assert column_bytes(model, loss_fn, X, "ggn") == 16 * column_bytes(model, loss_fn, X[:1], "ggn")  # chunks of 16
