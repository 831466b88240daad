"""Engine benchmarks: the engine against its baselines (numpy formulas, PyTorch), as ratios.

Run ``python -m benchmarks [--quick] [--profile] [FILTER ...]``; see ``benchmarks/README.md``.
PyTorch (``torch==2.13.0``) is needed for the baselines only; it is never a runtime dependency.
"""
