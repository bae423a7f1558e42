"""Numba CPU kernels for nearest-neighbour upsampling by whole-number factors (sh, sw).

    forward:   y[n, c, h, w] = x[n, c, h // sh, w // sw]
    backward:  grad_x[n, c, i, j] = sum_{a < sh, b < sw} grad_y[n, c, i*sh + a, j*sw + b]

Both run one (n, c) plane per parallel iteration; each output element is written by one thread.
Inputs are validated by minigan.functional (4-D, whole-number factors).
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.parallel import launch


@njit(cache=True, parallel=True)
def _forward_loop(x, sh, sw, y):
    planes, h, w = x.shape
    for p in prange(planes):
        for i in range(h * sh):
            for j in range(w * sw):
                y[p, i, j] = x[p, i // sh, j // sw]


@njit(cache=True, parallel=True)
def _backward_loop(grad_y, sh, sw, grad_x):
    planes, h, w = grad_x.shape
    for p in prange(planes):
        for i in range(h):
            for j in range(w):
                total = grad_y[p, i * sh, j * sw] * 0
                for a in range(sh):
                    for b in range(sw):
                        total += grad_y[p, i * sh + a, j * sw + b]
                grad_x[p, i, j] = total


def upsample_nearest2d_forward(x, scale):
    """y[n, c, h, w] = x[n, c, h // sh, w // sw], y (N, C, H*sh, W*sw)."""
    (n, c, h, w), (sh, sw) = x.shape, scale
    y = np.empty((n, c, h * sh, w * sw), dtype=x.dtype)
    launch(_forward_loop, y.size, np.ascontiguousarray(x).reshape(n * c, h, w), sh, sw, y.reshape(n * c, h * sh, w * sw))
    return y


def upsample_nearest2d_backward(grad_y, scale):
    """grad_x[n, c, i, j] = sum_{a < sh, b < sw} grad_y[n, c, i*sh + a, j*sw + b]."""
    (n, c, h, w), (sh, sw) = grad_y.shape, scale
    grad_x = np.empty((n, c, h // sh, w // sw), dtype=grad_y.dtype)
    launch(_backward_loop, grad_y.size, np.ascontiguousarray(grad_y).reshape(n * c, h, w), sh, sw,
           grad_x.reshape(n * c, h // sh, w // sw))
    return grad_x
