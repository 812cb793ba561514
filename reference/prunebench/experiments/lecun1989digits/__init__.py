"""Optimal Brain Damage on handwritten digits: Figures 1a, 1b, 2a and 2b, the claims behind them, and how each
verdict depends on the protocol.

Reference:
    Yann LeCun, John S. Denker and Sara A. Solla (1990). "Optimal Brain Damage". In D. S. Touretzky (ed.),
    Advances in Neural Information Processing Systems 2 (NIPS 1989), pp. 598-605. Morgan Kaufmann.

What the paper shows (PAPERS.md section 1): a shared-weight network trained with MSE on zip-code digits
(2,578 free parameters); parameters deleted by OBD, by magnitude and at random; the objective in dB
(10 log10 MSE on the training set) against the number of remaining free parameters.

- Fig. 1a: OBD's curve lies significantly below magnitude deletion's; random deletion is so much worse that it
  does not fit on the same scale.
- Fig. 1b: the objective predicted from the saliencies (the sum of the deleted parameters' s_k) against the
  actual one: they agree up to about 30% of the parameters deleted (800 of 2578) and depart beyond, where
  off-diagonal and higher-order terms grow.
- Fig. 2a/2b: with retraining after each deletion round, the training (2a) and test (2b) objective stay almost
  the same up to about 60% deleted (1500 parameters).

Protocol. A *protocol* fixes five choices (:data:`HEADLINE` is the one closest to the paper):

- ``dense``: how the dense net is trained, a rule of ``config["dense_rules"]`` (changes to the task's
  :class:`~prunebench.train.TrainConfig`): ``tol`` trains until the RMS gradient per free parameter is at most
  ``grad_rms_tol`` (OBD's extremal approximation assumes g = 0), the iteration count only a cap;
- ``retrain``: how each round is retrained (Fig. 2), a rule of ``config["retrain_rules"]``: ``tol`` to the
  same kind of tolerance at the masked minimum, ``budget`` a fixed number of L-BFGS iterations;
- ``step``: the round size, a fraction of the free parameters (biases included);
- ``schedule`` of Figs. 1a/1b (no retraining): ``once`` ranks the parameters once by their saliencies at the
  dense net and deletes them in that order (what the paper's Fig. 1b predicts: E0 plus the sum of the dense
  net's saliencies of the deleted parameters); ``recompute`` asks the method afresh before every round;
- ``curvature``: the Hessian diagonal of OBD: ``lecun-lm`` (LeCun's recursion with the Levenberg-Marquardt
  approximation, the paper's), ``lecun`` (the recursion with the f'' terms), ``exact``, ``ggn``.

Fig. 2 always follows the paper's iterative procedure: delete a round, retrain to the rule with the masks kept,
recompute the saliencies. Under every protocol four series run per seed: OBD and magnitude and random deletion
without retraining, and OBD with retraining; each is one unit, shared by every protocol that needs it.

A protocol's claims use only the seeds whose runs met their stopping rules: a dense net that hit its cap, or a
retraining round up to the claim's fraction that did, is flagged in the record and left out, and the claim's
note says how many were. The sensitivity table gives every claim's verdict under each protocol of
``config["variants"]`` (one choice changed from the headline at a time) and under halved and doubled dB
tolerances.
"""

from .curves import deletion_counts, deletion_curve, predicted_objective, rank_once_curve, to_db
from .diagonals import DIAGONALS, diagonal_distances
from .experiment import ObdDigits, ObdUsps
from .protocol import (
    BELOW_FRACTION,
    CURVATURES,
    DB_TOLERANCE,
    HEADLINE,
    PAPER_OBD,
    RANDOM_GAP,
    RANGE_END,
    TOLERANCE_SCALES,
    VARIANTS,
    protocol,
)

__all__ = ["BELOW_FRACTION", "CURVATURES", "DB_TOLERANCE", "DIAGONALS", "HEADLINE", "PAPER_OBD", "RANDOM_GAP",
           "RANGE_END", "TOLERANCE_SCALES", "VARIANTS", "ObdDigits", "ObdUsps", "deletion_counts", "deletion_curve",
           "diagonal_distances", "predicted_objective", "protocol", "rank_once_curve", "to_db"]
