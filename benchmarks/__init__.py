"""The asv suite: speed and memory of prunebench's curvature and pruning kernels across its git history.

Modules: :mod:`.curvature` (one gradient as the baseline, Hessian diagonals, dense inverses; every backend),
:mod:`.pruning` (OBS deletion steps and sequences; accuracy at fixed sparsities). Shared set-up lives in
:mod:`.common`. ``benchmarks/quick/`` holds the pytest-benchmark micro-benchmarks of ``make bench-quick``.
See docs/benchmarks.md for the commands and how to read the results.
"""
