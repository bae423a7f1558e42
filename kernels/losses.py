"""Numba CPU kernels for the losses bce, bce_with_logits, mse and kl_normal.

Every loss is elementwise in two same-shaped inputs `(a, b)` (p/target, logits/target,
x/target, mu/logvar), so three jitted loops serve all of them, each one fused pass:
`_loss_map` (reduction 'none'), `_loss_total` (float64 sum for 'sum'/'mean', no temporary; compiled with
`fastmath={"reassoc"}` so the sum may be reordered and vectorised)
and `_loss_grad_map` (gradient w.r.t. `a`, or w.r.t. logvar for kl_normal). All three allow
`fastmath={"contract"}` (a*b + c may become one FMA, rounded once; NaN and inf handling unchanged).

The float32 kinds compute in float32 (16 lanes of AVX-512 instead of float64's 8; about twice as fast),
without libm (a libm call per element does not vectorise: 10-15x slower), with explicit FMAs and in loops
of their own without fastmath, so that a loss does not depend on where its element falls in a loop:
* bce (BCE_VIA_LOG): `bce_float32` with its own log (`log1p_f32`); gradient `bce_grad32` (in `_loss_grad_map`,
  whose `contract` finds no multiply-add in it);
* bce_with_logits (BCE_WITH_LOGITS_VIA_EXP): `bce_with_logits32`, e^-|z| from `activations.exp_neg32` and
  log(1 + e) from `log1p_f32`; its gradient sigmoid(z) - t stays in float64 (`activations.sigmoid_via_exp`,
  within 3.3 ulp where it cancels to ~1e-9 and less).
Their forwards run in `_loss_map32` ('none') and `_loss_total32` ('sum'/'mean': float32 sums over blocks
of BCE_BLOCK elements, added into a float64 total). float64 keeps libm exp/log/log1p.
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from minigan.kernels.activations import (HALF32, LN2_HI32, LN2_LO32, ONE32, TWO32, ZERO32, _fma32, exp_neg32, sigmoid,
                                         sigmoid_via_exp)
from minigan.kernels.parallel import launch
from minigan.reference import check_reduction, check_same

BCE, BCE_WITH_LOGITS, MSE, KL_NORMAL, KL_NORMAL_LOGVAR, BCE_WITH_LOGITS_VIA_EXP, BCE_VIA_LOG = 0, 1, 2, 3, 4, 5, 6
FLOAT32_LOSSES = (BCE_VIA_LOG, BCE_WITH_LOGITS_VIA_EXP)   # forwards in `_loss_map32` / `_loss_total32`

SQRT_HALF_BITS32 = 0x3F3504F3           # bits of float32 sqrt(1/2) (0.70710677), the low end of log1p_f32's m
LOG_CLAMP32 = np.float32(-100)                   # PyTorch's clamp of log p and log(1 - p)
P_FLOOR32 = np.float32(2.0 ** -149)              # the smallest float32 (subnormal): log = -103.3, clamped to -100
FLOAT32_TINY = np.float32(2.0 ** -126)           # the smallest normal float32
TWO_POW_24 = np.float32(2.0 ** 24)               # scales a subnormal float32 p to a normal one
BCE_BLOCK = 256                                  # elements per float32 partial sum in `_loss_total32`
BCE_GRAD_FLOOR32 = np.float32(1e-12)             # the floor of p (1 - p) in bce's gradient


@intrinsic
def _exponent_and_scale32(typingctx, v):
    """(k, 2^-k) as two float32s for a float32 v = m 2^k with sqrt(1/2) <= m < sqrt(2), from its bits: less the
    bits of sqrt(1/2), the exponent field holds k (read by an arithmetic shift, sign included), and 2^-k
    has exponent field 127 - k. For normal v in (0, 2^126) (2^-k normal); other v give garbage. In LLVM's
    int32, 16 lanes per vector (Numba's own int32 arithmetic widens to int64)."""
    def codegen(context, builder, signature, args):
        int32, float32 = ir.IntType(32), ir.FloatType()
        bits = builder.sub(builder.bitcast(args[0], int32), ir.Constant(int32, SQRT_HALF_BITS32))
        k = builder.ashr(bits, ir.Constant(int32, 23))
        scale_bits = builder.shl(builder.sub(ir.Constant(int32, 127), k), ir.Constant(int32, 23))
        return context.make_tuple(builder, signature.return_type,
                                  [builder.sitofp(k, float32), builder.bitcast(scale_bits, float32)])
    return types.UniTuple(types.float32, 2)(types.float32), codegen


@intrinsic
def _add_reassoc32(typingctx, a, b):
    """a + b (float32) flagged `reassoc`, so that LLVM may reorder a sum of them into vector lanes, while the
    rest of the function keeps its order of operations (fastmath={"reassoc"} would free every operation)."""
    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1], flags=("reassoc",))
    return types.float32(types.float32, types.float32), codegen


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def log1p_f32(f, k):
    """log(1 + f) + k ln2 in float32 arithmetic, no libm call, for 1 + f = m in [sqrt(1/2), sqrt(2)) with f given
    exactly: log m = 2 atanh(s), s = f / (2 + f), |s| <= 0.1716, by its odd series to s^9, written as
    f - s (f - s^2 R), R = 2/3 + 2/5 s^2 + 2/7 s^4 + 2/9 s^6 (as 2 s = f - s f): the exact f carries the
    result, and the roundings of s enter only the term s f ~ f^2 / 2 (2 s (1 + s^2/3 + ...) directly was
    2.5 ulp off). Truncation < s^10/11 / (1 - s^2) < 2.1e-9 relative; k ln2 in two parts (k LN2_HI32 exact).
    Measured within 0.87 ulp (tests/test_fast_log.py)."""
    s = f / (TWO32 + f)
    s2 = s * s
    r = _fma32(s2, np.float32(2 / 9), np.float32(2 / 7))
    r = _fma32(r, s2, np.float32(2 / 5))
    r = _fma32(r, s2, np.float32(2 / 3))
    log_m = _fma32(-s, _fma32(-s2, r, f), f)
    return _fma32(k, LN2_HI32, _fma32(k, LN2_LO32, log_m))


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def bce_float32(p, t):
    """-(t max(log p, -100) + (1-t) max(log(1-p), -100)) for float32 p, t, in float32 (16 lanes per AVX-512
    vector; the float64 version ran at 8 lanes and about half the speed), both logs by `log1p_f32`:
    log p: p raised to P_FLOOR32 (0, -0.0 and NaN: log -103.3, clamped), subnormal p scaled by 2^24 (k - 24),
    then m = 2^-k p and f = m - 1, both exact. log(1 - p): k from q = 1 - p (rounded), and the exact
    f = 2^-k (1 - p) - 1 = (2^-k - 1) - 2^-k p (2^-k p exact, the difference exact: for k = 0 it is -p,
    for k = -1 1 - 2p, for k <= -2 q is exact), so log(1 - p) is as accurate as log1p(-p) for tiny p;
    q = 0 (p = 1) gives -100. p outside [0, 1] (NaN, +-inf included) gives NaN, as log of a negative or
    NaN does in the reference. Within 0.93 ulp of the exact loss for targets 0 and 1, 2.57 ulp for fractional
    targets (the roundings of 1 - t, the products and the sum; tests/test_fast_log.py). The reference, in
    float64, rounds 1 - p to a multiple of 2^-53 first: for p < ~2^-29 and t < 1 it is off by up to 2^-54."""
    p_pos = p if p > P_FLOOR32 else P_FLOOR32
    subnormal = p_pos < FLOAT32_TINY
    p_normal = p_pos * TWO_POW_24 if subnormal else p_pos
    k, scale = _exponent_and_scale32(p_normal)
    log_p = log1p_f32(scale * p_normal - ONE32, k - np.float32(24) if subnormal else k)
    q = ONE32 - p
    k, scale = _exponent_and_scale32(q)
    log_q = log1p_f32(_fma32(-scale, p, scale - ONE32), k) if q > 0 else LOG_CLAMP32
    loss = -_fma32(t, max(log_p, LOG_CLAMP32), (ONE32 - t) * max(log_q, LOG_CLAMP32))
    return loss if (p >= 0 and p <= 1) else np.float32(np.nan)


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def bce_with_logits32(z, t):
    """max(z, 0) - z t + log(1 + e) with e = e^-|z| for float32 z, t, in float32 (16 lanes; the float64 version
    before it ran at 8): e from `activations.exp_neg32` (subnormal e^-|z| included: with t = 0, z < 0 the
    loss is e alone), log(1 + e) by `log1p_f32` with an exact f: f = e for e < 1/2 (1 + f up to 1.5, truncation
    < 1e-8 relative there), f = (e - 1)/2 (one exact FMA) and k = 1 for e >= 1/2; max(z, 0) - z t as one FMA
    (z (1 - t) or -z t). NaN and +-inf as the reference (inf - inf = NaN). Measured on 4M (z, t) (|z| to 110,
    t in [0, 1], 0 and 1): within 1.92 ulp of the exact loss (the roundings of e, the log, the FMA and the
    sum; 0.501 in float64). 'mean' on (64, 12288), side by side with the float64 version, min of 30 calls:
    20.9 GB/s (8 bytes per element) vs 11.7 on a quiet machine, 13.1 vs 6.7 under load."""
    e = exp_neg32(-abs(z))
    upper = e >= HALF32
    log1p_e = log1p_f32(_fma32(e, HALF32, -HALF32) if upper else e, ONE32 if upper else ZERO32)
    return _fma32(-z, t, z if z > 0 else ZERO32) + log1p_e


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def bce_grad32(p, t):
    """(p - t) / max(p (1 - p), 1e-12) for float32 p, t in float32 (16 lanes), in a loop of its own with the kind a
    constant (before, float64 arithmetic in the loop shared with a runtime kind, libm calls in other kinds'
    branches): p (1 - p) = p - p^2 is one FMA, rounded once. The floor is a select, q > floor: an infinite p
    makes p - p^2 NaN where the reference's p (1 - p) is -inf, and both take the floor (a NaN p or t gives
    NaN through p - t either way). Measured on 3M (p, t) (p within 1e-13 of 0 and 1e-8 of 1): within 2.31 ulp
    of the exact gradient, 2.84 ulp times g, 3.13 times 'mean''s g / size (the roundings of p - t, the FMA,
    the quotient and the products). 'mean' on (64, 12288): 60 GB/s (12 bytes per element, in cache) vs
    12.1 before, side by side, min of 30 calls."""
    q = _fma32(-p, p, p)
    return (p - t) / (q if q > BCE_GRAD_FLOOR32 else BCE_GRAD_FLOOR32)


@njit(cache=True, inline="always")
def _loss32(kind, a, b):
    """A float32 loss in float32 arithmetic: `bce_float32` (BCE_VIA_LOG) or `bce_with_logits32`."""
    if kind == BCE_VIA_LOG:
        return bce_float32(a, b)
    return bce_with_logits32(a, b)


@njit(cache=True, inline="always")
def _loss(kind, a, b):
    """Elementwise loss l(a, b):
    bce: -(t max(log p, -100) + (1-t) max(log(1-p), -100));  bce_with_logits: max(z, 0) - z t + log(1 + e^-|z|);
    mse: (x - t)^2;  kl_normal: -1/2 (1 + lv - mu^2 - e^lv)."""
    if kind == BCE:
        return -(b * max(np.log(a), -100.0) + (1 - b) * max(np.log(1 - a), -100.0))
    if kind == BCE_WITH_LOGITS:
        return max(a, 0) - a * b + np.log1p(np.exp(-abs(a)))
    if kind == MSE:
        return (a - b) * (a - b)
    return -0.5 * (1 + b - a * a - np.exp(b))


@njit(cache=True, inline="always")
def _loss_grad(kind, a, b):
    """dl/da (dl/d logvar for KL_NORMAL_LOGVAR):
    bce: (p - t) / max(p (1-p), 1e-12);  bce_with_logits: sigmoid(z) - t;  mse: 2 (x - t);
    kl_normal: mu;  kl_normal w.r.t. logvar: 1/2 (e^lv - 1)."""
    if kind == BCE:
        return (a - b) / max(a * (1 - a), 1e-12)
    if kind == BCE_VIA_LOG:
        return bce_grad32(a, b)
    if kind == BCE_WITH_LOGITS:
        return sigmoid(a) - b
    if kind == BCE_WITH_LOGITS_VIA_EXP:
        return sigmoid_via_exp(a) - b
    if kind == MSE:
        return 2 * (a - b)
    if kind == KL_NORMAL:
        return a
    return 0.5 * (np.exp(b) - 1)


@njit(cache=True, parallel=True, fastmath={"contract"})
def _loss_map(kind, a, b, out):
    """out[k] = l(a[k], b[k])."""
    for k in prange(a.size):
        out[k] = _loss(kind, a[k], b[k])


@njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def _loss_total(kind, a, b):
    """sum_k l(a[k], b[k]), accumulated in float64."""
    total = 0.0
    for k in prange(a.size):
        total += _loss(kind, a[k], b[k])
    return total


@njit(cache=True, inline="always")
def _map32_loop(kind, a, b, out):
    """The body of `_loss_map32`."""
    for k in prange(a.size):
        out[k] = _loss32(kind, a[k], b[k])


@njit(cache=True, parallel=True)
def _loss_map32(kind, a, b, out):
    """out[k] = `_loss32`(kind, a[k], b[k]), one loop per kind with the kind a constant (a runtime kind test
    in the loop keeps LLVM from vectorising it). No fastmath: with `contract`, LLVM fused different
    multiply-adds in the vector loop and in its scalar remainder, so a loss could differ by an ulp with its
    position (and between the serial and the parallel path); the float32 losses fuse them themselves
    (`_fma32`). bce, 16M elements, min of 8 x 5 calls: 18.4 GB/s (12 bytes per element: p, t read, the
    loss written) on 2 threads, 9.9 on 1; the float64 bce before it 12.4 and 6.4."""
    if kind == BCE_VIA_LOG:
        _map32_loop(BCE_VIA_LOG, a, b, out)
    else:
        _map32_loop(BCE_WITH_LOGITS_VIA_EXP, a, b, out)


@njit(cache=True, inline="always")
def _total32_loop(kind, a, b):
    """The body of `_loss_total32`."""
    blocks = a.size // BCE_BLOCK
    total = 0.0
    for block in prange(blocks):
        a_block = a[block * BCE_BLOCK:(block + 1) * BCE_BLOCK]
        b_block = b[block * BCE_BLOCK:(block + 1) * BCE_BLOCK]
        block_sum = np.float32(0)
        for j in range(BCE_BLOCK):
            block_sum = _add_reassoc32(block_sum, _loss32(kind, a_block[j], b_block[j]))
        total += np.float64(block_sum)
    for k in range(blocks * BCE_BLOCK, a.size):
        total += np.float64(_loss32(kind, a[k], b[k]))
    return total


@njit(cache=True, parallel=True)       # no fastmath, as `_loss_map32`: the same loss wherever an element is
def _loss_total32(kind, a, b):
    """sum_k `_loss32`(kind, a[k], b[k]), one loop per kind as in `_loss_map32`: a float32 sum per block of
    BCE_BLOCK elements, each added into the float64 total (the tail after the last whole block added one by
    one). The block sum's additions are `_add_reassoc32`, which LLVM keeps in two 16-lane vector
    accumulators: each lane adds 8 losses per block, then the 32 lanes are summed pairwise, so a block's
    relative error is below 13 float32 roundings (8e-7; the losses are all >= 0), measured 1e-9 to 4e-8
    against the float64 reference. A float64 accumulator (as `_loss_total` has) held the loop to 8 lanes.
    bce, 16M elements, min of 8 x 5 calls: 23.9 GB/s (8 bytes per element: p, t read) on 2 threads, 12.1
    on 1; the float64 bce with a float64 sum before it 11.8 and 6.4. Slices of a and b give indices from 0,
    known not to be negative: indexing a[start + j] compiled to gathers (5 GB/s)."""
    if kind == BCE_VIA_LOG:
        return _total32_loop(BCE_VIA_LOG, a, b)
    return _total32_loop(BCE_WITH_LOGITS_VIA_EXP, a, b)


@njit(cache=True, inline="always")
def _grad_loops(kind, grad_out, g_step, scale, a, b, out):
    """The body of `_loss_grad_map`."""
    if g_step == 0:                      # 'sum'/'mean': one scalar grad_out, hoisted (reading grad_out[k * g_step]
        g = grad_out[0] * scale          # in the loop made float32 bce_with_logits ~1.6x slower)
        for k in prange(a.size):
            out[k] = g * _loss_grad(kind, a[k], b[k])
    else:
        for k in prange(a.size):
            out[k] = grad_out[k] * scale * _loss_grad(kind, a[k], b[k])


@njit(cache=True, parallel=True, fastmath={"contract"})
def _loss_grad_map(kind, grad_out, g_step, scale, a, b, out):
    """out[k] = grad_out[k * g_step] * scale * dl/da(a[k], b[k]); g_step = 0 broadcasts a 0-d grad_out.
    The float32 kinds are passed on as constants: with a runtime kind (and libm calls in the other kinds'
    branches) LLVM did not vectorise their loops (bce_with_logits 8x slower; float32 bce 7.4 GB/s, in float64)."""
    if kind == BCE_WITH_LOGITS_VIA_EXP:
        _grad_loops(BCE_WITH_LOGITS_VIA_EXP, grad_out, g_step, scale, a, b, out)
    elif kind == BCE_VIA_LOG:
        _grad_loops(BCE_VIA_LOG, grad_out, g_step, scale, a, b, out)
    else:
        _grad_loops(kind, grad_out, g_step, scale, a, b, out)


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


def _forward(op, kind, reduction, **inputs):
    """The loss of every element, or their sum / mean as a 0-d array of the inputs' dtype."""
    check_same(op, **inputs)
    check_reduction(op, reduction)
    a, b = inputs.values()
    if reduction == "none":
        out = np.empty(a.shape, dtype=a.dtype)
        if kind in FLOAT32_LOSSES:
            launch(_loss_map32, a.size, kind, _flat(a), _flat(b), out.reshape(-1))
        else:
            launch(_loss_map, a.size, kind, _flat(a), _flat(b), out.reshape(-1))
        return out
    if kind in FLOAT32_LOSSES:
        total = launch(_loss_total32, a.size, kind, _flat(a), _flat(b))
    else:
        total = launch(_loss_total, a.size, kind, _flat(a), _flat(b))
    return np.asarray(total / a.size if reduction == "mean" else total, dtype=a.dtype)


def _backward(op, kind, grad_out, reduction, **inputs):
    """g * dl/da, with g = grad_out broadcast (and divided by the element count for 'mean')."""
    check_same(op, **inputs)
    check_reduction(op, reduction)
    a, b = inputs.values()
    grad_out = np.asarray(grad_out)                     # a NumPy scalar is a 0-d grad_out too
    expected = a.shape if reduction == "none" else ()
    if grad_out.shape != expected or grad_out.dtype != a.dtype:
        raise ValueError(f"{op}: grad_out {grad_out.shape} {grad_out.dtype} should be {expected} {a.dtype} "
                         f"for reduction={reduction!r}")
    g_step = 1 if reduction == "none" else 0
    scale = 1 / a.size if reduction == "mean" else 1.0
    out = np.empty(a.shape, dtype=a.dtype)
    launch(_loss_grad_map, a.size, kind, _flat(grad_out), g_step, a.dtype.type(scale), _flat(a), _flat(b), out.reshape(-1))
    return out


def bce_forward(p, target, reduction):
    """l = -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)), reduced."""
    return _forward("bce_forward", BCE_VIA_LOG if p.dtype == np.float32 else BCE, reduction, p=p, target=target)


def bce_backward(grad_out, p, target, reduction):
    """grad_p = g (p - t) / max(p (1 - p), 1e-12)."""
    return _backward("bce_backward", BCE_VIA_LOG if p.dtype == np.float32 else BCE, grad_out, reduction,
                     p=p, target=target)


def _bce_with_logits_kind(logits):
    """float32 takes the vectorisable float32 path (`bce_with_logits32`, gradient `sigmoid_via_exp`); float64 keeps
    libm (exact to ~1e-16)."""
    return BCE_WITH_LOGITS_VIA_EXP if logits.dtype == np.float32 else BCE_WITH_LOGITS


def bce_with_logits_forward(logits, target, reduction):
    """l = max(z, 0) - z t + log(1 + e^-|z|), reduced."""
    return _forward("bce_with_logits_forward", _bce_with_logits_kind(logits), reduction,
                    logits=logits, target=target)


def bce_with_logits_backward(grad_out, logits, target, reduction):
    """grad_z = g (sigmoid(z) - t)."""
    return _backward("bce_with_logits_backward", _bce_with_logits_kind(logits), grad_out, reduction,
                     logits=logits, target=target)


def mse_forward(x, target, reduction):
    """l = (x - t)^2, reduced."""
    return _forward("mse_forward", MSE, reduction, x=x, target=target)


def mse_backward(grad_out, x, target, reduction):
    """grad_x = g 2 (x - t)."""
    return _backward("mse_backward", MSE, grad_out, reduction, x=x, target=target)


def kl_normal_forward(mu, logvar, reduction):
    """l = -1/2 (1 + lv - mu^2 - e^lv), reduced."""
    return _forward("kl_normal_forward", KL_NORMAL, reduction, mu=mu, logvar=logvar)


def kl_normal_backward(grad_out, mu, logvar, reduction):
    """(grad_mu, grad_logvar) = (g mu, g 1/2 (e^lv - 1))."""
    return (_backward("kl_normal_backward", KL_NORMAL, grad_out, reduction, mu=mu, logvar=logvar),
            _backward("kl_normal_backward", KL_NORMAL_LOGVAR, grad_out, reduction, mu=mu, logvar=logvar))
