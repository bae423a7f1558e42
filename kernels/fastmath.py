"""Vectorisable exp, log, tanh and sigmoid for the elementwise kernels (`activations`, `losses`).

A libm call per element (`np.exp`, `np.log`) cannot be vectorised by LLVM here (no SVML), so a loop
calling one runs far below memory speed. These functions are plain arithmetic instead, inlined in
Numba IR (`inline="always"`) so that LLVM vectorises the loop that calls them:

    e^y   = 2^k e^r,  k = round(y / ln 2),  r = y - k ln 2  (|r| <= ln2 / 2),  e^r by a Taylor polynomial
    log m = 2 atanh(s),  s = (m - 1) / (m + 1),  for m = 2^-k v in [sqrt(1/2), sqrt(2))

with ln 2 in two parts (Cody-Waite: k * LN2_HI is exact) and 2^k built from its exponent bits
(`kernels/intrinsics.py`). The float32 forms compute in float32 (16 lanes per AVX-512 vector instead of
float64's 8) with every multiply-add an explicit `fma32`, so that a result does not depend on where its
element falls in a loop (vector body or scalar remainder). float64 kernels keep libm.
The accuracy bounds quoted are those measured against float64 (tests/test_fast_log.py and
tests/test_elementwise_speedpaths.py hold them).
"""

import numpy as np
from numba import njit

from minigan.kernels.intrinsics import exponent_and_scale32, float64_from_bits, fma32, int64_from_float64_bits, pow2_32

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
FLOAT32_TINY = np.float32(2.0 ** -126)   # the smallest normal float32
TWO_POW_24 = np.float32(2.0 ** 24)       # scales a subnormal float32 to a normal one


# ----------------------------------------------------------------------------- exp

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


@njit(cache=True, inline="always")
def exp_neg(y):
    """e^y for y <= 0 (float64 in and out):
    y = k ln2 + r with k = floor(y log2(e) + 1/2), |r| <= ln2/2 (Cody-Waite: ln2 in two parts, exact k*LN2_HI);
    e^r = 1 + `expm1_taylor`(r, 9) (truncation r^10/10! < 7e-12 relative: ample
    for float32 results, whose own rounding is 6e-8); 2^k built from its bits, exponent field k + 1023
    (-1010 <= k <= 0: always a normal float64). y < EXP_NEG_MIN = -700 is clamped (e^-700 ~ 1e-304,
    zero in float32); NaN propagates. Within 9.4e-12 (relative) of libm's exp over [-700, 0]."""
    if y < EXP_NEG_MIN:
        y = EXP_NEG_MIN
    k = np.floor(y * LOG2_E + 0.5)
    r = (y - k * LN2_HI) - k * LN2_LO
    k = k if k == k else 0.0                           # NaN (r is NaN already): keep the int conversion defined
    return (1.0 + expm1_taylor(r, 9)) * float64_from_bits((np.int64(k) + 1023) << 52)   # 2^k: exponent field k + 1023


@njit(cache=True, inline="always")
def exp_neg32(y):
    """e^y for float32 y <= 0 (or NaN) in float32 arithmetic:
    y below EXP_NEG_MIN32 = -104 is raised to it (e^-104 rounds to 0; NaN passes); k = floor(y log2(e) + 1/2),
    -150 <= k <= 0; r = y - k ln2 with k LN2_HI32 and y - k LN2_HI32 exact (17 bits; a multiple of y's ulp below
    0.36) and one rounding for k LN2_LO32, |r| <= 0.347; e^r = 1 + (r + r^2 (1/2 + r/3! + ... + r^6/8!)) (Taylor,
    truncation r^8/9! < 6e-10 relative); then (e^r) 2^(k + 64) (exact) 2^-64 rounds once, into the
    subnormals too. Within 0.97 ulp of exp over [-104, 0] (0.75 ulp of the subnormal spacing below 2^-126)."""
    if y < EXP_NEG_MIN32:
        y = EXP_NEG_MIN32
    k = np.floor(fma32(y, LOG2_E32, HALF32))
    k = k if k == k else ZERO32                        # NaN y (r is NaN already): keep the int conversion defined
    r = fma32(k, -LN2_LO32, fma32(k, -LN2_HI32, y))
    p = fma32(r, np.float32(1 / 40320), np.float32(1 / 5040))
    p = fma32(p, r, np.float32(1 / 720))
    p = fma32(p, r, np.float32(1 / 120))
    p = fma32(p, r, np.float32(1 / 24))
    p = fma32(p, r, np.float32(1 / 6))
    expm1_r = fma32(r * r, fma32(r, p, HALF32), r)
    return (ONE32 + expm1_r) * pow2_32(k + np.float32(64)) * TWO_POW_M64


# ----------------------------------------------------------------------------- log

@njit(cache=True, inline="always")
def log1p_f32(f, k):
    """log(1 + f) + k ln2 in float32 arithmetic, for 1 + f = m in [sqrt(1/2), sqrt(2)) with f given
    exactly: log m = 2 atanh(s), s = f / (2 + f), |s| <= 0.1716, by its odd series to s^9, written as
    f - s (f - s^2 R), R = 2/3 + 2/5 s^2 + 2/7 s^4 + 2/9 s^6 (as 2 s = f - s f): the exact f carries the
    result, and the roundings of s enter only the term s f ~ f^2 / 2 (evaluating 2 s (1 + s^2/3 + ...)
    directly loses that: 2.5 ulp). Truncation < s^10/11 / (1 - s^2) < 2.1e-9 relative; k ln2 in two parts
    (k LN2_HI32 exact). Within 0.87 ulp of log."""
    s = f / (TWO32 + f)
    s2 = s * s
    r = fma32(s2, np.float32(2 / 9), np.float32(2 / 7))
    r = fma32(r, s2, np.float32(2 / 5))
    r = fma32(r, s2, np.float32(2 / 3))
    log_m = fma32(-s, fma32(-s2, r, f), f)
    return fma32(k, LN2_HI32, fma32(k, LN2_LO32, log_m))


@njit(cache=True, inline="always")
def log32(p):
    """log p for float32 p in [2^-149, 2^126) (subnormals included) by `log1p_f32`: a subnormal p is scaled by
    2^24 first (k - 24), then m = 2^-k p and f = m - 1, both exact."""
    subnormal = p < FLOAT32_TINY
    p_normal = p * TWO_POW_24 if subnormal else p
    k, scale = exponent_and_scale32(p_normal)
    return log1p_f32(scale * p_normal - ONE32, k - np.float32(24) if subnormal else k)


@njit(cache=True, inline="always")
def log1m32(p):
    """log(1 - p) for float32 p < 1 by `log1p_f32`, as accurate as log1p(-p) for tiny p: k from q = 1 - p
    (rounded), and the exact f = 2^-k (1 - p) - 1 = (2^-k - 1) - 2^-k p (2^-k p exact, the difference exact:
    for k = 0 it is -p, for k = -1 1 - 2p, for k <= -2 q is exact). p >= 1 gives garbage."""
    k, scale = exponent_and_scale32(ONE32 - p)
    return log1p_f32(fma32(-scale, p, scale - ONE32), k)


# ----------------------------------------------------------------------------- tanh and sigmoid

@njit(cache=True, inline="always")
def tanh_via_exp(x):
    """tanh x = sign(x) (1 - e) / (1 + e) with e = e^(-2|x|) = s (1 + u), evaluated in float64, for float32 x.

    y = -2|x| is clamped at TANH_Y_MIN = -20 (tanh = 1 in float32 beyond |x| = 9.02; NaN passes); k = round(y / ln2)
    by adding ROUND_MAGIC = 1.5 * 2^52, which leaves k in the low bits of the sum, so s = 2^k is built from those
    bits (no floor, no conversion); r = y - k ln2 (Cody-Waite, |r| <= 0.347); u = e^r - 1 = `expm1_taylor`(r, 8)
    (truncation r^8/9! < 6e-10 relative to u); 1 - e = (1 - s) - s u and 1 + e = (1 + s) + s u,
    so that near x = 0, where 1 - e cancels, the accuracy is u's (an expm1: tiny x give tanh x = x). Sign by
    copysign (tanh(-0) = -0). Within 0.508 ulp of float32 (libm's tanhf is off by up to 2 ulps here).
    float64 rather than float32 arithmetic: in float32 the roundings of e, 1 - e, 1 + e and the quotient
    reach 1.9 ulp. A term fewer than `exp_neg` and no floor or int conversion: the exp is the cost."""
    y = -2.0 * abs(np.float64(x))
    if y < TANH_Y_MIN:
        y = TANH_Y_MIN
    rounded = y * LOG2_E + ROUND_MAGIC
    k = rounded - ROUND_MAGIC
    r = (y - k * LN2_HI) - k * LN2_LO
    u = expm1_taylor(r, 8)
    s = float64_from_bits((int64_from_float64_bits(rounded) + 1023) << 52)   # exponent field k + 1023
    return np.copysign(np.float32(((1.0 - s) - s * u) / ((1.0 + s) + s * u)), x)


@njit(cache=True, inline="always")
def sigmoid_from_exp(x, e):
    """1 / (1 + e) for x >= 0, e / (1 + e) for x < 0, given e = e^-|x|, in e's precision (ONE32 widens
    exactly to a float64 e)."""
    return (ONE32 if x >= 0 else e) / (ONE32 + e)


@njit(cache=True)
def sigmoid(x):
    """1 / (1 + e^-x) via e = e^-|x| <= 1 from libm: 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0 (no overflow)."""
    return sigmoid_from_exp(x, np.exp(-abs(x)))


@njit(cache=True, inline="always")
def sigmoid_via_exp(x):
    """The sigmoid of a float32 in float64: e = e^-|x| from `exp_neg`, one rounding to float32 at the store
    (for bce_with_logits' gradient sigmoid(z) - t, which cancels)."""
    v = np.float64(x)
    return sigmoid_from_exp(v, exp_neg(-abs(v)))


@njit(cache=True, inline="always")
def sigmoid32(x):
    """The float32 sigmoid in float32 arithmetic, e = e^-|x| from `exp_neg32`. Within 2.31 ulp of the exact
    sigmoid (the roundings of e, 1 + e and the quotient)."""
    return sigmoid_from_exp(x, exp_neg32(-abs(x)))
