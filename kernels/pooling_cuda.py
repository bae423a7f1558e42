"""Host side of ``kernels/pooling.cu``: max pooling and unpooling of docs/kernel_api.md on
'cuda' / 'cuda-sim'. Indices are int64 flat positions ``h*W + w`` in each (n, c) plane."""

import math

import numpy as np

from minigan.kernels.cuda_launch import CudaSource, Launcher, check_4d, check_shape, float_dtype
from minigan.reference import check_indices, pair, pool2d_output_hw

SOURCE = CudaSource("pooling", ("max_pool2d_forward", "max_pool2d_backward",
                                "max_unpool2d_forward", "max_unpool2d_backward"))


def _check_index_array(op, indices, shape):
    check_shape(op, "indices", indices, shape)
    if indices.dtype != np.int64:
        raise TypeError(f"{op}: indices must be int64, got {indices.dtype}")


class PoolingCuda(Launcher):
    """max_pool2d and max_unpool2d: forward and backward."""

    def max_pool2d_forward(self, x, kernel_size, stride, padding):
        """y = max over each window (padding = -inf, first maximum wins, NaN propagates);
        indices = flat h*W + w of the maximum in its (n, c) plane, int64."""
        op = "max_pool2d_forward"
        float_dtype(op, x=x)
        check_4d(op, x=x)
        kernel_size, stride, padding = pair(kernel_size), pair(stride), pair(padding)
        n, c, h, w = x.shape
        ho, wo = pool2d_output_hw(op, (h, w), kernel_size, stride, padding)
        y = self.xp.empty((n, c, ho, wo), dtype=x.dtype)
        indices = self.xp.empty(y.shape, dtype=np.int64)
        sizes = (h, w, ho, wo, *kernel_size, *stride, *padding)
        self._launch(SOURCE, op, x.dtype,
                     (self._input(x), y, indices, np.int64(n * c), *(np.int32(v) for v in sizes)),
                     threads=y.size)
        return y, indices

    def _by_index(self, op, src, indices, out_shape, indexed_plane, zero_fill):
        """Run one index kernel of pooling.cu: C signature (src, indices, out, src plane size,
        out plane size, indices.size); the indices address planes of ``indexed_plane`` elements."""
        dtype = float_dtype(op, input=src)
        check_4d(op, input=src)
        indices = self._input(indices)
        check_indices(op, indices, indexed_plane)
        out = (self.xp.zeros if zero_fill else self.xp.empty)(out_shape, dtype=dtype)
        planes = (np.int64(math.prod(src.shape[2:])), np.int64(math.prod(out_shape[2:])))
        self._launch(SOURCE, op, dtype,
                     (self._input(src), indices, out, *planes, np.int64(indices.size)),
                     threads=indices.size)
        return out

    def max_pool2d_backward(self, grad_y, indices, input_hw):
        """grad_x[n, c].flat[indices[n, c, i, j]] += grad_y[n, c, i, j] (scatter-add, atomicAdd)."""
        op = "max_pool2d_backward"
        _check_index_array(op, indices, grad_y.shape)
        h, w = pair(input_hw)
        return self._by_index(op, grad_y, indices, (*grad_y.shape[:2], h, w), h * w,
                              zero_fill=True)

    def max_unpool2d_forward(self, x, indices, output_hw):
        """y = zeros (N, C, *output_hw); y[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j]."""
        op = "max_unpool2d_forward"
        _check_index_array(op, indices, x.shape)
        h, w = pair(output_hw)
        return self._by_index(op, x, indices, (*x.shape[:2], h, w), h * w, zero_fill=True)

    def max_unpool2d_backward(self, grad_y, indices):
        """grad_x[n, c, i, j] = grad_y[n, c].flat[indices[n, c, i, j]] (gather)."""
        op = "max_unpool2d_backward"
        _check_index_array(op, indices, (*grad_y.shape[:2], *indices.shape[2:]))
        return self._by_index(op, grad_y, indices, indices.shape,
                              math.prod(grad_y.shape[2:]), zero_fill=False)
