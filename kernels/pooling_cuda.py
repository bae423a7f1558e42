"""Host side of ``kernels/pooling.cu``: max pooling and unpooling of docs/kernel_api.md on
'cuda' / 'cuda-sim'. Indices are int64 flat positions ``h*W + w`` in each (n, c) plane."""

import math

import numpy as np

from minigan.kernels.cuda_launch import CudaSource, Launcher
from minigan.kernels.geometry import conv2d_output_hw, pair

SOURCE = CudaSource("pooling", ("max_pool2d_forward", "max_pool2d_backward",
                                "max_unpool2d_forward", "max_unpool2d_backward"))


class PoolingCuda(Launcher):
    """max_pool2d and max_unpool2d: forward and backward."""

    def max_pool2d_forward(self, x, kernel_size, stride, padding):
        """y = max over each window (padding = -inf, first maximum wins, NaN propagates);
        indices = flat h*W + w of the maximum in its (n, c) plane, int64."""
        kernel_size, stride, padding = pair(kernel_size), pair(stride), pair(padding)
        n, c, h, w = x.shape
        ho, wo = conv2d_output_hw((h, w), kernel_size, stride, padding)
        y = self.xp.empty((n, c, ho, wo), dtype=x.dtype)
        indices = self.xp.empty(y.shape, dtype=np.int64)
        sizes = (h, w, ho, wo, *kernel_size, *stride, *padding)
        self._launch(SOURCE, "max_pool2d_forward", x.dtype,
                     (self._input(x), y, indices, np.int64(n * c), *(np.int32(v) for v in sizes)),
                     threads=y.size)
        return y, indices

    def _by_index(self, op, src, indices, out_shape, zero_fill):
        """Run one index kernel of pooling.cu: C signature (src, indices, out, src plane size,
        out plane size, indices.size)."""
        indices = self._input(indices)
        out = (self.xp.zeros if zero_fill else self.xp.empty)(out_shape, dtype=src.dtype)
        planes = (np.int64(math.prod(src.shape[2:])), np.int64(math.prod(out_shape[2:])))
        self._launch(SOURCE, op, src.dtype,
                     (self._input(src), indices, out, *planes, np.int64(indices.size)),
                     threads=indices.size)
        return out

    def max_pool2d_backward(self, grad_y, indices, input_hw):
        """grad_x[n, c].flat[indices[n, c, i, j]] += grad_y[n, c, i, j] (scatter-add, atomicAdd)."""
        return self._by_index("max_pool2d_backward", grad_y, indices, (*grad_y.shape[:2], *pair(input_hw)),
                              zero_fill=True)

    def max_unpool2d_forward(self, x, indices, output_hw):
        """y = zeros (N, C, *output_hw); y[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j]."""
        return self._by_index("max_unpool2d_forward", x, indices, (*x.shape[:2], *pair(output_hw)),
                              zero_fill=True)

    def max_unpool2d_backward(self, grad_y, indices):
        """grad_x[n, c, i, j] = grad_y[n, c].flat[indices[n, c, i, j]] (gather)."""
        return self._by_index("max_unpool2d_backward", grad_y, indices, indices.shape, zero_fill=False)
