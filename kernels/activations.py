"""Numba CPU kernels for the elementwise activations relu, leaky_relu, tanh and sigmoid.

Each forward and backward is one fused parallel pass over the flat array. Two jitted functions
serve all four activations: `_forward_loop` applies f and `_backward_loop` multiplies by f',
each with one loop per kind (chosen once, outside the loop, so that LLVM vectorises every loop).

float32 tanh and sigmoid (and bce_with_logits in `losses.py`) take e^y from `exp_neg`, an
exp written in plain float64 arithmetic that LLVM vectorises; a libm `exp` call per element
cannot be vectorised (no SVML here) and ran 10-20x below memory speed. float64 keeps libm.
Measured on 9M float32 arguments in [-110, 110]: tanh and sigmoid within 0.500 ulp of the exact
(float64) value; 26 and 19 of them not correctly rounded (ties within ~1e-10 of a half ulp).
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from minigan.kernels.parallel import launch
from minigan.reference import check_dtype, check_same

RELU, LEAKY_RELU, TANH, SIGMOID, TANH_VIA_EXP, SIGMOID_VIA_EXP = 0, 1, 2, 3, 4, 5

LN2_HI, LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10   # ln 2 = LN2_HI + LN2_LO,
LOG2_E = 1.4426950408889634                                               # k * LN2_HI exact for |k| < 2^11
EXP_NEG_MIN = -700.0                     # e^-700 ~ 1e-304: a normal float64, far below float32's 1e-45


@intrinsic
def _float64_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bit pattern is the int64 `bits` (an LLVM bitcast; vectorises)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def exp_neg(y):
    """e^y for y <= 0 (float64 in and out) in vectorisable arithmetic, no libm call:
    y = k ln2 + r with k = floor(y log2(e) + 1/2), |r| <= ln2/2 (Cody-Waite: ln2 in two parts, exact k*LN2_HI);
    e^r by its degree-9 Taylor polynomial in Horner form (truncation r^10/10! < 7e-12 relative: ample
    for float32 results, whose own rounding is 6e-8); 2^k built from its bits, exponent field k + 1023
    (-1010 <= k <= 0: always a normal float64). y < EXP_NEG_MIN = -700 is clamped (e^-700 ~ 1e-304,
    zero in float32); NaN propagates. Measured max relative error vs libm exp over [-700, 0]: 9.4e-12."""
    if y < EXP_NEG_MIN:
        y = EXP_NEG_MIN
    k = np.floor(y * LOG2_E + 0.5)
    r = (y - k * LN2_HI) - k * LN2_LO
    p = 1 / 362880.0
    p = p * r + 1 / 40320.0
    p = p * r + 1 / 5040.0
    p = p * r + 1 / 720.0
    p = p * r + 1 / 120.0
    p = p * r + 1 / 24.0
    p = p * r + 1 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = k if k == k else 0.0                           # NaN (p is NaN already): keep the int conversion defined
    return p * _float64_from_bits((np.int64(k) + 1023) << 52)     # 2^k: exponent field k + 1023, no libm


@njit(cache=True, inline="always")              # inlined with a literal `terms`: LLVM unrolls the loop
def two_atanh(s, terms):
    """2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ... + s^(2 terms - 2)/(2 terms - 1)): the odd Taylor series
    to `terms` terms, in Horner form from the last one; for |s| < 1 the truncation is below
    s^(2 terms) / (2 terms + 1) / (1 - s^2) relative. The core of `losses.log1p_small`."""
    s2 = s * s
    q = 1.0 / (2 * terms - 1)
    for n in range(terms - 2, -1, -1):
        q = q * s2 + 1.0 / (2 * n + 1)
    return 2 * s * q


@njit(cache=True)
def sigmoid(x):
    """1 / (1 + e^-x) via e = e^-|x| <= 1: 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0 (no overflow)."""
    return sigmoid_from_exp(x, np.exp(-abs(x)))


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def sigmoid_via_exp(x):
    """The float32 sigmoid: e = e^-|x| from `exp_neg` in float64, one rounding to float32 at the store.
    (A separate function rather than a flag: a runtime flag kept LLVM from inlining and vectorising.)"""
    v = np.float64(x)
    return sigmoid_from_exp(v, exp_neg(-abs(v)))


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def sigmoid_from_exp(x, e):
    """1 / (1 + e) for x >= 0, e / (1 + e) for x < 0, given e = e^-|x|."""
    return (1.0 if x >= 0 else e) / (1 + e)


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def tanh_via_exp(x):
    """tanh x = sign(x) (1 - e) / (1 + e) with e = e^(-2|x|), evaluated in float64: the float32 path.

    e comes from `exp_neg` (vectorisable; its truncation error, |2x|^10/10! relative, is far smaller
    than 1 - e near 0). The cancellation in 1 - e costs about 2^-53 / |x| relative error, far below
    float32's 2^-24 except for |x| < 2^-20, where tanh x = x (1 - x^2/3 + ...) rounds to x. Measured
    max error 0.500 ulp of float32 (libm's tanhf is off by up to 2 ulps here)."""
    v = np.float64(x)
    if abs(v) < 2.0 ** -20:
        return v
    e = exp_neg(-2 * abs(v))
    t = (1 - e) / (1 + e)
    return t if v > 0 else -t


@njit(cache=True, inline="always")
def _relu(x):
    """max(x, 0), written so that NaN passes through."""
    return 0 if x <= 0 else x


@njit(cache=True, inline="always")
def _leaky_relu(x, slope):
    return x if x > 0 else slope * x


@njit(cache=True, parallel=True, fastmath={"contract"})      # contract: a*b + c may fuse to one FMA
def _forward_loop(kind, x, slope, y):
    """y[k] = f(x[k]) over flat arrays: relu max(x, 0); leaky_relu x if x > 0 else slope*x; tanh
    (libm for float64, `tanh_via_exp` for float32); sigmoid 1/(1 + e^-x) (`sigmoid_via_exp` for float32).
    One loop per kind, chosen outside the loop: with the choice inside it, LLVM vectorised none of
    them (relu ran at 4 GB/s, a fifth of the copy bandwidth; the exp kinds about 10x slower)."""
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
            y[k] = sigmoid_via_exp(x[k])
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


def _forward(op, kind, x, slope=0.0):
    check_dtype(op, x=x)
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    launch(_forward_loop, x.size, kind, x.reshape(-1), x.dtype.type(slope), y.reshape(-1))
    return y


def _backward(op, kind, grad_y, v, slope=0.0):
    check_same(op, grad_y=grad_y, v=v)
    grad_y, v = np.ascontiguousarray(grad_y), np.ascontiguousarray(v)
    grad_x = np.empty_like(v)
    launch(_backward_loop, v.size, kind, grad_y.reshape(-1), v.reshape(-1), v.dtype.type(slope), grad_x.reshape(-1))
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
    return _forward("sigmoid_forward", SIGMOID_VIA_EXP if x.dtype == np.float32 else SIGMOID, x)


def sigmoid_backward(grad_y, y):
    """grad_x = grad_y * y (1 - y), from the output y."""
    return _backward("sigmoid_backward", SIGMOID, grad_y, y)
