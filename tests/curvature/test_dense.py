"""prunebench.curvature.dense: dense curvature matrices against the oracle, and the oracle fallback for
layers outside the sweeps.

Tolerances: :func:`helpers.close` (float64, ``rtol=1e-10``, absolute floor ``1e-12 * max|expected|``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cases import Case, params
from helpers import ORACLES, close, dense
from prunebench.curvature import (
    DenseCurvature,
    ParamLayout,
    hessian,
)
from prunebench.curvature.generic import FallbackWarning
from prunebench.models import Net

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("method", ["exact", "ggn", "fisher"])
@pytest.mark.parametrize("case", params([Case("mlp-3-4-4-3-3-tanh", "ce-sum"), Case("cnn-small", "mse-mean"),
                                         Case("mlp-3-4-3-tanh-pruned", "ce-mean")]))
def test_native_dense_matches_oracle(case, method):
    model, loss_fn, X, y = case.build()
    result = hessian(model, loss_fn, X, y, method)
    assert isinstance(result, DenseCurvature)
    assert result.layout == ParamLayout.from_model(model)
    close(result.matrix, dense(case, method), f"dense {method}")
    close(result.layout.flatten(result.diagonal()), torch.diagonal(result.matrix), "DenseCurvature.diagonal")
    torchfunc = hessian(model, loss_fn, X, y, method, backend="torchfunc")
    close(torchfunc.matrix, dense(case, method), f"torchfunc dense {method}")


def test_dense_ggn_and_fisher_of_an_unsupported_layer_come_from_the_oracle_with_a_warning():
    from prunebench.curvature import hessian

    torch.manual_seed(0)
    model = Net("ln", (3,), nn.Linear(3, 4), nn.LayerNorm(4), nn.Tanh(), nn.Linear(4, 2)).double()
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randint(0, 2, (5,))
    for method in ("ggn", "fisher"):
        with pytest.warns(FallbackWarning, match=r"^layer '1' \(LayerNorm\) is outside the native curvature "
                                                 r"sweeps: the dense .* comes from the torch.func oracle"):
            result = hessian(model, nn.CrossEntropyLoss(), X, y, method)
        close(result.matrix, ORACLES[method](model, nn.CrossEntropyLoss(), X, y), f"dense {method}")
