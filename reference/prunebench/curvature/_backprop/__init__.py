"""The network as a chain of simple maps, for layer-by-layer (second-order) back-propagation.

- :mod:`.chain`: the model as :class:`Step` s (:func:`plan`, :data:`SUPPORTED`) and the forward pass that
  records what the sweeps need (:func:`record`, :class:`Trace`);
- :mod:`.maps`: the linear steps on batches of vectors, :func:`adjoint` (``A^T v``) and :func:`push` (``A v``),
  and the per-parameter products of a layer;
- :mod:`.loss`: :class:`LossTerms`, the loss's gradient and Hessian in the outputs in closed form.

Everything runs in the model's dtype and on its device.
"""

from .chain import (
    ACTIVATIONS,
    PIECEWISE_LINEAR,
    SUPPORTED,
    Chain,
    Step,
    Trace,
    Unsupported,
    lowest_curved,
    plan,
    record,
    unsupported,
)
from .loss import LossTerms, SoftmaxFactor, check_loss
from .maps import (
    adjoint,
    channel_map,
    conv_project,
    conv_project_squares,
    linear_squares,
    max_gather,
    pointwise,
    push,
    split_conv,
    split_linear,
    squares_times,
    unfold_input,
    with_ones,
)

__all__ = ["ACTIVATIONS", "PIECEWISE_LINEAR", "SUPPORTED", "Chain", "LossTerms", "SoftmaxFactor", "Step", "Trace",
           "Unsupported", "adjoint", "channel_map", "check_loss", "conv_project", "conv_project_squares",
           "linear_squares", "lowest_curved", "max_gather", "plan", "pointwise", "push", "record", "split_conv",
           "split_linear", "squares_times", "unfold_input", "unsupported", "with_ones"]
