"""prunebench: a reproducibility benchmark suite for second-order neural-network pruning.

Reference implementations of magnitude pruning, Optimal Brain Damage (LeCun, Denker & Solla 1990) and Optimal
Brain Surgeon (Hassibi & Stork 1993) in one harness, with curvature checked against dense oracles.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("prunebench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
