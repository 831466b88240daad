"""Benchmarks: the engine against its baselines (numpy formulas, PyTorch), as ratios, and the
service under load (wrk/hey, a mixed soak with hostile requests, a worker killed mid-load).

Run ``python -m benchmarks [--quick] [--profile] [FILTER ...]``; see ``benchmarks/README.md``.
PyTorch (``torch==2.13.0``) is needed for the engine baselines only; it is never a runtime
dependency. The service groups (``service``, ``soak``) need Debian ``wrk`` (and ``hey`` for the
cross-check) and run only when named.
"""
