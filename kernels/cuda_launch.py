"""What every op's CUDA host code shares: compiling ``kernels/<op>.cu`` and launching its kernels.

One launcher serves two devices; only the array module and the RawModule class differ:

    'cuda'      CuPy arrays; ``cupy.RawModule`` compiles each .cu file with NVRTC (once per
                process, cached on disk by CuPy); the im2col GEMMs run on cuBLAS via cupy.matmul.
    'cuda-sim'  NumPy arrays; ``minigan.cuda_host.RawModule`` compiles the *same* source with
                g++ and runs every CUDA thread as a fiber on the CPU; NumPy matmul stands in
                for cuBLAS. Slow, but it executes every line of the CUDA code on any machine.

Each kernel exists as ``<name>_f32`` and ``<name>_f64``; the launcher picks the variant from the
dtype and passes scalars as the exact NumPy types of the C signature (``np.int32`` for ``int``,
``np.int64`` for ``long long``, the array dtype for ``T``). Elementwise kernels run 256-thread
blocks over a grid-stride loop (grid capped at MAX_GRID blocks); reductions run one block per
channel / weight element / partial sum.

The host code checks nothing: ``minigan.functional`` validates every input before a kernel runs
(docs/kernel_api.md). It only derives what a launch needs: sizes, and the variant from the dtype.
"""

import importlib.resources
import math
from typing import NamedTuple

import numpy as np

from minigan import cuda_host

BLOCK = 256
"""Threads per block; the shared-memory reductions in the .cu files assume exactly this."""
MAX_GRID = 4096
"""Most blocks per launch; grid-stride loops cover the rest."""
NVRTC_OPTIONS = ("--std=c++17",)
"""Compiler options for cupy.RawModule (tests/test_cuda_compile.py compiles with the same)."""
COMMON_HEADER = "common.cuh"
"""The helpers every kernels/*.cu file relies on (MG_FLOAT_KERNELS, MG_GRID_STRIDE_LOOP,
block_sum, ...), prepended to each by kernel_source."""
CUDA_INSTALL_HINT = (
    "device 'cuda' needs CuPy and a CUDA GPU: install with pip install 'minigan[cuda12]'. "
    "To run the same CUDA kernels on the CPU (slowly), use device='cuda-sim'."
)

_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


class CudaSource(NamedTuple):
    """One ``kernels/<name>.cu`` file (one RawModule) and the kernels launched from it; each
    kernel exists as <kernel>_f32 and <kernel>_f64 (tests/test_cuda_compile.py checks)."""
    name: str
    kernels: tuple


def require_cupy():
    """Import CuPy and check that a CUDA device is present; one clear RuntimeError otherwise."""
    try:
        import cupy  # optional dependency: only device 'cuda' needs it
    except ImportError:
        raise RuntimeError(CUDA_INSTALL_HINT) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CuPy raises its own CUDARuntimeError without a driver
        raise RuntimeError(f"{CUDA_INSTALL_HINT} (CuPy found no usable device: {exc})") from None
    if count < 1:
        raise RuntimeError(f"{CUDA_INSTALL_HINT} (CuPy found no CUDA device)")
    return cupy


def kernel_path(name):
    """Where ``kernels/<name>.cu`` lives (package data of minigan.kernels)."""
    return importlib.resources.files("minigan.kernels").joinpath(f"{name}.cu")


def _line_directive(path):
    """``#line 1 "<path>"``: what follows is reported as line 1 of ``path``."""
    quoted = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'#line 1 "{quoted}"\n'


def kernel_source(name):
    """The CUDA C text compiled for ``kernels/<name>.cu``: ``kernels/common.cuh``, then the
    .cu file itself after a ``#line 1 "<its path>"``.

    NVRTC has no include path to this package, so the shared helpers cannot be ``#include``d;
    they are pasted in front instead. The ``#line`` directives keep compiler errors and the
    CUDA host harness's sanitizer reports pointing at the right file (common.cuh or the .cu)
    and line.
    """
    common = importlib.resources.files("minigan.kernels").joinpath(COMMON_HEADER)
    path = kernel_path(name)
    text = path.read_text()
    return (_line_directive(common) + common.read_text().rstrip("\n") + "\n"
            + _line_directive(path) + text)


def raw_modules(device):
    """``(array module, raw_module(name, code=, options=))`` for 'cuda' (CuPy, NVRTC) or
    'cuda-sim' (NumPy, ``minigan.cuda_host``); ``raw_module`` builds the RawModule of
    kernels/<name>.cu. RuntimeError (with install instructions) when 'cuda' lacks CuPy or a GPU."""
    if device == "cuda":
        cupy = require_cupy()
        return cupy, lambda name, **kw: cupy.RawModule(**kw)
    if device == "cuda-sim":
        # source_name: compiler errors and sanitizer reports point at kernels/<name>.cu itself
        return np, lambda name, **kw: cuda_host.RawModule(source_name=str(kernel_path(name)), **kw)
    raise ValueError(f"kernel_set: device must be 'cuda' or 'cuda-sim', got {device!r}")


# ---------------------------------------------------------------------------- launching

class Launcher:
    """Compiles each .cu file once (on first use) and launches its kernels on one device.

    ``xp`` is the array module (cupy or numpy), ``raw_module(name, code=, options=)`` builds a
    ``cupy.RawModule`` or a ``minigan.cuda_host.RawModule`` (same call shape) for
    kernels/<name>.cu. Each op's host code (``kernels/<op>_cuda.py``) is a subclass.
    """

    def __init__(self, device, xp, raw_module):
        self.device = device
        self.xp = xp
        self._raw_module = raw_module
        self._modules = {}
        self._functions = {}

    def _function(self, source, name):
        key = (source, name)
        if key not in self._functions:
            if source not in self._modules:
                self._modules[source] = self._raw_module(source, code=kernel_source(source),
                                                         options=NVRTC_OPTIONS)
            self._functions[key] = self._modules[source].get_function(name)
        return self._functions[key]

    @staticmethod
    def _grid(threads):
        """Blocks that give each of ``threads`` work items its own thread, at most MAX_GRID."""
        return min(math.ceil(threads / BLOCK), MAX_GRID)

    def _launch(self, source, name, dtype, args, *, threads=None, blocks=None):
        """Run ``<name>_f32|f64`` of ``source`` (a CudaSource) on 256-thread blocks: enough to
        give each of ``threads`` work items its own thread (capped at MAX_GRID blocks; the
        kernels loop grid-stride), or exactly ``blocks`` blocks for one-block-per-item kernels."""
        if name not in source.kernels:
            raise LookupError(f"kernel {name!r} is not listed in the CudaSource of {source.name}.cu")
        grid = self._grid(threads) if blocks is None else min(blocks, MAX_GRID)
        if grid > 0:
            self._function(source.name, f"{name}_{_SUFFIX[dtype]}")((grid,), (BLOCK,), args)

    def _input(self, a):
        """A read-only kernel input as a C-contiguous array (a 0-d one for a NumPy scalar);
        copied only if it is not one already."""
        a = self.xp.asarray(a)
        return a if a.flags.c_contiguous else self.xp.ascontiguousarray(a)

    def _elementwise(self, op, source, inputs, scalars=()):
        """out = kernel(*inputs) elementwise; C signature (*inputs, out, *scalars, n)."""
        inputs = [self._input(a) for a in inputs.values()]
        dtype = inputs[0].dtype
        out = self.xp.empty_like(inputs[0])
        real = tuple(dtype.type(s) for s in scalars)
        self._launch(source, op, dtype, (*inputs, out, *real, np.int64(out.size)),
                     threads=out.size)
        return out
