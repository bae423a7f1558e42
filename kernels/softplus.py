"""Numba CPU kernels for softplus, elementwise (PyTorch's form, with its linear region):

    forward:   y = log(1 + e^(beta x)) / beta,   y = x where beta x > threshold
    backward:  grad_x = grad_y * sigmoid(beta x), grad_x = grad_y where beta x > threshold

beta and threshold are cast to the array's dtype, so float32 stays float32.
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.parallel import launch


@njit(cache=True, parallel=True)
def _forward_loop(x, beta, threshold, y):
    for k in prange(x.size):
        bx = beta * x[k]
        y[k] = x[k] if bx > threshold else np.log1p(np.exp(bx)) / beta


@njit(cache=True, parallel=True)
def _backward_loop(grad_y, x, beta, threshold, one, grad_x):
    """sigmoid(v) from e = e^-|v| <= 1: 1 / (1 + e) for v >= 0, e / (1 + e) for v < 0 (no overflow);
    ``one`` is 1 in the arrays' dtype."""
    for k in prange(x.size):
        bx = beta * x[k]
        if bx > threshold:
            grad_x[k] = grad_y[k]
        else:
            e = np.exp(-abs(bx))
            grad_x[k] = grad_y[k] * ((one if bx >= 0 else e) / (one + e))


def softplus_forward(x, beta, threshold):
    """y = log(1 + e^(beta x)) / beta, and y = x where beta x > threshold."""
    t = x.dtype.type
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    launch(_forward_loop, x.size, x.reshape(-1), t(beta), t(threshold), y.reshape(-1))
    return y


def softplus_backward(grad_y, x, beta, threshold):
    """grad_x = grad_y * sigmoid(beta x), and grad_y where beta x > threshold."""
    t = x.dtype.type
    grad_y, x = np.ascontiguousarray(grad_y), np.ascontiguousarray(x)
    grad_x = np.empty_like(x)
    launch(_backward_loop, x.size, grad_y.reshape(-1), x.reshape(-1), t(beta), t(threshold), t(1), grad_x.reshape(-1))
    return grad_x
