"""The obs-monks variants (prunebench.experiments.hassibi1993monks.protocol)."""

from prunebench.experiments.hassibi1993monks.protocol import describe, variant_specs


def test_variant_descriptions_name_every_documented_setting():
    specs = variant_specs(1e-4, quick=False)
    d = describe(specs["obs-paper"])
    assert d == {"inverse": "eq. 17, alpha 0.0001", "update": "recomputed before every deletion",
                 "stop": "L_q <= 0.1 x E of the current net, training accuracy kept", "retrain": "none",
                 "bpwd": "as trained"}
    assert describe(specs["obs-paper-exact"])["inverse"] == "exact Hessian + 0.0001 I"
    assert describe(specs["obs-paper-E0"])["stop"] == "L_q <= 0.1 x E of the BPWD net"
    assert describe(specs["obs-stop-rule"])["stop"] == "L_q <= 0.1 x E predicted from the saliencies"
    assert describe(specs["obs-paper-short"])["bpwd"] == "lambda 0.0001, 300 L-BFGS iterations"
    assert describe(specs["obs+retrain"])["retrain"] == "after every deletion"
