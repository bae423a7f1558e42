"""Numba CPU kernels for batch normalisation over `x (N, C, L)`; per-channel vectors are `(C,)`, M = N*L.

Three jitted loops, parallel over channels or (n, c) planes:

* `_channel_stats`: per-channel mean and biased variance (two passes, float64 sums);
* `_channel_grad_sums`: per-channel sum(g) and sum(g * (x - center)) (float64 sums);
* `_channel_affine`: out = g_scale[c] * g + x_scale[c] * (x - center[c]) + shift[c], the one fused
  elementwise pass behind both forwards (g_scale = 0) and both backward-data passes.

The two reductions are compiled with `fastmath={"reassoc"}`: LLVM may then reorder the float64
additions and vectorise them (about 10x faster here); nothing else about IEEE arithmetic changes.
The O(C) arithmetic between them (inverse std, coefficients) is plain NumPy in float64, and the
coefficients are cast to x's dtype before the elementwise pass.
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.parallel import launch
from minigan.reference import batch_norm_update_running, check_dtype, check_same  # noqa: F401  (the O(C) running-stat update needs no kernel: re-exported)


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _channel_stats(x):
    """mean[c] = sum_{n,l} x / M, var[c] = sum_{n,l} (x - mean[c])^2 / M, both float64."""
    n_img, channels, length = x.shape
    mean, var = np.empty(channels), np.empty(channels)
    for c in prange(channels):
        total = 0.0
        for n in range(n_img):
            for k in range(length):
                total += x[n, c, k]
        m = total / (n_img * length)
        squares = 0.0
        for n in range(n_img):
            for k in range(length):
                d = x[n, c, k] - m
                squares += d * d
        mean[c], var[c] = m, squares / (n_img * length)
    return mean, var


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _channel_grad_sums(g, x, center):
    """sum_g[c] = sum_{n,l} g, sum_gx[c] = sum_{n,l} g * (x - center[c]), both float64."""
    n_img, channels, length = x.shape
    sum_g, sum_gx = np.empty(channels), np.empty(channels)
    for c in prange(channels):
        sg, sgx = 0.0, 0.0
        for n in range(n_img):
            for k in range(length):
                sg += g[n, c, k]
                sgx += g[n, c, k] * (x[n, c, k] - center[c])
        sum_g[c], sum_gx[c] = sg, sgx
    return sum_g, sum_gx


@njit(cache=True, parallel=True)
def _channel_affine(g, g_scale, x, center, x_scale, shift, out):
    """out[n, c, l] = g_scale[c] * g[n, c, l] + x_scale[c] * (x[n, c, l] - center[c]) + shift[c]."""
    n_img, channels, length = x.shape
    for plane in prange(n_img * channels):
        n, c = plane // channels, plane % channels
        for k in range(length):
            out[n, c, k] = g_scale[c] * g[n, c, k] + x_scale[c] * (x[n, c, k] - center[c]) + shift[c]


def _check(op, x, **vectors):
    """x (N, C, L) and every named vector (C,), all of one float dtype."""
    check_dtype(op, x=x, **vectors)
    if x.ndim != 3:
        raise ValueError(f"{op}: expected x of shape (N, C, L), got {x.shape}")
    for name, v in vectors.items():
        if v.shape != (x.shape[1],):
            raise ValueError(f"{op}: {name} shape {v.shape} should be ({x.shape[1]},) for x {x.shape}")


def _affine(x, center, x_scale, shift, g=None, g_scale=None):
    """`_channel_affine` with float64 coefficients cast to x's dtype; g defaults to x with g_scale 0."""
    cast = [np.asarray(v, dtype=x.dtype) for v in (center, x_scale, shift)]
    g_scale = np.zeros_like(cast[0]) if g_scale is None else g_scale.astype(x.dtype)
    out = np.empty_like(x)
    launch(_channel_affine, x.size, x if g is None else np.ascontiguousarray(g), g_scale, x, *cast, out)
    return out


def batch_norm_forward_train(x, weight, bias, eps):
    """mean, var (biased) over (n, l); y = weight (x - mean) / sqrt(var + eps) + bias. Returns (y, mean, var)."""
    _check("batch_norm_forward_train", x, weight=weight, bias=bias)
    x = np.ascontiguousarray(x)
    mean, var = launch(_channel_stats, x.size, x)
    y = _affine(x, mean, weight / np.sqrt(var + eps), bias)
    return y, mean.astype(x.dtype), var.astype(x.dtype)


def batch_norm_forward_eval(x, running_mean, running_var, weight, bias, eps):
    """y = weight (x - running_mean) / sqrt(running_var + eps) + bias."""
    _check("batch_norm_forward_eval", x, running_mean=running_mean, running_var=running_var,
           weight=weight, bias=bias)
    inv_std = 1 / np.sqrt(running_var.astype(np.float64) + eps)
    return _affine(np.ascontiguousarray(x), running_mean, weight * inv_std, bias)


def batch_norm_backward_train(grad_y, x, mean, var, weight, eps):
    """grad_bias = sum g, grad_weight = sum g x_hat,
    grad_x = w inv_std (g - grad_bias / M - x_hat grad_weight / M), x_hat = (x - mean) inv_std."""
    _check("batch_norm_backward_train", x, mean=mean, var=var, weight=weight)
    check_same("batch_norm_backward_train", grad_y=grad_y, x=x)
    x, grad_y = np.ascontiguousarray(x), np.ascontiguousarray(grad_y)
    m = x.shape[0] * x.shape[2]
    sum_g, sum_gx = launch(_channel_grad_sums, x.size, grad_y, x, mean)
    inv_std = 1 / np.sqrt(var.astype(np.float64) + eps)
    grad_weight = sum_gx * inv_std
    g_scale = weight * inv_std
    # grad_x = g_scale * g - g_scale * inv_std * grad_weight / M * (x - mean) - g_scale * grad_bias / M
    grad_x = _affine(x, mean, -g_scale * inv_std * grad_weight / m, -g_scale * sum_g / m, grad_y, g_scale)
    return grad_x, grad_weight.astype(x.dtype), sum_g.astype(x.dtype)


def batch_norm_backward_eval(grad_y, x, running_mean, running_var, weight, eps):
    """grad_x = g w / sqrt(running_var + eps), grad_weight = sum g x_hat, grad_bias = sum g."""
    _check("batch_norm_backward_eval", x, running_mean=running_mean, running_var=running_var, weight=weight)
    check_same("batch_norm_backward_eval", grad_y=grad_y, x=x)
    x, grad_y = np.ascontiguousarray(x), np.ascontiguousarray(grad_y)
    sum_g, sum_gx = launch(_channel_grad_sums, x.size, grad_y, x, running_mean)
    inv_std = 1 / np.sqrt(running_var.astype(np.float64) + eps)
    zeros = np.zeros(x.shape[1])
    grad_x = _affine(x, running_mean, zeros, zeros, grad_y, weight * inv_std)
    return grad_x, (sum_gx * inv_std).astype(x.dtype), sum_g.astype(x.dtype)
