"""Numba CPU kernels for the elementwise activations relu, leaky_relu, tanh and sigmoid.

Each forward and backward is one fused parallel pass over the flat array. Two jitted functions
serve all four activations: `_forward_loop` applies f and `_backward_loop` multiplies by f',
each with one loop per kind (chosen once, outside the loop, so that LLVM vectorises every loop).

float32 tanh and sigmoid take e^y from exps of their own, plain arithmetic that LLVM vectorises: a libm
`exp` call per element cannot be vectorised (no SVML here) and ran 10-20x below memory speed; float64
keeps libm.
* tanh: `tanh_via_exp`, in float64 (an expm1 of its own). Measured on 9M float32 arguments in [-110, 110]
  (tiny and subnormal ones included): within 0.508 ulp of the exact (float64) value. tests/test_kernels.py
  holds it to 1 ulp; in float32 arithmetic it was 1.9 ulp off (the roundings of e, 1 - e, 1 + e and the
  quotient), and float32 lanes with the last steps in float64 ran slower than all-float64 (7.5 vs 8.5 GB/s).
* sigmoid: `exp_neg32`, in float32 (16 lanes of AVX-512 instead of float64's 8: twice as fast, 19 vs 9 GB/s
  on (64, 64, 32, 32)), within 2.31 ulp of the exact value on the same arguments (0.500 in float64); the
  same with bce_with_logits (`losses.py`).
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from minigan.kernels.parallel import launch
from minigan.reference import check_dtype, check_same

RELU, LEAKY_RELU, TANH, SIGMOID, TANH_VIA_EXP, SIGMOID_VIA_EXP = 0, 1, 2, 3, 4, 5

LN2_HI, LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10   # ln 2 = LN2_HI + LN2_LO,
LOG2_E = 1.4426950408889634                                               # k * LN2_HI exact for |k| < 2^11
EXP_NEG_MIN = -700.0                     # e^-700 ~ 1e-304: a normal float64, far below float32's 1e-45
TANH_Y_MIN = -20.0                       # `tanh_via_exp` clamps -2|x| here: e^-20 vanishes beside 1 in float32
ROUND_MAGIC = 1.5 * 2.0 ** 52            # v + ROUND_MAGIC rounds v to an integer, held in the low mantissa bits

# float32 constants: a Python 1.0 (or an int literal) would make Numba's arithmetic float64.
ZERO32, HALF32, ONE32, TWO32 = np.float32(0), np.float32(0.5), np.float32(1), np.float32(2)
LN2_HI32, LN2_LO32 = np.float32(0.693359375), np.float32(-2.12194440e-4)   # ln 2 = LN2_HI32 + LN2_LO32 (to 1e-11);
                                                                          # k * LN2_HI32 exact (9 bits) for |k| < 2^15
LOG2_E32 = np.float32(1.442695)
EXP_NEG_MIN32 = np.float32(-104)         # e^-104 = 6.8e-46 < 2^-150, half the smallest float32: rounds to 0
TWO_POW_M64 = np.float32(2.0 ** -64)     # `exp_neg32` scales by 2^(k + 64), then by this: one rounding


@intrinsic
def _float64_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bit pattern is the int64 `bits` (an LLVM bitcast; vectorises)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _fma32(typingctx, a, b, c):
    """a b + c (float32) rounded once: llvm.fma, one vfmadd here in scalar and vector code alike (fastmath's
    `contract` leaves the fusing to LLVM, which fused differently in a loop's vector body and its remainder)."""
    def codegen(context, builder, signature, args):
        float32 = ir.FloatType()
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(float32, [float32] * 3), "llvm.fma.f32")
        return builder.call(fma, args)
    return types.float32(types.float32, types.float32, types.float32), codegen


@intrinsic
def _pow2_32(typingctx, k):
    """2^k as a float32 for an integral float32 k in [-126, 127]: exponent field k + 127, built in LLVM's int32
    (16 lanes per vector; Numba's own int32 arithmetic widens to int64)."""
    def codegen(context, builder, signature, args):
        int32 = ir.IntType(32)
        field = builder.add(builder.fptosi(args[0], int32), ir.Constant(int32, 127))
        return builder.bitcast(builder.shl(field, ir.Constant(int32, 23)), ir.FloatType())
    return types.float32(types.float32), codegen


@intrinsic
def _int64_from_float64_bits(typingctx, x):
    """The int64 whose bits are the IEEE-754 pattern of the float64 `x` (the inverse bitcast; vectorises)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def exp_neg(y):
    """e^y for y <= 0 (float64 in and out) in vectorisable arithmetic, no libm call:
    y = k ln2 + r with k = floor(y log2(e) + 1/2), |r| <= ln2/2 (Cody-Waite: ln2 in two parts, exact k*LN2_HI);
    e^r = 1 + `expm1_taylor`(r, 9) (truncation r^10/10! < 7e-12 relative: ample
    for float32 results, whose own rounding is 6e-8); 2^k built from its bits, exponent field k + 1023
    (-1010 <= k <= 0: always a normal float64). y < EXP_NEG_MIN = -700 is clamped (e^-700 ~ 1e-304,
    zero in float32); NaN propagates. Measured max relative error vs libm exp over [-700, 0]: 9.4e-12."""
    if y < EXP_NEG_MIN:
        y = EXP_NEG_MIN
    k = np.floor(y * LOG2_E + 0.5)
    r = (y - k * LN2_HI) - k * LN2_LO
    k = k if k == k else 0.0                           # NaN (r is NaN already): keep the int conversion defined
    return (1.0 + expm1_taylor(r, 9)) * _float64_from_bits((np.int64(k) + 1023) << 52)   # 2^k: exponent field k + 1023


@njit(cache=True, inline="always")              # inlined with a literal `degree`: LLVM unrolls the loops, folds the constants
def expm1_taylor(r, degree):
    """e^r - 1 = r + r^2 (1/2! + r/3! + ... + r^(degree-2)/degree!): the Taylor polynomial of degree `degree`, the
    bracket in Horner form (float64); truncation about r^(degree+1)/(degree+1)! (relative to e^r)."""
    factorial = 1.0
    for n in range(2, degree + 1):
        factorial *= n
    coefficient = 1.0 / factorial                      # 1/degree!
    p = coefficient
    for n in range(degree, 2, -1):
        coefficient *= n                               # 1/(n-1)!
        p = p * r + coefficient
    return r * r * p + r


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def exp_neg32(y):
    """e^y for float32 y <= 0 (or NaN) in float32 arithmetic (16 lanes of AVX-512; float64 runs at 8), no libm:
    y below EXP_NEG_MIN32 = -104 is raised to it (e^-104 rounds to 0; NaN passes); k = floor(y log2(e) + 1/2),
    -150 <= k <= 0; r = y - k ln2 with k LN2_HI32 and y - k LN2_HI32 exact (17 bits; a multiple of y's ulp below
    0.36) and one rounding for k LN2_LO32, |r| <= 0.347; e^r = 1 + (r + r^2 (1/2 + r/3! + ... + r^6/8!)) (Taylor,
    truncation r^8/9! < 6e-10 relative); then (e^r) 2^(k + 64) (exact) 2^-64 rounds once, into the
    subnormals too. Every multiply-add is an explicit `_fma32`, so a result does not depend on where the
    element falls in a loop (vector body or remainder). Measured within 0.97 ulp of exp over [-104, 0]
    (0.75 ulp of the subnormal spacing below 2^-126)."""
    if y < EXP_NEG_MIN32:
        y = EXP_NEG_MIN32
    k = np.floor(_fma32(y, LOG2_E32, HALF32))
    k = k if k == k else ZERO32                        # NaN y (r is NaN already): keep the int conversion defined
    r = _fma32(k, -LN2_LO32, _fma32(k, -LN2_HI32, y))
    p = _fma32(r, np.float32(1 / 40320), np.float32(1 / 5040))
    p = _fma32(p, r, np.float32(1 / 720))
    p = _fma32(p, r, np.float32(1 / 120))
    p = _fma32(p, r, np.float32(1 / 24))
    p = _fma32(p, r, np.float32(1 / 6))
    expm1_r = _fma32(r * r, _fma32(r, p, HALF32), r)
    return (ONE32 + expm1_r) * _pow2_32(k + np.float32(64)) * TWO_POW_M64


@njit(cache=True)
def sigmoid(x):
    """1 / (1 + e^-x) via e = e^-|x| <= 1: 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0 (no overflow)."""
    return sigmoid_from_exp(x, np.exp(-abs(x)))


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def sigmoid_via_exp(x):
    """The sigmoid of a float32 in float64: e = e^-|x| from `exp_neg`, one rounding to float32 at the store
    (bce_with_logits' gradient sigmoid(z) - t, which cancels)."""
    v = np.float64(x)
    return sigmoid_from_exp(v, exp_neg(-abs(v)))


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def sigmoid32(x):
    """The float32 sigmoid in float32 arithmetic (16 lanes; the float64 `sigmoid_via_exp` ran at 8), e = e^-|x| from
    `exp_neg32`. Measured within 2.31 ulp of the exact sigmoid (the roundings of e, 1 + e and the quotient)."""
    return sigmoid_from_exp(x, exp_neg32(-abs(x)))


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def sigmoid_from_exp(x, e):
    """1 / (1 + e) for x >= 0, e / (1 + e) for x < 0, given e = e^-|x|, in e's precision (ONE32 widens
    exactly to a float64 e)."""
    return (ONE32 if x >= 0 else e) / (ONE32 + e)


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def tanh_via_exp(x):
    """tanh x = sign(x) (1 - e) / (1 + e) with e = e^(-2|x|) = s (1 + u), evaluated in float64: the float32 path.

    y = -2|x| is clamped at TANH_Y_MIN = -20 (tanh = 1 in float32 beyond |x| = 9.02; NaN passes); k = round(y / ln2)
    by adding ROUND_MAGIC = 1.5 * 2^52, which leaves k in the low bits of the sum, so s = 2^k is built from those
    bits (no floor, no conversion); r = y - k ln2 (Cody-Waite, |r| <= 0.347); u = e^r - 1 = `expm1_taylor`(r, 8)
    (truncation r^8/9! < 6e-10 relative to u); 1 - e = (1 - s) - s u and 1 + e = (1 + s) + s u,
    so that near x = 0, where 1 - e cancels, the accuracy is u's (an expm1: tiny x give tanh x = x). Sign by
    copysign (tanh(-0) = -0). Measured within 0.508 ulp of float32 (libm's tanhf is off by up to 2 ulps here).
    The exp is the cost (float64 arithmetic, 8 lanes; tests/test_kernels.py holds tanh to 1 ulp, which float32
    arithmetic missed: 1.9 ulp): this form, with a term fewer than `exp_neg` and no floor / int conversion,
    is ~11 % faster than 1 - e from `exp_neg` (on (64, 64, 32, 32): 1.92 vs 2.15 ms, 17.5 vs 15.6 GB/s)."""
    y = -2.0 * abs(np.float64(x))
    if y < TANH_Y_MIN:
        y = TANH_Y_MIN
    rounded = y * LOG2_E + ROUND_MAGIC
    k = rounded - ROUND_MAGIC
    r = (y - k * LN2_HI) - k * LN2_LO
    u = expm1_taylor(r, 8)
    s = _float64_from_bits((_int64_from_float64_bits(rounded) + 1023) << 52)   # exponent field k + 1023
    return np.copysign(np.float32(((1.0 - s) - s * u) / ((1.0 + s) + s * u)), x)


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
