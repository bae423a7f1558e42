"""Run unchanged CUDA C kernels on the CPU: the ``'cuda-sim'`` device's engine.

``RawModule(code).get_function(name)(grid, block, args, shared_mem=0)``, as in CuPy, but
compiled with g++ against ``cuda_host.h`` and executed with one fiber per CUDA thread.
See ``docs/cuda_host.md``.
"""

from .loader import (HEADER, CudaHostError, RawKernel, RawModule, build_count, cache_dir,
                     sanitizer, schedule_order)

__all__ = ["HEADER", "CudaHostError", "RawKernel", "RawModule", "build_count", "cache_dir",
           "sanitizer", "schedule_order"]
