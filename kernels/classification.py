"""Numba CPU kernels for the classification losses of class scores (N, C) and int64 targets (N,),
and the L1 loss. One row per parallel iteration; reductions sum the per-row losses in float64.

    cross_entropy:  l_n = log sum_c e^(z[n, c]) - z[n, t_n]   (after subtracting the row maximum)
                    grad_z[n, c] = g_n * (softmax(z[n])_c - [c = t_n])
    nll:            l_n = -logp[n, t_n];   grad_logp[n, c] = -g_n * [c = t_n]
    l1:             l = |x - t|;           grad_x = g * sign(x - t)

g is grad_out spread over the rows / elements (divided by their count for 'mean'). Inputs are validated
by minigan.functional (shapes, int64 targets in [0, C), reduction).
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.parallel import launch


def _reduce(loss, reduction):
    """'none': the per-row/element losses; 'sum' / 'mean': their float64 sum / mean as a 0-d array of their dtype."""
    if reduction == "none":
        return loss
    total = loss.sum(dtype=np.float64)
    return np.asarray(total / loss.size if reduction == "mean" else total, dtype=loss.dtype)


def _spread(grad_out, count, reduction, dtype):
    """g per row/element as a contiguous array of ``count`` values: grad_out itself ('none'), or its
    one value repeated (divided by ``count`` for 'mean')."""
    if reduction == "none":
        return np.ascontiguousarray(grad_out, dtype=dtype).reshape(-1)
    value = grad_out / count if reduction == "mean" else grad_out
    return np.full(count, value, dtype=dtype)


@njit(cache=True, parallel=True)
def _cross_entropy_rows(z, target, loss):
    for n in prange(z.shape[0]):
        top = z[n].max()
        total = z[n, 0] * 0
        for c in range(z.shape[1]):
            total += np.exp(z[n, c] - top)
        loss[n] = np.log(total) + top - z[n, target[n]]


@njit(cache=True, parallel=True)
def _cross_entropy_grad_rows(g, z, target, grad):
    for n in prange(z.shape[0]):
        top = z[n].max()
        total = z[n, 0] * 0
        for c in range(z.shape[1]):
            grad[n, c] = np.exp(z[n, c] - top)
            total += grad[n, c]
        scale = g[n] / total
        for c in range(z.shape[1]):
            grad[n, c] *= scale
        grad[n, target[n]] -= g[n]


def _rows(scores, target):
    return np.ascontiguousarray(scores), np.ascontiguousarray(target)


def cross_entropy_forward(logits, target, reduction):
    """l_n = log sum_c e^(z[n, c]) - z[n, t_n], reduced over n."""
    z, target = _rows(logits, target)
    loss = np.empty(z.shape[0], dtype=z.dtype)
    launch(_cross_entropy_rows, z.size, z, target, loss)
    return _reduce(loss, reduction)


def cross_entropy_backward(grad_out, logits, target, reduction):
    """grad_z[n, c] = g_n * (softmax(z[n])_c - [c = t_n])."""
    z, target = _rows(logits, target)
    g = _spread(grad_out, z.shape[0], reduction, z.dtype)
    grad = np.empty_like(z)
    launch(_cross_entropy_grad_rows, z.size, g, z, target, grad)
    return grad


def nll_forward(logp, target, reduction):
    """l_n = -logp[n, t_n], reduced over n."""
    logp, target = _rows(logp, target)
    return _reduce(-logp[np.arange(logp.shape[0]), target], reduction)


def nll_backward(grad_out, logp, target, reduction):
    """grad_logp[n, c] = -g_n * [c = t_n]."""
    logp, target = _rows(logp, target)
    grad = np.zeros_like(logp)
    grad[np.arange(logp.shape[0]), target] = -_spread(grad_out, logp.shape[0], reduction, logp.dtype)
    return grad


@njit(cache=True, parallel=True)
def _l1_loop(x, target, loss):
    for k in prange(x.size):
        loss[k] = abs(x[k] - target[k])


@njit(cache=True, parallel=True)
def _l1_grad_loop(g, x, target, grad):
    for k in prange(x.size):
        d = x[k] - target[k]
        grad[k] = g[k] if d > 0 else (-g[k] if d < 0 else g[k] * 0)


def _flat_pair(x, target):
    return np.ascontiguousarray(x).reshape(-1), np.ascontiguousarray(target).reshape(-1)


def l1_forward(x, target, reduction):
    """l = |x - t|, reduced."""
    flat_x, flat_t = _flat_pair(x, target)
    loss = np.empty_like(flat_x)
    launch(_l1_loop, x.size, flat_x, flat_t, loss)
    return _reduce(loss.reshape(x.shape), reduction)


def l1_backward(grad_out, x, target, reduction):
    """grad_x = g * sign(x - t) (0 where x = t)."""
    flat_x, flat_t = _flat_pair(x, target)
    grad = np.empty_like(flat_x)
    launch(_l1_grad_loop, x.size, _spread(grad_out, x.size, reduction, x.dtype), flat_x, flat_t, grad)
    return grad.reshape(x.shape)
