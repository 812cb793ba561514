"""What the experiments share (prunebench.experiments._common): the masked copy and the meter."""

import time

import torch

from prunebench import prune
from prunebench.experiments._common import Meter, masked_copy
from prunebench.methods import model_mask
from prunebench.models import effective_params
from prunebench.testing import tiny_problem


def test_masked_copy_masks_every_prunable_tensor_and_leaves_the_model_alone():
    model, *_ = tiny_problem(seed=0)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    net = masked_copy(model)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert set(dict(net.named_parameters())) == {n + "_orig" for n in prune.prunable_names(model)}
    assert all(bool(m.all()) for m in model_mask(net).values())
    pairs = zip(effective_params(net).items(), effective_params(model).items(), strict=True)
    assert all(a == b + "_orig" and torch.equal(u, v) for (a, u), (b, v) in pairs)


def test_meter_adds_up_its_spans_and_reports_the_peak_memory():
    with Meter("cpu") as meter:
        with meter.span():
            time.sleep(0.02)
        time.sleep(0.5)  # outside the spans: not counted
        with meter.span():
            block = torch.ones(2**26, dtype=torch.float32)  # 256 MiB, touched
            del block
    assert 0.02 <= meter.wall_s < 0.5 and meter.cpu_s >= 0
    # The resident set of this process (torch loaded) is well above 10 MB; the extra memory is part of it and
    # holds the 256 MiB block (the kernel's peak mark counts it although it was freed; 200 MiB allows for pages
    # the allocator reused from earlier work).
    assert meter.peak_gb > 0.01 and 200 * 2**20 <= meter.extra_gb * 1e9 <= meter.peak_gb * 1e9
