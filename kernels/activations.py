"""Numba CPU kernels for the elementwise activations relu, leaky_relu, tanh and sigmoid.

Each forward and backward is one fused parallel pass over the flat array. Two jitted loops
serve all four activations: `_forward_loop` applies the scalar function `_activate(kind, ...)`
and `_backward_loop` multiplies by the scalar derivative `_derivative(kind, ...)`; `kind` is
the same for every element, so the branch inside the loop is perfectly predictable.
"""

import numpy as np
from numba import njit, prange

from minigan.reference import check_dtype, check_same

RELU, LEAKY_RELU, TANH, SIGMOID, TANH_VIA_EXP = 0, 1, 2, 3, 4


@njit(cache=True)
def sigmoid(x):
    """1 / (1 + e^-x) via e = e^-|x| <= 1: 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0 (no overflow)."""
    e = np.exp(-abs(x))
    return 1 / (1 + e) if x >= 0 else e / (1 + e)


@njit(cache=True)
def tanh_via_exp(x):
    """tanh x = sign(x) (1 - e) / (1 + e) with e = e^(-2|x|), evaluated in float64: the float32 path.

    The cancellation in 1 - e costs about 2^-53 / |x| relative error, far below float32's 2^-24 except
    for |x| < 2^-20, where tanh x = x (1 - x^2/3 + ...) rounds to x. Correctly rounded for float32
    (libm's tanhf is off by up to 2 ulps here) and about twice as fast: exp is the cheaper libm call."""
    v = float(x)
    if abs(v) < 2.0 ** -20:
        return v
    e = np.exp(-2 * abs(v))
    t = (1 - e) / (1 + e)
    return t if v > 0 else -t


@njit(cache=True)
def _activate(kind, x, slope):
    """relu: max(x, 0); leaky_relu: x if x > 0 else slope*x; tanh: tanh x (libm for float64,
    `tanh_via_exp` for float32); sigmoid: 1/(1 + e^-x)."""
    if kind == RELU:
        return 0 if x <= 0 else x              # written so that NaN passes through, as in max(x, 0)
    if kind == LEAKY_RELU:
        return x if x > 0 else slope * x
    if kind == TANH:
        return np.tanh(x)
    if kind == TANH_VIA_EXP:
        return tanh_via_exp(x)
    return sigmoid(x)


@njit(cache=True)
def _derivative(kind, v, slope):
    """dy/dx in terms of v: relu: [x > 0]; leaky_relu: 1 if x > 0 else slope (v = x);
    tanh: 1 - y^2; sigmoid: y (1 - y) (v = y, the forward's output)."""
    if kind == RELU:
        return 1 if v > 0 else 0
    if kind == LEAKY_RELU:
        return 1 if v > 0 else slope
    if kind == TANH:
        return 1 - v * v
    return v * (1 - v)


@njit(cache=True, parallel=True)
def _forward_loop(kind, x, slope, y):
    """y[k] = f(x[k]) over flat arrays."""
    for k in prange(x.size):
        y[k] = _activate(kind, x[k], slope)


@njit(cache=True, parallel=True)
def _backward_loop(kind, grad_y, v, slope, grad_x):
    """grad_x[k] = grad_y[k] * f'(v[k]) over flat arrays."""
    for k in prange(v.size):
        grad_x[k] = grad_y[k] * _derivative(kind, v[k], slope)


def _forward(op, kind, x, slope=0.0):
    check_dtype(op, x=x)
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _forward_loop(kind, x.reshape(-1), x.dtype.type(slope), y.reshape(-1))
    return y


def _backward(op, kind, grad_y, v, slope=0.0):
    check_same(op, grad_y=grad_y, v=v)
    grad_y, v = np.ascontiguousarray(grad_y), np.ascontiguousarray(v)
    grad_x = np.empty_like(v)
    _backward_loop(kind, grad_y.reshape(-1), v.reshape(-1), v.dtype.type(slope), grad_x.reshape(-1))
    return grad_x


def relu_forward(x):
    """y = max(x, 0)."""
    return _forward("relu_forward", RELU, x)


def relu_backward(grad_y, x):
    """grad_x = grad_y * [x > 0]."""
    return _backward("relu_backward", RELU, grad_y, x)


def leaky_relu_forward(x, negative_slope):
    """y = x if x > 0 else negative_slope * x."""
    return _forward("leaky_relu_forward", LEAKY_RELU, x, negative_slope)


def leaky_relu_backward(grad_y, x, negative_slope):
    """grad_x = grad_y * (1 if x > 0 else negative_slope)."""
    return _backward("leaky_relu_backward", LEAKY_RELU, grad_y, x, negative_slope)


def tanh_forward(x):
    """y = tanh x."""
    return _forward("tanh_forward", TANH_VIA_EXP if x.dtype == np.float32 else TANH, x)


def tanh_backward(grad_y, y):
    """grad_x = grad_y * (1 - y^2), from the output y."""
    return _backward("tanh_backward", TANH, grad_y, y)


def sigmoid_forward(x):
    """y = 1 / (1 + e^-x), stable for large |x|."""
    return _forward("sigmoid_forward", SIGMOID, x)


def sigmoid_backward(grad_y, y):
    """grad_x = grad_y * y (1 - y), from the output y."""
    return _backward("sigmoid_backward", SIGMOID, grad_y, y)
