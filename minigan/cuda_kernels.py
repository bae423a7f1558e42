"""The CUDA kernel set: every function of docs/kernel_api.md, run by the CUDA C kernels of
``kernels/*.cu`` on device 'cuda' (CuPy) or 'cuda-sim' (the same kernels on the CPU).

Each op's host code lives beside its .cu file (``kernels/<op>_cuda.py``); the compiling and
launching they share is ``kernels/cuda_launch.py``. This module only puts them together.
"""

import functools

from minigan.kernels import (activations_cuda, batch_norm_cuda, classification_cuda, conv2d_cuda,
                             embedding_cuda, losses_cuda, optim_cuda, pooling_cuda, rmsprop_cuda,
                             softplus_cuda, upsample_cuda)
from minigan.kernels.cuda_launch import raw_modules

KERNELS = {module.SOURCE.name: module.SOURCE.kernels
           for module in (activations_cuda, batch_norm_cuda, conv2d_cuda, losses_cuda,
                          optim_cuda, pooling_cuda, classification_cuda, embedding_cuda,
                          rmsprop_cuda, softplus_cuda, upsample_cuda)}
"""Every .cu file of the package minigan.kernels (one RawModule each) and the kernels launched
from it; each name exists as name_f32 and name_f64 (tests/test_cuda_compile.py checks)."""


class CudaKernelSet(activations_cuda.ActivationsCuda, batch_norm_cuda.BatchNormCuda,
                    conv2d_cuda.Conv2dCuda, losses_cuda.LossesCuda, optim_cuda.OptimCuda,
                    pooling_cuda.PoolingCuda, classification_cuda.ClassificationCuda,
                    embedding_cuda.EmbeddingCuda, rmsprop_cuda.RmspropCuda, softplus_cuda.SoftplusCuda,
                    upsample_cuda.UpsampleCuda):
    """Every function of docs/kernel_api.md (plus the ``*_direct`` convolutions) on one device:
    the op classes of ``kernels/<op>_cuda.py`` over one shared ``cuda_launch.Launcher``."""

    def __repr__(self):
        return f"<CUDA kernel set for device {self.device!r}>"


@functools.lru_cache(maxsize=None)
def kernel_set(device):
    """The CUDA kernel set for ``device`` 'cuda' (CuPy + GPU) or 'cuda-sim' (NumPy + CPU fibers).

    One instance per device per process, so every .cu file is compiled at most once.
    RuntimeError (with install instructions) when 'cuda' lacks CuPy or a GPU.
    """
    return CudaKernelSet(device, *raw_modules(device))
