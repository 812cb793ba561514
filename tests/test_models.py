"""The paper architectures: names, shapes, free-parameter counts, and the effective-parameter helpers."""

import pytest
import torch
from torch.nn.utils import prune

from prunebench import models

# Counts from PAPERS.md section 2 (XOR 9, MONK 58 and 39 weights with biases), WoodFisher's 32,360-weight MLP,
# LeNet-300-100's 266,610, NETtalk 203-80-26 with biases (18,426; the folklore 18,629 counts something else).
EXPECTED_FREE = {
    "xor-2-2-1": 9,
    "monk-17-3-1": 58,
    "monk-17-2-1": 39,
    "mlp-784-40-20-10": 32_360,
    "lenet-300-100": 266_610,
    "nettalk-203-80-26": 18_426,
    "lenet-usps": 3_246,
    "lenet-digits": 666,
    "lenet1990": 2_578,
    "lenet-zip1989": 10_024,
    "cnn-dwsep": 6_138,
    "cnn-dilated": 2_538,
    "cnn-relu-maxpool": 9_930,
    "mlp-64-32x6-10": 7_690,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FREE))
def test_free_parameter_counts(name):
    assert models.build(name).free_parameters() == EXPECTED_FREE[name]


def test_every_model_prints_its_shape_and_runs():
    for name in models.MODELS:
        net = models.build(name, seed=0)
        text = repr(net)
        assert "free parameters" in text and "(" in net.arch
        out = net(torch.zeros(3, *net.input_shape))
        assert out.shape[0] == 3


def test_lenet_usps_shares_weights():
    net = models.build("lenet-usps")
    # Convolution kernels are shared across positions: far more connections than free parameters.
    assert net.connections() == 139_402
    assert net.connections() > 40 * net.free_parameters()


def test_lenet1990_has_the_papers_free_parameters_and_a_fixed_connection_table():
    net = models.build("lenet1990", seed=0, dtype=torch.float64)
    assert net.free_parameters() == 2_578  # LeCun et al. 1990: "2,578 independent parameters"
    h3 = net[5]
    assert int(h3.weight_mask.sum()) == 20 * 25 and len(models.LENET1990_TABLE) == 12
    reads = h3.weight_mask[:, :, 0, 0]
    assert reads.sum(0).tolist() == [5, 5, 5, 5]  # every H2 map feeds 5 H3 maps
    # The paper's connection count, with a subsampling unit counting its 4 inputs and bias: 98,442.
    units = {"H1": 4 * 24 * 24, "H2": 4 * 12 * 12, "H3": 12 * 8 * 8, "H4": 12 * 4 * 4}
    paper = (units["H1"] * 26 + units["H2"] * 5 + 64 * (25 * 20 + 12) + units["H4"] * 5 + 10 * 193)
    assert paper == 98_442
    assert net.connections() == paper - (units["H2"] + units["H4"]) * 3 == 96_138
    # An absent connection is never used: changing its stored value changes nothing.
    x = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    before = net(x)
    with torch.no_grad():
        h3.weight_orig[0, 1] += 1.0  # H3 map 0 reads H2 map 0 only
    assert torch.equal(net(x), before)


def test_build_is_seeded_and_does_not_touch_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = models.build("monk-17-3-1", seed=7)
    after = torch.rand(1)
    b = models.build("monk-17-3-1", seed=7)
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match=r"model must be one of \[.*'xor-2-2-1'.*\]; got 'lenet-5'"):
        models.build("lenet-5")


@pytest.mark.parametrize("module", [
    torch.nn.Tanh(), torch.nn.Sigmoid(), models.ScaledTanh(), torch.nn.Identity(), torch.nn.LeakyReLU(0.1),
    torch.nn.ELU(0.7), torch.nn.SiLU(), torch.nn.GELU(), torch.nn.GELU(approximate="tanh"), torch.nn.Softplus(),
    torch.nn.Softplus(beta=2.0, threshold=3.0)], ids=lambda m: repr(m))
def test_activation_derivatives_match_autograd(module):
    # 41 points on [-3, 3] plus points on both sides of Softplus's threshold (beta a = 3 at a = 1.5) and the
    # kinks at 0 (ReLU-like: the side autograd takes).
    a = torch.cat([torch.linspace(-3, 3, 41, dtype=torch.float64), torch.tensor([1.49, 1.5, 1.51, 0.0],
                                                                                  dtype=torch.float64)])
    a.requires_grad_(True)
    f, f1, f2 = models.activation_derivatives(module, a)
    (g1,) = torch.autograd.grad(module(a).sum(), a, create_graph=True)
    g2 = torch.autograd.grad(g1.sum(), a)[0] if g1.requires_grad else torch.zeros_like(a)  # identity: f'' = 0
    # Closed forms against autograd in float64: agreement to roundoff.
    torch.testing.assert_close(f, module(a), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(f1, g1, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(f2, g2, rtol=1e-12, atol=1e-14)


def test_unsupported_activation_is_named():
    with pytest.raises(TypeError, match="got Hardtanh"):
        models.activation_derivatives(torch.nn.Hardtanh(), torch.zeros(2))


def test_effective_params_follow_pruning_masks():
    net = models.build("monk-17-2-1", seed=0, dtype=torch.float64)
    prune.l1_unstructured(net[0], "weight", amount=0.5)
    eff = models.effective_params(net)
    assert list(eff) == [name for name, _ in net.named_parameters()]
    assert "0.weight_orig" in eff
    assert torch.equal(eff["0.weight_orig"], net[0].weight)
    assert int((eff["0.weight_orig"] == 0).sum()) == 17

    x = torch.randn(4, 17, dtype=torch.float64)
    torch.testing.assert_close(models.functional_forward(net, eff, x), net(x), rtol=0, atol=0)
    zeroed = {k: torch.zeros_like(v) if k == "0.weight_orig" else v for k, v in eff.items()}
    # With the first layer's weights zero every sample sees only the biases.
    expected = torch.sigmoid(net[2](torch.sigmoid(net[0].bias).expand(4, 2)))
    torch.testing.assert_close(models.functional_forward(net, zeroed, x), expected, rtol=1e-15, atol=0)


def test_effective_params_are_fresh_after_in_place_update():
    net = models.build("monk-17-2-1", seed=0, dtype=torch.float64)
    prune.l1_unstructured(net[0], "weight", amount=0.5)
    with torch.no_grad():
        net[0].weight_orig.add_(1.0)  # module.weight is stale until the next forward pass
    eff = models.effective_params(net)["0.weight_orig"]
    torch.testing.assert_close(eff, (net[0].weight_orig * net[0].weight_mask).detach(), rtol=0, atol=0)
