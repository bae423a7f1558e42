"""Benchmarks of minigan: per-kernel (``bench_kernels``) and per-training-step (``bench_train``).

Run from the repository root: ``python -m benchmarks.bench_kernels --quick``. See docs/benchmarks.md.
"""
