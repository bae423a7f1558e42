"""Numba CPU kernels for the elementwise activations relu, leaky_relu, tanh and sigmoid:

    relu        y = max(x, 0)                           grad_x = grad_y [x > 0]
    leaky_relu  y = x if x > 0 else slope x              grad_x = grad_y (1 if x > 0 else slope)
    tanh        y = tanh x                              grad_x = grad_y (1 - y^2)
    sigmoid     y = 1 / (1 + e^-x)                      grad_x = grad_y y (1 - y)

Each forward and backward is one fused parallel pass over the flat array. Two jitted functions
serve all four activations: `_forward_loop` applies f and `_backward_loop` multiplies by f',
each with one loop per kind, chosen once outside the loop: with the choice inside it, LLVM
vectorises none of them.

float32 tanh and sigmoid take e^y from `kernels/fastmath.py` (plain arithmetic that vectorises,
where a libm call per element does not): tanh by `tanh_via_exp` (float64 arithmetic, within 0.508 ulp),
sigmoid by `sigmoid32` (float32 arithmetic, 16 lanes per vector, within 2.31 ulp). float64 keeps libm.
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.fastmath import sigmoid, sigmoid32, tanh_via_exp
from minigan.kernels.parallel import launch

RELU, LEAKY_RELU, TANH, SIGMOID, TANH_VIA_EXP, SIGMOID_VIA_EXP = 0, 1, 2, 3, 4, 5


@njit(cache=True, inline="always")
def _relu(x):
    """max(x, 0), written so that NaN passes through."""
    return 0 if x <= 0 else x


@njit(cache=True, inline="always")
def _leaky_relu(x, slope):
    return x if x > 0 else slope * x


@njit(cache=True, parallel=True, fastmath={"contract"})      # contract: a*b + c may fuse to one FMA (sigmoid32
                                                            # has none left to fuse: its FMAs are explicit)
def _forward_loop(kind, x, slope, y):
    """y[k] = f(x[k]) over flat arrays: relu max(x, 0); leaky_relu x if x > 0 else slope*x; tanh
    (libm for float64, `tanh_via_exp` for float32); sigmoid 1/(1 + e^-x) (`sigmoid32` for float32).
    One loop per kind, chosen outside the loop: with the choice inside it, LLVM vectorises none of them."""
    if kind == RELU:
        for k in prange(x.size):
            y[k] = _relu(x[k])
    elif kind == LEAKY_RELU:
        for k in prange(x.size):
            y[k] = _leaky_relu(x[k], slope)
    elif kind == TANH_VIA_EXP:
        for k in prange(x.size):
            y[k] = tanh_via_exp(x[k])
    elif kind == SIGMOID_VIA_EXP:
        for k in prange(x.size):
            y[k] = sigmoid32(x[k])
    elif kind == TANH:
        for k in prange(x.size):
            y[k] = np.tanh(x[k])
    else:
        for k in prange(x.size):
            y[k] = sigmoid(x[k])


@njit(cache=True, parallel=True, fastmath={"contract"})
def _backward_loop(kind, grad_y, v, slope, grad_x):
    """grad_x[k] = grad_y[k] * f'(v[k]) over flat arrays, f' in terms of v: relu [x > 0];
    leaky_relu 1 if x > 0 else slope (v = x); tanh 1 - y^2; sigmoid y (1 - y) (v = y, the
    forward's output). One vectorisable loop per kind, as in `_forward_loop`."""
    if kind == RELU:
        for k in prange(v.size):
            grad_x[k] = grad_y[k] if v[k] > 0 else 0
    elif kind == LEAKY_RELU:
        for k in prange(v.size):
            grad_x[k] = grad_y[k] if v[k] > 0 else grad_y[k] * slope
    elif kind == TANH:
        for k in prange(v.size):
            grad_x[k] = grad_y[k] * (1 - v[k] * v[k])
    else:
        for k in prange(v.size):
            grad_x[k] = grad_y[k] * (v[k] * (1 - v[k]))


def _forward(kind, x, slope=0.0):
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    launch(_forward_loop, x.size, kind, x.reshape(-1), x.dtype.type(slope), y.reshape(-1))
    return y


def _backward(kind, grad_y, v, slope=0.0):
    grad_y, v = np.ascontiguousarray(grad_y), np.ascontiguousarray(v)
    grad_x = np.empty_like(v)
    launch(_backward_loop, v.size, kind, grad_y.reshape(-1), v.reshape(-1), v.dtype.type(slope), grad_x.reshape(-1))
    return grad_x


def relu_forward(x):
    """y = max(x, 0)."""
    return _forward(RELU, x)


def relu_backward(grad_y, x):
    """grad_x = grad_y * [x > 0]."""
    return _backward(RELU, grad_y, x)


def leaky_relu_forward(x, negative_slope):
    """y = x if x > 0 else negative_slope * x."""
    return _forward(LEAKY_RELU, x, negative_slope)


def leaky_relu_backward(grad_y, x, negative_slope):
    """grad_x = grad_y * (1 if x > 0 else negative_slope)."""
    return _backward(LEAKY_RELU, grad_y, x, negative_slope)


def tanh_forward(x):
    """y = tanh x."""
    return _forward(TANH_VIA_EXP if x.dtype == np.float32 else TANH, x)


def tanh_backward(grad_y, y):
    """grad_x = grad_y * (1 - y^2), from the output y."""
    return _backward(TANH, grad_y, y)


def sigmoid_forward(x):
    """y = 1 / (1 + e^-x), stable for large |x|."""
    return _forward(SIGMOID_VIA_EXP if x.dtype == np.float32 else SIGMOID, x)


def sigmoid_backward(grad_y, y):
    """grad_x = grad_y * y (1 - y), from the output y."""
    return _backward(SIGMOID, grad_y, y)
