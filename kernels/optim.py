"""Numba CPU kernels for the optimizer updates (in place, PyTorch's exact rules).

Each step is one fused parallel pass over the flat parameter; the hyper-parameters are cast to
the parameter's dtype first, so a float32 parameter is updated in float32 arithmetic, as PyTorch does.
"""

import math

import numpy as np
from numba import njit, prange

from minigan.kernels.parallel import launch


@njit(cache=True, parallel=True)
def _sgd_loop(param, grad, buf, lr, momentum, weight_decay, use_momentum, first_step):
    """d = g + wd p; with momentum: buf = d (first step) or momentum buf + d, d = buf; p -= lr d."""
    for k in prange(param.size):
        d = grad[k] + weight_decay * param[k]
        if use_momentum:
            if not first_step:
                d = momentum * buf[k] + d
            buf[k] = d
        param[k] -= lr * d


@njit(cache=True, parallel=True)
def _adam_loop(param, grad, exp_avg, exp_avg_sq, step_size, bias_correction2_sqrt,
               beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay):
    """g = grad + wd p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    p -= step_size * (m / (sqrt(v) / sqrt(1 - b2^t) + eps))."""
    for k in prange(param.size):
        g = grad[k] + weight_decay * param[k]
        m = beta1 * exp_avg[k] + one_minus_beta1 * g
        v = beta2 * exp_avg_sq[k] + one_minus_beta2 * g * g
        exp_avg[k], exp_avg_sq[k] = m, v
        param[k] -= step_size * (m / (np.sqrt(v) / bias_correction2_sqrt + eps))


def _flat(*arrays):
    """Flat views of C-contiguous arrays (updated in place, so no copies)."""
    return [a.reshape(-1) for a in arrays]


def sgd_step(param, grad, momentum_buf, lr, momentum, weight_decay, first_step):
    """In place: d = g + wd p; if momentum: buf <- d (first step) or momentum buf + d, d = buf; p <- p - lr d.
    `momentum_buf` is None when momentum == 0."""
    flat_param, flat_grad, buf = _flat(param, np.ascontiguousarray(grad), param[:0] if momentum == 0 else momentum_buf)
    t = param.dtype.type
    launch(_sgd_loop, param.size, flat_param, flat_grad, buf, t(lr), t(momentum), t(weight_decay), momentum != 0, bool(first_step))


def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    """In place, step counting from 1: g = grad + wd p; m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2;
    p <- p - (lr / (1 - b1^step)) (m / (sqrt(v) / sqrt(1 - b2^step) + eps)). grad is not modified."""
    flat = _flat(param, np.ascontiguousarray(grad), exp_avg, exp_avg_sq)
    t = param.dtype.type
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
    launch(_adam_loop, param.size, *flat, t(step_size), t(bias_correction2_sqrt), t(beta1), t(1 - beta1), t(beta2), t(1 - beta2),
               t(eps), t(weight_decay))
