"""Optimal Brain Surgeon under a Kronecker-factored (K-FAC) Fisher: WoodFisher's ``kfac`` pruner.

References:
    J. Martens and R. Grosse (2015), "Optimizing neural networks with Kronecker-factored approximate
    curvature", ICML, PMLR 37:2408-2417. -- eq. (1)-(3): the Fisher block of a layer with input ``a`` and
    pre-activation gradient ``g`` approximated as ``E[a a^T] (x) E[g g^T]``; section 6.3, factored Tikhonov
    damping ``(A + pi sqrt(lambda) I) (x) (G + sqrt(lambda) / pi I)``.
    S. P. Singh and D. Alistarh (2020), "WoodFisher: Efficient second-order approximation for neural network
    compression", NeurIPS 33. -- the K-FAC baseline of their MNIST table: OBS saliency
    ``L_q = w_q^2 / (2 [F^-1]_qq)`` and the one-step update ``dw = -sum_q (w_q / [F^-1]_qq) F^-1 e_q`` under
    the Kronecker inverse, every layer's block kept, no cross-layer terms.
    B. Hassibi and D. G. Stork (1993), "Optimal Brain Surgeon", NIPS 5, eq. (5).

What it computes, per ``nn.Linear`` layer (weight ``W`` of shape (out, in), and bias ``b`` if present, treated
as one more input column, ``[W | b]`` with input ``[a; 1]``):

- ``A = (1/N) sum_n a_n a_n^T`` ((in [+1]) x (in [+1])) over the N samples given (the layer's inputs);
- ``G = s N (1/N) sum_n g_n g_n^T`` ((out x out)), ``g_n`` the gradient of sample n's loss with respect to
  the layer's pre-activation and ``s`` the loss's reduction (1/N for ``"mean"``, 1 for ``"sum"``), so that
  ``G (x) A`` has the scale of ``E`` as the empirical Fisher of :mod:`prunebench.curvature` has;
- the damped inverses, as WoodFisher's ``kfac`` pruner does (``inv_covs`` of its ``utils/kfac_fisher_utils.py``):
  ``A^-1 = (A + sqrt(lambda pi) I)^-1`` and ``G^-1 = (G + sqrt(lambda / pi) I)^-1`` with ``pi = 1``, or with
  ``pi = (tr(A) dim G) / (tr(G) dim A)`` when ``pi=True`` (their ``--kfac-pi``; the MNIST test does not set it);
- ``[F^-1]_qq = G^-1_oo A^-1_ii`` for entry ``q = (o, i)`` (row-major flattening: ``F^-1 = G^-1 (x) A^-1``);
- saliency ``L_q = w_q^2 / (2 [F^-1]_qq)``, ranked once;
- the update of deleting a set ``Q`` at once: with ``V = w / diag(F^-1)`` on ``Q`` and 0 elsewhere (a matrix
  shaped like ``[W | b]``), ``dW = -G^-1 V A^-1`` (that is ``-(G^-1 (x) A^-1) vec(V)``), the deleted entries
  then set to exactly zero: WoodFisher's one-step update (the sum of the single-weight OBS updates, no
  downdate between them), not the exact joint update of :class:`~prunebench.methods.fullobs.FullOBS`.

The samples are the ``inputs`` given (the caller picks them: ``prunebench prune --samples N``). Layers other
than ``nn.Linear`` with parameters are refused with a clear error (convolutions need K-FAC's patch factors).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import real
from .base import PruningMethod, effective_weights, model_mask, zero_where_deleted

__all__ = ["KFACOBS", "kronecker_factors"]


def _linear_layers(model: nn.Module) -> list[tuple[str, nn.Linear, str, str | None]]:
    """(module name, module, weight key, bias key or None) of every Linear layer, keys like
    ``named_parameters``; raises when another module owns parameters."""
    owners = {}
    for name, module in model.named_modules():
        own = [leaf for leaf, _ in module.named_parameters(recurse=False)]
        if own and not isinstance(module, nn.Linear):
            raise ValueError(f"kfac handles nn.Linear layers only; {name!r} is a {type(module).__name__} with "
                             "parameters. Use obs-full or obd for this model")
        if own:
            leaves = {leaf.removesuffix("_orig"): f"{name}.{leaf}" for leaf in own}
            owners[name] = (name, module, leaves["weight"], leaves.get("bias"))
    return list(owners.values())


def kronecker_factors(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
                      ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{weight key: (A, G)}`` of every Linear layer (see the module docstring), float64. ``A`` is
    (in [+1], in [+1]) with the bias's constant input last; ``G`` is (out, out)."""
    layers = _linear_layers(model)
    captured: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = []
    for name, module, _, _ in layers:
        def hook(mod, args, out, name=name):
            captured[name] = (args[0].detach(), out)
        hooks.append(module.register_forward_hook(hook))
    x = inputs.detach().requires_grad_(True)  # pre-activations need a graph even when weights are frozen
    try:
        with torch.enable_grad():
            loss = loss_fn(model(x), targets)
            outs = [captured[name][1] for name, *_ in layers]
            grads = torch.autograd.grad(loss, outs)
    finally:
        for h in hooks:
            h.remove()
    n = inputs.shape[0]
    reduction = getattr(loss_fn, "reduction", "mean")
    scale = 1.0 / n if reduction == "mean" else 1.0  # s: the loss's reduction
    factors = {}
    for (name, _, wkey, bkey), g in zip(layers, grads, strict=True):
        a = captured[name][0].reshape(n, -1).to(torch.float64)
        if bkey is not None:
            a = torch.cat([a, a.new_ones(n, 1)], dim=1)
        per_sample = g.reshape(n, -1).to(torch.float64) / scale  # gradient of each sample's own loss
        A = a.T @ a / n
        G = scale * (per_sample.T @ per_sample)
        factors[wkey] = (A, G)
    return factors


class KFACOBS(PruningMethod):
    """OBS under a K-FAC Fisher (Martens & Grosse 2015): WoodFisher's ``kfac`` pruner, one-step update."""

    curvature = "inverse"
    moves_weights = True
    citation = ("Martens & Grosse (2015), Optimizing neural networks with Kronecker-factored approximate "
                "curvature, ICML; as the OBS curvature of Singh & Alistarh (2020), WoodFisher, NeurIPS 33")

    def __init__(self, *, damping: float = 1e-5, pi: bool = False):
        """
        Args:
            damping: ``lambda``: ``sqrt(lambda pi)`` is added to ``A``'s diagonal and ``sqrt(lambda / pi)`` to
                ``G``'s (WoodFisher's ``--fisher-damp``, 1e-5 in their MNIST test).
            pi: Martens & Grosse's factored damping split (``pi`` from the traces); False: ``pi = 1``.
        """
        real("damping", damping, above=0.0, expected="a positive float (e.g. 1e-5)")
        if not isinstance(pi, bool):
            raise ValueError(f"pi must be True or False; got {pi!r}")
        self.damping, self.pi = float(damping), pi
        self._record(damping=damping, pi=pi)

    def inverse_factors(self, model, loss_fn, inputs, targets) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{weight key: (A^-1, G^-1)}``: the damped inverses of :func:`kronecker_factors`, float64."""
        out = {}
        for key, (A, G) in kronecker_factors(model, loss_fn, inputs, targets).items():
            pi = 1.0
            if self.pi:
                pi = float(torch.trace(A) * G.shape[0] / (torch.trace(G) * A.shape[0]))
            eye_a = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
            eye_g = torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
            out[key] = (torch.linalg.inv(A + math.sqrt(self.damping * pi) * eye_a),
                        torch.linalg.inv(G + math.sqrt(self.damping / pi) * eye_g))
        return out

    def _layers(self, model):
        return {wkey: bkey for _, _, wkey, bkey in _linear_layers(model)}

    def _per_layer(self, model, loss_fn, inputs, targets):
        """Per Linear layer: ``(weight key, bias key or None, diag of F^-1 shaped like [W | b], [W | b], A^-1,
        G^-1)``, float64."""
        inverses = self.inverse_factors(model, loss_fn, inputs, targets)
        weights = effective_weights(model)
        for wkey, bkey in self._layers(model).items():
            Ainv, Ginv = inverses[wkey]
            Wb = weights[wkey].to(torch.float64)
            if bkey is not None:
                Wb = torch.cat([Wb, weights[bkey].to(torch.float64)[:, None]], dim=1)
            yield wkey, bkey, torch.outer(Ginv.diagonal(), Ainv.diagonal()), Wb, Ainv, Ginv

    def _split(self, model, wkey, bkey, matrix):
        """[W | b]-shaped matrix -> {weight key: ..., bias key: ...} in the parameters' dtypes."""
        params = dict(model.named_parameters())
        if bkey is None:
            return {wkey: matrix.to(params[wkey].dtype)}
        return {wkey: matrix[:, :-1].to(params[wkey].dtype), bkey: matrix[:, -1].to(params[bkey].dtype)}

    def saliency(self, model, loss_fn, inputs, targets, *, mask=None):
        """``L_q = w_q^2 / (2 G^-1_oo A^-1_ii)``, keyed like ``named_parameters``; 0 where deleted."""
        mask = model_mask(model) if mask is None else mask
        out = {}
        for wkey, bkey, d, Wb, _, _ in self._per_layer(model, loss_fn, inputs, targets):
            out.update(self._split(model, wkey, bkey, Wb**2 / (2 * d)))
        return zero_where_deleted(out, mask)

    def update(self, model, loss_fn, inputs, targets, *, mask=None, delete):
        """WoodFisher's one-step change for deleting the entries where ``delete`` is True:
        ``dW = -G^-1 V A^-1`` per layer with ``V = w / diag(F^-1)`` on the deleted entries; deleted entries of
        ``w + dw`` are exactly 0. Keyed like ``named_parameters``."""
        out = {}
        for wkey, bkey, d, Wb, Ainv, Ginv in self._per_layer(model, loss_fn, inputs, targets):
            gone = delete[wkey].to(torch.bool)
            if bkey is not None:
                gone = torch.cat([gone, delete[bkey].to(torch.bool)[:, None]], dim=1)
            V = torch.where(gone, Wb / d, torch.zeros_like(Wb))
            dW = -(Ginv @ V @ Ainv)
            dW = torch.where(gone, -Wb, dW)
            out.update(self._split(model, wkey, bkey, dW))
        return out
