"""prunebench.curvature.generic: the generic exact path for models outside the native sweeps.

Tolerances: :func:`helpers.close` (float64, ``rtol=1e-10``, absolute floor ``1e-12 * max|expected|``)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from cases import mlp
from helpers import ORACLES, close
from prunebench.curvature import ParamLayout, hessian_diag
from prunebench.curvature.generic import FallbackWarning
from prunebench.models import Net

pytestmark = pytest.mark.usefixtures("one_thread")


class Residual(nn.Module):
    """A non-Sequential forward: ``x + tanh(W x)`` then a linear head."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(3, 3)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(x + torch.tanh(self.inner(x)))


@pytest.mark.parametrize("model_name", ["layernorm-in-sequential", "residual-forward"])
@pytest.mark.parametrize("method", ["exact", "ggn", "fisher"])
def test_generic_exact_path_warns_once_and_matches_the_oracle(model_name, method):
    torch.manual_seed(0)
    if model_name == "residual-forward":
        model, layer = Residual().double(), "the forward of Residual (not an nn.Sequential)"
    else:
        model = Net("ln", (3,), nn.Linear(3, 4), nn.LayerNorm(4), nn.Tanh(), nn.Linear(4, 2)).double()
        layer = "layer '1' (LayerNorm)"
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randint(0, 2, (5,))
    loss_fn = nn.CrossEntropyLoss()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = hessian_diag(model, loss_fn, X, y, method)
    fallback = [w for w in caught if issubclass(w.category, FallbackWarning)]
    assert len(fallback) == 1
    text = str(fallback[0].message)
    assert "\n" not in text and text.startswith(layer) and "generic exact path" in text
    P = sum(p.numel() for p in model.parameters())
    assert {"exact": f"{P:,} Hessian-vector products", "ggn": "10 per-sample vector-Jacobian products",
            "fisher": "5 per-sample gradients"}[method] in text
    close(ParamLayout.from_model(model).flatten(result), reference_of(model, loss_fn, X, y, method), method)


def reference_of(model, loss_fn, X, y, method):
    return torch.diagonal(ORACLES[method](model, loss_fn, X, y))


def test_generic_path_has_no_lecun_and_linear_on_sequences_falls_back():
    model = Net("ln", (3,), nn.Linear(3, 4), nn.LayerNorm(4), nn.Tanh(), nn.Linear(4, 2)).double()
    X, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"curvature 'lecun' is OBD's recursion over the layers, and layer '1' "
                                         r"\(LayerNorm\) is outside"):
        hessian_diag(model, nn.MSELoss(), X, y, "lecun")
    # A Linear on [N, L, features] (valid in torch; the sweeps need [N, features]) takes the generic path.
    seq = Net("seq", (2, 3), nn.Linear(3, 2), nn.Tanh(), nn.Flatten(), nn.Linear(4, 2)).double()
    Xs = torch.randn(4, 2, 3, dtype=torch.float64)
    with pytest.warns(FallbackWarning, match=r"layer '0' \(Linear\) \(input of shape \(4, 2, 3\)"):
        result = hessian_diag(seq, nn.MSELoss(), Xs, y)
    close(ParamLayout.from_model(seq).flatten(result), reference_of(seq, nn.MSELoss(), Xs, y, "exact"), "exact")


def test_unknown_activation_in_a_sequential_takes_the_generic_path_not_a_type_error():
    model = mlp([3, 4, 3], "tanh").double()
    model[1] = nn.Hardtanh()
    X, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    with pytest.warns(FallbackWarning, match=r"^layer '1' \(Hardtanh\) is outside the native curvature sweeps"):
        hessian_diag(model, nn.MSELoss(), X, y, "ggn")
