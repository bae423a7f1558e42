"""Devices, array modules and kernel sets.

A device names where a Tensor's numbers live and which kernels compute on them:

    'cpu'       NumPy arrays, Numba kernels (``kernels/<op>.py``; or the NumPy reference)
    'cuda'      CuPy arrays, CUDA C RawKernels (``kernels/<op>.cu``), cuBLAS GEMMs
    'cuda-sim'  NumPy arrays, the *same* CUDA C kernels compiled with g++ and run on the
                CPU by ``minigan.cuda_host`` -- the GPU code path, on any machine, slowly

Every kernel set implements the array-level contract of ``docs/kernel_api.md``.
"""

import contextlib
import os

import numpy as np

import minigan.kernels
from minigan import cuda_kernels, reference
from minigan.kernels.cuda_launch import require_cupy

DEVICES = ("cpu", "cuda", "cuda-sim")
CPU_KERNEL_SETS = ("numba", "reference")

_cpu_kernel_set = os.environ.get("MINIGAN_CPU_KERNELS", "numba")  # or "reference"


def check_device(device):
    """Return ``device`` if it is one of DEVICES, else raise ValueError."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    return device


def array_module(device):
    """NumPy for 'cpu' and 'cuda-sim', CuPy for 'cuda'."""
    if check_device(device) == "cuda":
        return require_cupy()
    return np


def to_device(array, device):
    """Copy ``array`` (NumPy or CuPy) onto ``device``'s array module; no copy if already there."""
    xp = array_module(device)
    if xp is np and type(array).__module__.startswith("cupy"):
        return array.get()
    return xp.asarray(array)


def set_cpu_kernels(name):
    """Choose the kernels device 'cpu' runs: 'numba' (the fast default) or 'reference' (NumPy)."""
    global _cpu_kernel_set
    if name not in CPU_KERNEL_SETS:
        raise ValueError(f"unknown CPU kernel set {name!r}; expected one of {CPU_KERNEL_SETS}")
    _cpu_kernel_set = name


@contextlib.contextmanager
def use_cpu_kernels(name):
    """Temporarily run device 'cpu' on another kernel set (``with use_cpu_kernels('reference'):``)."""
    previous = _cpu_kernel_set
    set_cpu_kernels(name)
    try:
        yield
    finally:
        set_cpu_kernels(previous)


def kernels(device):
    """The kernel set (an object with every function of docs/kernel_api.md) for ``device``."""
    if check_device(device) == "cpu":
        if _cpu_kernel_set not in CPU_KERNEL_SETS:
            raise ValueError(f"MINIGAN_CPU_KERNELS={_cpu_kernel_set!r}; expected one of {CPU_KERNEL_SETS}")
        return reference if _cpu_kernel_set == "reference" else minigan.kernels
    return cuda_kernels.kernel_set(device)


def scatter_add(xp, target, index, values):
    """``target[index] += values`` with repeated indices accumulated (np.add.at / cupyx.scatter_add)."""
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)
