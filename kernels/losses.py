"""Numba CPU kernels for the losses bce, bce_with_logits, mse and kl_normal.

Every loss is elementwise in two same-shaped inputs `(a, b)` (p/target, logits/target,
x/target, mu/logvar), so three jitted loops serve all of them, each one fused pass:
`_loss_map` (reduction 'none'), `_loss_total` (float64 sum for 'sum'/'mean', no temporary; compiled with
`fastmath={"reassoc"}` so the sum may be reordered and vectorised)
and `_loss_grad_map` (gradient w.r.t. `a`, or w.r.t. logvar for kl_normal). All three allow
`fastmath={"contract"}` (a*b + c may become one FMA, rounded once; NaN and inf handling unchanged).

float32 bce_with_logits (BCE_WITH_LOGITS_VIA_EXP) is computed in float64 without libm: e^-|z| from
`activations.exp_neg` and log(1 + e) from `log1p_small`, both plain arithmetic that LLVM vectorises
(a libm call per element does not vectorise: 10-15x slower). float64 keeps libm exp/log1p.
Measured on 3M float32 (z, t): the loss within 0.501 ulp of the float64 formula with libm, the
gradient sigmoid(z) - t within 3.3 ulp (where it cancels to ~1e-9 and less).

float32 bce (BCE_VIA_LOG) is computed in float32 (`bce_float32`, 16 lanes of AVX-512 instead of float64's 8;
about twice as fast) with its own log (`log1p_f32`), in loops of its own without fastmath:
`_bce_float32_map` for 'none' and `_bce_float32_total` ('sum'/'mean': float32 sums over blocks of
BCE_BLOCK elements, added into a float64 total).
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from minigan.kernels.activations import exp_neg, sigmoid, sigmoid_via_exp, two_atanh
from minigan.kernels.parallel import launch
from minigan.reference import check_reduction, check_same

BCE, BCE_WITH_LOGITS, MSE, KL_NORMAL, KL_NORMAL_LOGVAR, BCE_WITH_LOGITS_VIA_EXP, BCE_VIA_LOG = 0, 1, 2, 3, 4, 5, 6

SQRT_HALF_BITS32 = 0x3F3504F3           # bits of float32 sqrt(1/2) (0.70710677), the low end of log1p_f32's m
LN2_HI32, LN2_LO32 = np.float32(0.693359375), np.float32(-2.12194440e-4)   # ln 2 = LN2_HI32 + LN2_LO32 (to 1e-11);
                                                                          # k * LN2_HI32 exact (9 bits) for |k| < 2^15
ONE32, TWO32 = np.float32(1), np.float32(2)     # float32 constants: a Python 1.0 would make the arithmetic float64
LOG_CLAMP32 = np.float32(-100)                   # PyTorch's clamp of log p and log(1 - p)
P_FLOOR32 = np.float32(2.0 ** -149)              # the smallest float32 (subnormal): log = -103.3, clamped to -100
FLOAT32_TINY = np.float32(2.0 ** -126)           # the smallest normal float32
TWO_POW_24 = np.float32(2.0 ** 24)               # scales a subnormal float32 p to a normal one
BCE_BLOCK = 256                                  # elements per float32 partial sum in `_bce_float32_total`


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def log1p_small(e):
    """log(1 + e) for 0 <= e <= 1 (float64) without libm: log(1 + e) = 2 atanh(s) with s = e / (2 + e) <= 1/3,
    2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ... + s^16/17) (truncation < (1/9)^9 / 19 ~ 1.4e-10 relative;
    measured max relative error vs np.log1p over [0, 1], tiny e included: 1.5e-10)."""
    return two_atanh(e / (2 + e), 9)


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


@intrinsic
def _fma32(typingctx, a, b, c):
    """a b + c (float32) rounded once: llvm.fma, one vfmadd here in scalar and vector code alike (fastmath's
    `contract` leaves the fusing to LLVM, which fused differently in a loop's vector body and its remainder)."""
    def codegen(context, builder, signature, args):
        float32 = ir.FloatType()
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(float32, [float32] * 3), "llvm.fma.f32")
        return builder.call(fma, args)
    return types.float32(types.float32, types.float32, types.float32), codegen


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


@njit(cache=True, inline="always")
def _loss(kind, a, b):
    """Elementwise loss l(a, b):
    bce: -(t max(log p, -100) + (1-t) max(log(1-p), -100));  bce_with_logits: max(z, 0) - z t + log(1 + e^-|z|);
    mse: (x - t)^2;  kl_normal: -1/2 (1 + lv - mu^2 - e^lv)."""
    if kind == BCE:
        return -(b * max(np.log(a), -100.0) + (1 - b) * max(np.log(1 - a), -100.0))
    if kind == BCE_WITH_LOGITS:
        return max(a, 0) - a * b + np.log1p(np.exp(-abs(a)))
    if kind == BCE_WITH_LOGITS_VIA_EXP:                 # float32: in float64 with exp_neg and log1p_small
        z, t = np.float64(a), np.float64(b)
        return max(z, 0.0) - z * t + log1p_small(exp_neg(-abs(z)))
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
    if kind == BCE_WITH_LOGITS:
        return sigmoid(a) - b
    if kind == BCE_WITH_LOGITS_VIA_EXP:
        return sigmoid_via_exp(a) - b
    if kind == MSE:
        return 2 * (a - b)
    if kind == KL_NORMAL:
        return a
    return 0.5 * (np.exp(b) - 1)


@njit(cache=True, inline="always")
def _map_loop(kind, a, b, out):
    """The body of `_loss_map`."""
    for k in prange(a.size):
        out[k] = _loss(kind, a[k], b[k])


@njit(cache=True, parallel=True, fastmath={"contract"})
def _loss_map(kind, a, b, out):
    """out[k] = l(a[k], b[k]). The float32 bce_with_logits kind (no libm) gets a loop of its own, with the
    kind a constant: in the shared loop, with libm calls in the other kinds' branches, LLVM did not
    vectorise such a loop (float32 bce, when it was computed here: 1.5 GB/s instead of ~10)."""
    if kind == BCE_WITH_LOGITS_VIA_EXP:
        _map_loop(BCE_WITH_LOGITS_VIA_EXP, a, b, out)
    else:
        _map_loop(kind, a, b, out)


@njit(cache=True, inline="always")
def _total_loop(kind, a, b):
    """The body of `_loss_total`."""
    total = 0.0
    for k in prange(a.size):
        total += _loss(kind, a[k], b[k])
    return total


@njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def _loss_total(kind, a, b):
    """sum_k l(a[k], b[k]), accumulated in float64; the libm-free float32 bce_with_logits in a loop of its
    own, as in `_loss_map` (float32 bce: `_bce_float32_total`)."""
    if kind == BCE_WITH_LOGITS_VIA_EXP:
        return _total_loop(BCE_WITH_LOGITS_VIA_EXP, a, b)
    return _total_loop(kind, a, b)


@njit(cache=True, parallel=True)
def _bce_float32_map(p, t, out):
    """out[k] = bce_float32(p[k], t[k]). No fastmath: with `contract`, LLVM fused different multiply-adds in
    the vector loop and in its scalar remainder, so a loss could differ by an ulp with its position (and
    between the serial and the parallel path); `bce_float32` fuses them itself (`_fma32`). On 16M
    elements, min of 8 x 5 calls: 18.4 GB/s (12 bytes per element: p, t read, the loss written) on
    2 threads, 9.9 on 1; the float64 bce before it 12.4 and 6.4."""
    for k in prange(p.size):
        out[k] = bce_float32(p[k], t[k])


@njit(cache=True, parallel=True)       # no fastmath, as `_bce_float32_map`: the same loss wherever an element is
def _bce_float32_total(p, t):
    """sum_k bce_float32(p[k], t[k]): a float32 sum per block of BCE_BLOCK elements, each added into the float64
    total (the tail after the last whole block added one by one). The block sum's additions are
    `_add_reassoc32`, which LLVM keeps in two 16-lane vector accumulators: each lane adds 8 losses per
    block, then the 32 lanes are summed pairwise, so a block's relative error is below 13 float32
    roundings (8e-7; the losses are all >= 0), measured 1e-9 to 4e-8 against the float64 reference. A
    float64 accumulator (as `_loss_total` has) held the loop to 8 lanes, at the float64 bce's speed.
    On 16M elements, min of 8 x 5 calls: 23.9 GB/s (8 bytes per element: p, t read) on 2 threads,
    12.1 on 1; the float64 bce with a float64 sum before it 11.8 and 6.4. Slices of p and t give
    indices from 0, known not to be negative: indexing p[start + j] compiled to gathers (5 GB/s)."""
    blocks = p.size // BCE_BLOCK
    total = 0.0
    for block in prange(blocks):
        p_block = p[block * BCE_BLOCK:(block + 1) * BCE_BLOCK]
        t_block = t[block * BCE_BLOCK:(block + 1) * BCE_BLOCK]
        block_sum = np.float32(0)
        for j in range(BCE_BLOCK):
            block_sum = _add_reassoc32(block_sum, bce_float32(p_block[j], t_block[j]))
        total += np.float64(block_sum)
    for k in range(blocks * BCE_BLOCK, p.size):
        total += np.float64(bce_float32(p[k], t[k]))
    return total


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
    The float32 bce_with_logits kind is passed on as a constant: with a runtime kind (and libm calls in
    the other kinds' branches) LLVM did not vectorise its loop (8x slower)."""
    if kind == BCE_WITH_LOGITS_VIA_EXP:
        _grad_loops(BCE_WITH_LOGITS_VIA_EXP, grad_out, g_step, scale, a, b, out)
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
        if kind == BCE_VIA_LOG:
            launch(_bce_float32_map, a.size, _flat(a), _flat(b), out.reshape(-1))
        else:
            launch(_loss_map, a.size, kind, _flat(a), _flat(b), out.reshape(-1))
        return out
    if kind == BCE_VIA_LOG:
        total = launch(_bce_float32_total, a.size, _flat(a), _flat(b))
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
    return _backward("bce_backward", BCE, grad_out, reduction, p=p, target=target)


def _bce_with_logits_kind(logits):
    """float32 takes the vectorisable exp_neg / log1p_small path; float64 keeps libm (exact to ~1e-16)."""
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
