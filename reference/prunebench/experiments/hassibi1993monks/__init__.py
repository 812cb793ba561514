"""Optimal Brain Surgeon on the MONK's problems: weights left after pruning BPWD nets, vs OBD and magnitude.

Reference:
    Babak Hassibi and David G. Stork (1993). "Second order derivatives for network pruning: Optimal Brain
    Surgeon". In S. J. Hanson, J. D. Cowan and C. L. Giles (eds.), Advances in Neural Information Processing
    Systems 5 (NIPS 1992), pp. 164-171. Morgan Kaufmann.
    Thrun et al. (1991), "The MONK's Problems: A Performance Comparison of Different Learning Algorithms",
    CMU-CS-91-197 (the data and the BPWD accuracies).

The claims: OBS permits 90%, 76% and 62% weight reductions over backprop with weight decay (BPWD) on the
three MONK's problems [paper, abstract]; the MONK table [secondary] gives 58 -> 14 (MONK-1, 76%), 39 -> 15
(MONK-2, 62%) and 39 -> 4 (MONK-3, 90%) weights at BPWD's accuracies 100/100, 100/100, 93.4/97.2 %
train/test; and OBS removes more weights than OBD and magnitude for the same training error [paper,
abstract].

Protocol (one unit per problem and seed):

1. Train the task (``monks-1``: 17-3-1, ``monks-2``/``monks-3``: 17-2-1, sigmoid, biases, MSE, weight decay
   lambda/2 |w|^2, full-batch L-BFGS; :mod:`prunebench.tasks`) on the original training set; record its train
   and test accuracy (A0 and T0).
2. Prune one weight (or bias) at a time with each variant until a documented rule stops it:

   - *the paper's procedure* (``obs-paper``, the headline that decides the weight-count claims): compute
     H^-1 by eq. 17 (alpha 1e-4, the top of the paper's 1e-8..1e-4) at the current weights, find the
     smallest saliency L_q; if L_q <= 0.1 E (E the current training error; "much smaller" read as an order
     of magnitude, fixed before any run) delete q with the eq. 5 update and go back to computing H^-1;
     otherwise stop. No retraining. The claim is "at unchanged accuracy", so the run also stops before the
     first deletion that lowers the training accuracy (``obs-paper-as-written``: without that condition).
   - *accuracy rule*: keep deleting while the training accuracy after the deletion stays >= A0; the first
     deletion that lowers it is undone and ends the run. Weights remaining = those present before it.
   - *OBS's own rule on one inverse* (``obs-stop-rule``): eq. 17's inverse computed once and downdated after
     every deletion, stopping when L_q > 0.1 x (E0 plus the saliencies so far).

   Variants: ``obs`` (accuracy rule, one inverse downdated, alpha = the task's weight decay), ``obd``
   (LeCun's Levenberg-Marquardt diagonal, ranked once), ``magnitude`` (smallest |w|), all without
   retraining; ``+retrain``: recompute, delete one weight, retrain with the mask for at most
   ``retrain_iterations`` L-BFGS iterations (weight decay included), accuracy rule. Not with ``--quick``,
   each documented setting of the paper's procedure changed alone (table monks-obs-variants): the stop
   ratio (0.01, 1) and E (the BPWD net's), alpha (1e-8, 1e-6), extra damping (1e-3), the exact Hessian
   instead of eq. 17's outer-product form, retraining after every deletion, and the BPWD net itself (weight
   decay x10 and x0.1, training stopped after 300 L-BFGS iterations); with the accuracy rule: the inverse
   recomputed before every deletion instead of downdated, the exact Hessian, alpha 1e-8..1e-4, the BPWD
   variants.
3. The no-retraining variants of the main table continue past their stopping point down to no weights, for
   the curves of training and test accuracy against weights remaining.

Verdicts: the paper reports one network per problem, so its weight count and test accuracy are decided by
the single-network rule of :mod:`prunebench.stats` (reproduced when at least one seed is as good); the
comparisons with OBD and magnitude are population claims (the 95% CI rule).
"""

from .._common import masked_copy
from .experiment import ObsMonks
from .protocol import (
    HEADLINE,
    MAIN,
    PAPER,
    PAPER_ALPHA,
    PROBLEMS,
    SHORT_TRAINING,
    SIZES,
    STOP_RATIO,
    bpwd_task,
    describe,
    variant_specs,
)
from .pruning import prune_in_sequence, prune_stepwise

__all__ = ["HEADLINE", "MAIN", "PAPER", "PAPER_ALPHA", "PROBLEMS", "SHORT_TRAINING", "SIZES", "STOP_RATIO", "ObsMonks",
           "bpwd_task", "describe", "masked_copy", "prune_in_sequence", "prune_stepwise", "variant_specs"]
