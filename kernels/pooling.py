"""Numba CPU kernels for max_pool2d and max_unpool2d.

Indices are PyTorch's: the flat position `h*W + w` inside each (n, c) plane, int64. Every jitted
loop runs one (n, c) plane per iteration, so a scatter never has two threads writing the same
element, and within a plane the order is row-major (a repeated unpool index keeps the last value).
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.geometry import conv2d_output_hw, pair
from minigan.kernels.parallel import launch


@njit(cache=True, parallel=True)
def _max_pool(x, kernel_hw, stride, padding, y, indices):
    """y[n, c, ho, wo] = max over the window rows ho*sh - ph + i, columns wo*sw - pw + j inside the
    image (padding is -inf, so it never wins); indices = h*W + w of the first maximum, or of the
    last NaN (NaN propagates)."""
    n_img, channels, height, width = x.shape
    _, _, out_h, out_w = y.shape
    for plane in prange(n_img * channels):
        n, c = plane // channels, plane % channels
        for ho in range(out_h):
            top = ho * stride[0] - padding[0]
            for wo in range(out_w):
                left = wo * stride[1] - padding[1]
                best, best_at = -np.inf, max(top, 0) * width + max(left, 0)
                for h in range(max(top, 0), min(top + kernel_hw[0], height)):
                    for w in range(max(left, 0), min(left + kernel_hw[1], width)):
                        v = x[n, c, h, w]
                        if v > best or v != v:
                            best, best_at = v, h * width + w
                y[n, c, ho, wo] = best
                indices[n, c, ho, wo] = best_at


@njit(cache=True, parallel=True)
def _scatter(src, indices, out, accumulate):
    """out[p, indices[p, k]] += src[p, k] (accumulate) or = src[p, k], over (plane, position) arrays."""
    for p in prange(src.shape[0]):
        for k in range(src.shape[1]):
            if accumulate:
                out[p, indices[p, k]] += src[p, k]
            else:
                out[p, indices[p, k]] = src[p, k]


@njit(cache=True, parallel=True)
def _gather(src, indices, out):
    """out[p, k] = src[p, indices[p, k]], over (plane, position) arrays."""
    for p in prange(out.shape[0]):
        for k in range(out.shape[1]):
            out[p, k] = src[p, indices[p, k]]


def _planes(a):
    """`a (N, C, ...)` as a C-contiguous `(N*C, plane size)` array."""
    return np.ascontiguousarray(a).reshape(a.shape[0] * a.shape[1], -1)


def _scatter_into_planes(values, indices, plane_hw, accumulate):
    """zeros (N, C, *plane_hw) with `values` scattered at `indices` (added, or assigned)."""
    plane_hw = pair(plane_hw)
    out = np.zeros(values.shape[:2] + plane_hw, dtype=values.dtype)
    launch(_scatter, out.size, _planes(values), _planes(indices), _planes(out), accumulate)
    return out


def max_pool2d_forward(x, kernel_size, stride, padding):
    """y = max over each kH x kW window (stride, -inf padding), indices = flat h*W + w of the maximum."""
    kernel_size, stride, padding = pair(kernel_size), pair(stride), pair(padding)
    out_hw = conv2d_output_hw(x.shape[2:], kernel_size, stride, padding)
    y = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
    indices = np.empty(y.shape, dtype=np.int64)
    launch(_max_pool, x.size, np.ascontiguousarray(x), kernel_size, stride, padding, y, indices)
    return y, indices


def max_pool2d_backward(grad_y, indices, input_hw):
    """grad_x = zeros (N, C, *input_hw) with grad_y scatter-added at indices."""
    return _scatter_into_planes(grad_y, indices, input_hw, accumulate=True)


def max_unpool2d_forward(x, indices, output_hw):
    """y = zeros (N, C, *output_hw) with x written at indices."""
    return _scatter_into_planes(x, indices, output_hw, accumulate=False)


def max_unpool2d_backward(grad_y, indices):
    """grad_x = grad_y gathered at indices (shape of indices)."""
    grad_x = np.empty(indices.shape, dtype=grad_y.dtype)
    launch(_gather, grad_x.size, _planes(grad_y), _planes(indices), _planes(grad_x))
    return grad_x
