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
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.activations import exp_neg, log_normal, sigmoid, sigmoid_via_exp, two_atanh
from minigan.kernels.parallel import launch
from minigan.reference import check_reduction, check_same

BCE, BCE_WITH_LOGITS, MSE, KL_NORMAL, KL_NORMAL_LOGVAR, BCE_WITH_LOGITS_VIA_EXP, BCE_VIA_LOG = 0, 1, 2, 3, 4, 5, 6
BCE_LOG_FLOOR = 1e-300     # a normal float64 below e^-100: log clamps to -100 below it (and at it)


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def log1p_small(e):
    """log(1 + e) for 0 <= e <= 1 (float64) without libm: log(1 + e) = 2 atanh(s) with s = e / (2 + e) <= 1/3,
    2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ... + s^16/17) (truncation < (1/9)^9 / 19 ~ 1.4e-10 relative;
    measured max relative error vs np.log1p over [0, 1], tiny e included: 1.5e-10)."""
    return two_atanh(e / (2 + e), 9)


@njit(cache=True, inline="always")              # inlined in Numba IR, so LLVM can vectorise the loop
def bce_float64_logs(p, t):
    """-(t max(log p, -100) + (1-t) max(log(1-p), -100)) in float64 for p, t converted from float32, with
    `log_normal` (no special-value branches: ~25 % faster than a log that handles them): p and 1 - p are raised to
    BCE_LOG_FLOOR (NaN too), so that both logs see positive normal finite values (a float32 p is 0 or
    >= 1.4e-45, normal in float64; 1 - p exact or rounded, as in the reference), and log 0 -> -100 as
    before; p outside [0, 1] (NaN, +-inf included) gives NaN, as log of a negative or NaN does in the
    reference. Same results as a log that handles every special value (tests/test_fast_log.py; log error
    < 2.08e-9 relative), so the float32 loss is within 0.5 ulp + 2^24 * 2.1e-9 ulp < 0.54 ulp of the
    float64 reference (the -100 clamps exact)."""
    q = 1 - p
    log_p = log_normal(p if p > BCE_LOG_FLOOR else BCE_LOG_FLOOR, 0.0)
    log_q = log_normal(q if q > BCE_LOG_FLOOR else BCE_LOG_FLOOR, 0.0)
    loss = -(t * max(log_p, -100.0) + (1 - t) * max(log_q, -100.0))
    return loss if (p >= 0 and p <= 1) else np.nan


@njit(cache=True, inline="always")
def _loss(kind, a, b):
    """Elementwise loss l(a, b):
    bce: -(t max(log p, -100) + (1-t) max(log(1-p), -100));  bce_with_logits: max(z, 0) - z t + log(1 + e^-|z|);
    mse: (x - t)^2;  kl_normal: -1/2 (1 + lv - mu^2 - e^lv)."""
    if kind == BCE:
        return -(b * max(np.log(a), -100.0) + (1 - b) * max(np.log(1 - a), -100.0))
    if kind == BCE_VIA_LOG:                             # float32: in float64 with log_normal
        return bce_float64_logs(np.float64(a), np.float64(b))
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
    """out[k] = l(a[k], b[k]). The float32 kinds without libm (BCE_VIA_LOG, BCE_WITH_LOGITS_VIA_EXP)
    get loops of their own, with the kind a constant: in the shared loop, with libm calls in the
    other kinds' branches, LLVM did not vectorise float32 bce (1.5 GB/s instead of ~10)."""
    if kind == BCE_VIA_LOG:
        _map_loop(BCE_VIA_LOG, a, b, out)
    elif kind == BCE_WITH_LOGITS_VIA_EXP:
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
    """sum_k l(a[k], b[k]), accumulated in float64; the libm-free float32 kinds in loops of their
    own, as in `_loss_map`."""
    if kind == BCE_VIA_LOG:
        return _total_loop(BCE_VIA_LOG, a, b)
    if kind == BCE_WITH_LOGITS_VIA_EXP:
        return _total_loop(BCE_WITH_LOGITS_VIA_EXP, a, b)
    return _total_loop(kind, a, b)


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
        launch(_loss_map, a.size, kind, _flat(a), _flat(b), out.reshape(-1))
        return out
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
