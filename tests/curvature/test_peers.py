"""prunebench.curvature.peers: torch.func, BackPACK and curvlinops behind one adapter (dispatch,
supported layers, missing extras, the user's model untouched).

Tolerances as in ``test_backends.py``: float64, ``rtol=1e-9``, absolute floor ``1e-12 * max|expected|``."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

import prunebench.curvature.backends as backends
import prunebench.curvature.peers as peers
from cases import Case
from helpers import close as oracle_close
from prunebench.curvature import (
    ParamLayout,
    hessian_diag,
)
from prunebench.models import Net

pytestmark = pytest.mark.usefixtures("one_thread")


def _small():
    return Case("mlp-3-4-3-tanh", "mse-sum").build()


def test_peer_backends_are_dispatched_to_the_peers_module(monkeypatch):
    calls = []

    def fake(model, loss_fn, inputs, targets, curvature):
        calls.append(curvature)
        return {name: torch.full_like(p, -1.0) for name, p in model.named_parameters()}

    monkeypatch.setattr(peers, "curvlinops_hessian_diag", fake)
    model, loss_fn, X, y = _small()
    result = hessian_diag(model, loss_fn, X, y, "ggn", backend="curvlinops")
    assert calls == ["ggn"]
    assert result.health.backend == "curvlinops" and result.health.negative_fraction == 1.0


RTOL = 1e-9

close = functools.partial(oracle_close, rtol=RTOL)


@pytest.mark.backend
def test_backpack_identity_layers_and_hessian_diag_dispatch():
    pytest.importorskip("backpack", reason="BackPACK not installed: pip install 'prunebench[backpack]'")
    torch.manual_seed(0)
    net = Net("MLP(3-4-3, identity/tanh)", (3,), nn.Linear(3, 4), nn.Identity(), nn.Tanh(),
              nn.Linear(4, 3)).double()
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    layout = ParamLayout.from_model(net)
    for kind in ("exact", "ggn"):
        expected = backends.dense("torchfunc", kind, net, nn.MSELoss(), X, y).diagonal()
        close(layout.flatten(backends.diag("backpack", kind, net, nn.MSELoss(), X, y)), expected, kind)
        # prunebench.curvature.hessian_diag(backend="backpack") reaches the same function
        close(layout.flatten(hessian_diag(net, nn.MSELoss(), X, y, kind, backend="backpack")), expected, kind)


@pytest.mark.backend
def test_user_model_is_untouched():
    pytest.importorskip("backpack", reason="BackPACK not installed: pip install 'prunebench[backpack]'")
    model, loss_fn, X, y = Case("mlp-3-4-3-tanh-pruned", "ce-sum").build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    def hooks():
        return [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
                for m in model.modules()]

    before_hooks = hooks()
    for kind in backends.KINDS:
        backends.diag("backpack", kind, model, loss_fn, X, y)
    assert hooks() == before_hooks
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert "0.weight_orig" in dict(model.named_parameters())
    saved = ("diag_h", "diag_ggn_exact", "sum_grad_squared")
    assert not any(hasattr(p, attr) for p in model.parameters() for attr in saved)


class Softsign(nn.Softsign):
    """A layer neither BackPACK nor the native backend supports."""


@pytest.mark.backend
def test_unsupported_layer_names_the_layer_and_the_backends_that_support_it():
    pytest.importorskip("backpack", reason="BackPACK not installed: pip install 'prunebench[backpack]'")
    torch.manual_seed(0)
    net = Net("MLP(3-4-3, softsign)", (3,), nn.Linear(3, 4), Softsign(), nn.Linear(4, 3)).double()
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    for kind in ("exact", "ggn"):
        with pytest.raises(TypeError, match=rf"layer '1' \(Softsign\) is not supported by backend='backpack' "
                                            rf"for curvature='{kind}'; backends that support it: torchfunc, "
                                            rf"curvlinops"):
            backends.diag("backpack", kind, net, nn.MSELoss(), X, y)
    # first-order quantities only need the parametrised layers
    expected = backends.dense("torchfunc", "fisher", net, nn.MSELoss(), X, y)
    close(backends.dense("backpack", "fisher", net, nn.MSELoss(), X, y), expected, "backpack fisher")
    with pytest.raises(TypeError, match=r"loss_fn must be nn\.MSELoss or nn\.CrossEntropyLoss for "
                                        r"backend='backpack'; got L1Loss"):
        backends.diag("backpack", "fisher", net, nn.L1Loss(), X, y)


@pytest.mark.backend
def test_curvlinops_takes_any_layer():
    pytest.importorskip("curvlinops", reason="curvlinops not installed: pip install 'prunebench[curvlinops]'")
    torch.manual_seed(0)
    net = Net("MLP(3-4-3, softsign)", (3,), nn.Linear(3, 4), Softsign(), nn.Linear(4, 3)).double()
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randint(0, 3, (5,))
    for kind in backends.KINDS:
        expected = backends.dense("torchfunc", kind, net, nn.CrossEntropyLoss(), X, y)
        actual = backends.dense("curvlinops", kind, net, nn.CrossEntropyLoss(), X, y)
        close(actual, expected, f"curvlinops {kind}")


@pytest.mark.parametrize("backend,module", [("backpack", "backpack"), ("curvlinops", "curvlinops")])
def test_missing_extra_names_the_install_command(monkeypatch, backend, module):
    real = peers.importlib.import_module

    def missing(name, *args):
        if name == module:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(peers.importlib, "import_module", missing)
    model, loss_fn, X, y = Case("mlp-3-4-3-tanh", "mse-sum").build()
    for call in (backends.diag, backends.dense):
        with pytest.raises(ImportError, match=rf"backend='{backend}' needs the optional dependency .* is not "
                                              rf"installed .*; install it with: "
                                              rf"pip install 'prunebench\[{backend}\]'"):
            call(backend, "ggn", model, loss_fn, X, y)
