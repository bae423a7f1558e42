"""Numba CPU kernels for the losses bce, bce_with_logits, mse and kl_normal, elementwise in two inputs (a, b):

    bce              l = -(t max(log p, -100) + (1 - t) max(log(1 - p), -100))    dl/dp = (p - t) / max(p (1 - p), 1e-12)
    bce_with_logits  l = max(z, 0) - z t + log(1 + e^-|z|)                        dl/dz = sigmoid(z) - t
    mse              l = (x - t)^2                                                dl/dx = 2 (x - t)
    kl_normal        l = -1/2 (1 + lv - mu^2 - e^lv)                              dl/dmu = mu, dl/dlv = 1/2 (e^lv - 1)

reduced by 'none', 'sum' or 'mean'. Three jitted loops serve all of them, each one fused pass:
`_loss_map` (reduction 'none'), `_loss_total` (float64 sum for 'sum'/'mean', no temporary; compiled with
`fastmath={"reassoc"}` so the sum may be reordered and vectorised)
and `_loss_grad_map` (gradient w.r.t. `a`, or w.r.t. logvar for kl_normal). All three allow
`fastmath={"contract"}` (a*b + c may become one FMA, rounded once; NaN and inf handling unchanged).

The float32 kinds compute in float32 (16 lanes of AVX-512 instead of float64's 8), without libm (a libm
call per element does not vectorise), with explicit FMAs and in loops of their own without fastmath, so
that a loss does not depend on where its element falls in a loop:
* bce (BCE_VIA_LOG): `bce_float32`, its logs from `fastmath.log32` / `fastmath.log1m32`; gradient
  `bce_grad32` (in `_loss_grad_map`, whose `contract` finds no multiply-add in it);
* bce_with_logits (BCE_WITH_LOGITS_VIA_EXP): `bce_with_logits32`, e^-|z| from `fastmath.exp_neg32` and
  log(1 + e) from `fastmath.log1p_f32`; its gradient sigmoid(z) - t stays in float64 (`fastmath.sigmoid_via_exp`,
  within 3.3 ulp where it cancels to ~1e-9 and less).
Their forwards run in `_loss_map32` ('none') and `_loss_total32` ('sum'/'mean': float32 sums over blocks
of BCE_BLOCK elements, added into a float64 total). float64 keeps libm exp/log/log1p.
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.fastmath import (HALF32, ONE32, ZERO32, exp_neg32, fma32, log1m32, log1p_f32, log32, sigmoid,
                                      sigmoid_via_exp)
from minigan.kernels.intrinsics import add_reassoc32
from minigan.kernels.parallel import launch

BCE, BCE_WITH_LOGITS, MSE, KL_NORMAL, KL_NORMAL_LOGVAR, BCE_WITH_LOGITS_VIA_EXP, BCE_VIA_LOG = 0, 1, 2, 3, 4, 5, 6
FLOAT32_LOSSES = (BCE_VIA_LOG, BCE_WITH_LOGITS_VIA_EXP)   # forwards in `_loss_map32` / `_loss_total32`

LOG_CLAMP32 = np.float32(-100)                   # PyTorch's clamp of log p and log(1 - p)
P_FLOOR32 = np.float32(2.0 ** -149)              # the smallest float32 (subnormal): log = -103.3, clamped to -100
BCE_BLOCK = 256                                  # elements per float32 partial sum in `_loss_total32`
BCE_GRAD_FLOOR32 = np.float32(1e-12)             # the floor of p (1 - p) in bce's gradient


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def bce_float32(p, t):
    """-(t max(log p, -100) + (1-t) max(log(1-p), -100)) for float32 p, t, in float32:
    log p by `log32`, p raised to P_FLOOR32 first (0, -0.0 and NaN: log -103.3, clamped); log(1 - p) by
    `log1m32`, as accurate as log1p(-p) for tiny p; p = 1 gives -100. p outside [0, 1] (NaN, +-inf included)
    gives NaN, as log of a negative or NaN does in the reference. Within 0.93 ulp of the exact loss for
    targets 0 and 1, 2.57 ulp for fractional targets (the roundings of 1 - t, the products and the sum).
    The reference, in float64, rounds 1 - p to a multiple of 2^-53 first: for p < ~2^-29 and t < 1 it is
    off by up to 2^-54."""
    log_p = log32(p if p > P_FLOOR32 else P_FLOOR32)
    log_q = log1m32(p) if p < ONE32 else LOG_CLAMP32
    loss = -fma32(t, max(log_p, LOG_CLAMP32), (ONE32 - t) * max(log_q, LOG_CLAMP32))
    return loss if (p >= 0 and p <= 1) else np.float32(np.nan)


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def bce_with_logits32(z, t):
    """max(z, 0) - z t + log(1 + e) with e = e^-|z| for float32 z, t, in float32: e from `exp_neg32`
    (subnormal e^-|z| included: with t = 0, z < 0 the loss is e alone), log(1 + e) by `log1p_f32` with an
    exact f: f = e for e < 1/2 (1 + f up to 1.5, truncation < 1e-8 relative there), f = (e - 1)/2 (one exact
    FMA) and k = 1 for e >= 1/2; max(z, 0) - z t as one FMA (z (1 - t) or -z t). NaN and +-inf as the
    reference (inf - inf = NaN). Within 1.92 ulp of the exact loss (the roundings of e, the log, the FMA
    and the sum)."""
    e = exp_neg32(-abs(z))
    upper = e >= HALF32
    log1p_e = log1p_f32(fma32(e, HALF32, -HALF32) if upper else e, ONE32 if upper else ZERO32)
    return fma32(-z, t, z if z > 0 else ZERO32) + log1p_e


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def bce_grad32(p, t):
    """(p - t) / max(p (1 - p), 1e-12) for float32 p, t in float32, in a loop of its own with the kind a
    constant: p (1 - p) = p - p^2 is one FMA, rounded once. The floor is a select, q > floor: an infinite p
    makes p - p^2 NaN where the reference's p (1 - p) is -inf, and both take the floor (a NaN p or t gives
    NaN through p - t either way). Within 2.31 ulp of the exact gradient, 2.84 ulp times g, 3.13 times
    'mean''s g / size (the roundings of p - t, the FMA, the quotient and the products)."""
    q = fma32(-p, p, p)
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
    (`fma32`)."""
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
            block_sum = add_reassoc32(block_sum, _loss32(kind, a_block[j], b_block[j]))
        total += np.float64(block_sum)
    for k in range(blocks * BCE_BLOCK, a.size):
        total += np.float64(_loss32(kind, a[k], b[k]))
    return total


@njit(cache=True, parallel=True)       # no fastmath, as `_loss_map32`: the same loss wherever an element is
def _loss_total32(kind, a, b):
    """sum_k `_loss32`(kind, a[k], b[k]), one loop per kind as in `_loss_map32`: a float32 sum per block of
    BCE_BLOCK elements, each added into the float64 total (the tail after the last whole block added one by
    one). The block sum's additions are `add_reassoc32`, which LLVM keeps in two 16-lane vector
    accumulators: each lane adds 8 losses per block, then the 32 lanes are summed pairwise, so a block's
    relative error is below 13 float32 roundings (8e-7; the losses are all >= 0). A float64 accumulator
    (as `_loss_total` has) would hold the loop to 8 lanes. Slices of a and b give indices from 0, known
    not to be negative: indexing a[start + j] compiles to gathers."""
    if kind == BCE_VIA_LOG:
        return _total32_loop(BCE_VIA_LOG, a, b)
    return _total32_loop(BCE_WITH_LOGITS_VIA_EXP, a, b)


@njit(cache=True, inline="always")
def _grad_loops(kind, grad_out, g_step, scale, a, b, out):
    """The body of `_loss_grad_map`."""
    if g_step == 0:                      # 'sum'/'mean': one scalar grad_out, hoisted out of the loop (read
        g = grad_out[0] * scale          # as grad_out[k * g_step] in it, it slows the vector loop down)
        for k in prange(a.size):
            out[k] = g * _loss_grad(kind, a[k], b[k])
    else:
        for k in prange(a.size):
            out[k] = grad_out[k] * scale * _loss_grad(kind, a[k], b[k])


@njit(cache=True, parallel=True, fastmath={"contract"})
def _loss_grad_map(kind, grad_out, g_step, scale, a, b, out):
    """out[k] = grad_out[k * g_step] * scale * dl/da(a[k], b[k]); g_step = 0 broadcasts a 0-d grad_out.
    The float32 kinds are passed on as constants: with a runtime kind (and libm calls in the other kinds'
    branches) LLVM does not vectorise their loops."""
    if kind == BCE_WITH_LOGITS_VIA_EXP:
        _grad_loops(BCE_WITH_LOGITS_VIA_EXP, grad_out, g_step, scale, a, b, out)
    elif kind == BCE_VIA_LOG:
        _grad_loops(BCE_VIA_LOG, grad_out, g_step, scale, a, b, out)
    else:
        _grad_loops(kind, grad_out, g_step, scale, a, b, out)


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


def _forward(kind, a, b, reduction):
    """The loss of every element, or their sum / mean as a 0-d array of the inputs' dtype."""
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


def _backward(kind, grad_out, a, b, reduction):
    """g * dl/da, with g = grad_out broadcast (and divided by the element count for 'mean')."""
    grad_out = np.asarray(grad_out)                     # a NumPy scalar is a 0-d grad_out too
    g_step = 1 if reduction == "none" else 0
    scale = 1 / a.size if reduction == "mean" else 1.0
    out = np.empty(a.shape, dtype=a.dtype)
    launch(_loss_grad_map, a.size, kind, _flat(grad_out), g_step, a.dtype.type(scale), _flat(a), _flat(b), out.reshape(-1))
    return out


def bce_forward(p, target, reduction):
    """l = -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)), reduced."""
    return _forward(BCE_VIA_LOG if p.dtype == np.float32 else BCE, p, target, reduction)


def bce_backward(grad_out, p, target, reduction):
    """grad_p = g (p - t) / max(p (1 - p), 1e-12)."""
    return _backward(BCE_VIA_LOG if p.dtype == np.float32 else BCE, grad_out, p, target, reduction)


def _bce_with_logits_kind(logits):
    """float32 takes the vectorisable float32 path (`bce_with_logits32`, gradient `sigmoid_via_exp`); float64 keeps
    libm (exact to ~1e-16)."""
    return BCE_WITH_LOGITS_VIA_EXP if logits.dtype == np.float32 else BCE_WITH_LOGITS


def bce_with_logits_forward(logits, target, reduction):
    """l = max(z, 0) - z t + log(1 + e^-|z|), reduced."""
    return _forward(_bce_with_logits_kind(logits), logits, target, reduction)


def bce_with_logits_backward(grad_out, logits, target, reduction):
    """grad_z = g (sigmoid(z) - t)."""
    return _backward(_bce_with_logits_kind(logits), grad_out, logits, target, reduction)


def mse_forward(x, target, reduction):
    """l = (x - t)^2, reduced."""
    return _forward(MSE, x, target, reduction)


def mse_backward(grad_out, x, target, reduction):
    """grad_x = g 2 (x - t)."""
    return _backward(MSE, grad_out, x, target, reduction)


def kl_normal_forward(mu, logvar, reduction):
    """l = -1/2 (1 + lv - mu^2 - e^lv), reduced."""
    return _forward(KL_NORMAL, mu, logvar, reduction)


def kl_normal_backward(grad_out, mu, logvar, reduction):
    """(grad_mu, grad_logvar) = (g mu, g 1/2 (e^lv - 1))."""
    return (_backward(KL_NORMAL, grad_out, mu, logvar, reduction),
            _backward(KL_NORMAL_LOGVAR, grad_out, mu, logvar, reduction))
