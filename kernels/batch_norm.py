"""Numba CPU kernels for batch normalisation over `x (N, C, L)`; per-channel vectors are `(C,)`, M = N*L:

    mean = sum_{n,l} x / M,  var = sum_{n,l} (x - mean)^2 / M,  x_hat = (x - mean) / sqrt(var + eps)
    y = weight x_hat + bias
    grad_bias = sum_{n,l} g,  grad_weight = sum_{n,l} g x_hat,
    grad_x = weight / sqrt(var + eps) (g - grad_bias / M - x_hat grad_weight / M)   (training; eval: the first term)

Three jitted loops, parallel over channels or (n, c) planes:

* `_channel_stats`: per-channel mean and biased variance (two passes, float64 sums);
* `_channel_grad_sums`: per-channel sum(g) and sum(g * (x - center)) (float64 sums);
* `_channel_affine`: out = g_scale[c] * g + x_scale[c] * (x - center[c]) + shift[c], the one fused
  elementwise pass behind both forwards (g_scale = 0) and both backward-data passes.

Their inner loops run along a plane of L elements. A short plane (L = 16 float32 is one AVX-512 vector)
is less than one iteration of the vectorised loop body, which takes several vectors per iteration, so the
scalar remainder does the work. For planes shorter than BN_PLANE_MIN the same sums and passes go by channel
blocks instead
(`_block_forward_train`, `_block_grad_sums`, `_block_affine`): BN_BLOCK // L channels (at least one), in each
image a contiguous run of about BN_BLOCK elements, walked by one long inner loop, the per-channel vectors
expanded to per-element rows of the run (`_expand`) and the sums kept per element (float64 rows, summed per
channel at the end). The forward's statistics and output pass are fused per block: one parallel launch,
the block's runs read again while in cache. Long planes keep the plane loops: by blocks, per-element sums
and coefficient rows load and store where the plane loops keep scalars in registers.

The reductions are compiled with `fastmath={"reassoc"}`: LLVM may then reorder the float64 additions and
vectorise them; nothing else about IEEE arithmetic changes. The O(C)
arithmetic between them (inverse std, coefficients) is in float64 (NumPy, or the same operations in
`_block_forward_train`), and the coefficients are cast to x's dtype before the elementwise pass.
"""

import numpy as np
from numba import njit, prange

from minigan.kernels.parallel import launch

BN_PLANE_MIN = 64    # shorter (n, c) planes go by channel blocks
BN_BLOCK = 1024      # elements per image in a channel block (at least one channel): 4 KB rows of float32


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


@njit(cache=True, inline="always")
def _block_bounds(block, channels, length):
    """Channels [c0, c1) of channel block `block`, BN_BLOCK // length channels each (at least one)."""
    per = max(1, BN_BLOCK // length)
    c0 = block * per
    return c0, min(c0 + per, channels)


@njit(cache=True, inline="always")
def _block_count(channels, length):
    per = max(1, BN_BLOCK // length)
    return (channels + per - 1) // per


@njit(cache=True, inline="always")
def _expand(v, c0, c1, length, dtype):
    """v[c0:c1] repeated `length` times each: the per-element row of a per-channel vector over a channel block."""
    row = np.empty((c1 - c0) * length, dtype)
    for c in range(c1 - c0):
        row[c * length:(c + 1) * length] = v[c0 + c]
    return row


@njit(cache=True, inline="always")
def _channel_totals(acc, c0, length, out, divisor):
    """out[c0 + c] = sum of acc's c-th run of `length` elements / divisor."""
    for c in range(acc.size // length):
        out[c0 + c] = acc[c * length:(c + 1) * length].sum() / divisor


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _block_forward_train(x, weight, bias, eps, y):
    """`_channel_stats` and the forward's `_channel_affine` by channel blocks, fused: a block's mean and variance,
    then x_scale = weight / sqrt(var + eps) (float64, as the NumPy between them computes it), then its
    output, while its runs are in cache, in one parallel launch instead of two. y = x_scale (x - mean) + bias,
    the coefficients cast to x's dtype (the unfused pass added 0 * x as well: the same values, as an infinite
    or NaN x makes its channel's mean so and every output NaN either way)."""
    n_img, channels, length = x.shape
    rows, y_rows = x.reshape(n_img, channels * length), y.reshape(n_img, channels * length)
    mean, var = np.empty(channels), np.empty(channels)
    for block in prange(_block_count(channels, length)):
        c0, c1 = _block_bounds(block, channels, length)
        acc = np.zeros((c1 - c0) * length)
        for n in range(n_img):
            row = rows[n, c0 * length:c1 * length]
            for j in range(acc.size):
                acc[j] += row[j]
        _channel_totals(acc, c0, length, mean, n_img * length)
        m = _expand(mean, c0, c1, length, np.float64)
        acc[:] = 0.0
        for n in range(n_img):
            row = rows[n, c0 * length:c1 * length]
            for j in range(acc.size):
                d = row[j] - m[j]
                acc[j] += d * d
        _channel_totals(acc, c0, length, var, n_img * length)
        ce, sh = _expand(mean, c0, c1, length, x.dtype), _expand(bias, c0, c1, length, x.dtype)
        xs = _expand(weight[c0:c1] / np.sqrt(var[c0:c1] + eps), 0, c1 - c0, length, x.dtype)
        for n in range(n_img):
            row, y_row = rows[n, c0 * length:c1 * length], y_rows[n, c0 * length:c1 * length]
            for j in range(acc.size):
                y_row[j] = xs[j] * (row[j] - ce[j]) + sh[j]
    return mean, var


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _block_grad_sums(g, x, center):
    """`_channel_grad_sums` by channel blocks."""
    n_img, channels, length = x.shape
    g_rows, x_rows = g.reshape(n_img, channels * length), x.reshape(n_img, channels * length)
    sum_g, sum_gx = np.empty(channels), np.empty(channels)
    for block in prange(_block_count(channels, length)):
        c0, c1 = _block_bounds(block, channels, length)
        center_row = _expand(center, c0, c1, length, x.dtype)
        acc_g, acc_gx = np.zeros(center_row.size), np.zeros(center_row.size)
        for n in range(n_img):
            g_row, x_row = g_rows[n, c0 * length:c1 * length], x_rows[n, c0 * length:c1 * length]
            for j in range(acc_g.size):
                acc_g[j] += g_row[j]
                acc_gx[j] += g_row[j] * (x_row[j] - center_row[j])
        _channel_totals(acc_g, c0, length, sum_g, 1)
        _channel_totals(acc_gx, c0, length, sum_gx, 1)
    return sum_g, sum_gx


@njit(cache=True, parallel=True)
def _block_affine(g, g_scale, x, center, x_scale, shift, out):
    """`_channel_affine` by channel blocks."""
    n_img, channels, length = x.shape
    size = channels * length
    g_rows, x_rows, out_rows = g.reshape(n_img, size), x.reshape(n_img, size), out.reshape(n_img, size)
    for block in prange(_block_count(channels, length)):
        c0, c1 = _block_bounds(block, channels, length)
        gs, ce = _expand(g_scale, c0, c1, length, x.dtype), _expand(center, c0, c1, length, x.dtype)
        xs, sh = _expand(x_scale, c0, c1, length, x.dtype), _expand(shift, c0, c1, length, x.dtype)
        for n in range(n_img):
            g_row, x_row = g_rows[n, c0 * length:c1 * length], x_rows[n, c0 * length:c1 * length]
            out_row = out_rows[n, c0 * length:c1 * length]
            for j in range(gs.size):
                out_row[j] = gs[j] * g_row[j] + xs[j] * (x_row[j] - ce[j]) + sh[j]


def _short_planes(x):
    """Whether x's (n, c) planes are short enough for the channel-block loops."""
    return x.shape[2] < BN_PLANE_MIN


def _affine(x, center, x_scale, shift, g=None, g_scale=None):
    """`_channel_affine` with float64 coefficients cast to x's dtype; g defaults to x with g_scale 0."""
    cast = [np.asarray(v, dtype=x.dtype) for v in (center, x_scale, shift)]
    g_scale = np.zeros_like(cast[0]) if g_scale is None else g_scale.astype(x.dtype)
    out = np.empty_like(x)
    launch(_block_affine if _short_planes(x) else _channel_affine, x.size, x if g is None else np.ascontiguousarray(g), g_scale, x, *cast, out)
    return out


def batch_norm_forward_train(x, weight, bias, eps):
    """mean, var (biased) over (n, l); y = weight (x - mean) / sqrt(var + eps) + bias. Returns (y, mean, var)."""
    x = np.ascontiguousarray(x)
    if _short_planes(x):
        y = np.empty_like(x)
        mean, var = launch(_block_forward_train, x.size, x, weight, bias, eps, y)
    else:
        mean, var = launch(_channel_stats, x.size, x)
        y = _affine(x, mean, weight / np.sqrt(var + eps), bias)
    return y, mean.astype(x.dtype), var.astype(x.dtype)


def batch_norm_forward_eval(x, running_mean, running_var, weight, bias, eps):
    """y = weight (x - running_mean) / sqrt(running_var + eps) + bias."""
    inv_std = 1 / np.sqrt(running_var.astype(np.float64) + eps)
    return _affine(np.ascontiguousarray(x), running_mean, weight * inv_std, bias)


def batch_norm_backward_train(grad_y, x, mean, var, weight, eps):
    """grad_bias = sum g, grad_weight = sum g x_hat,
    grad_x = w inv_std (g - grad_bias / M - x_hat grad_weight / M), x_hat = (x - mean) inv_std."""
    x, grad_y = np.ascontiguousarray(x), np.ascontiguousarray(grad_y)
    m = x.shape[0] * x.shape[2]
    sum_g, sum_gx = launch(_block_grad_sums if _short_planes(x) else _channel_grad_sums, x.size, grad_y, x, mean)
    inv_std = 1 / np.sqrt(var.astype(np.float64) + eps)
    grad_weight = sum_gx * inv_std
    g_scale = weight * inv_std
    # grad_x = g_scale * g - g_scale * inv_std * grad_weight / M * (x - mean) - g_scale * grad_bias / M
    grad_x = _affine(x, mean, -g_scale * inv_std * grad_weight / m, -g_scale * sum_g / m, grad_y, g_scale)
    return grad_x, grad_weight.astype(x.dtype), sum_g.astype(x.dtype)


def batch_norm_backward_eval(grad_y, x, running_mean, running_var, weight, eps):
    """grad_x = g w / sqrt(running_var + eps), grad_weight = sum g x_hat, grad_bias = sum g."""
    x, grad_y = np.ascontiguousarray(x), np.ascontiguousarray(grad_y)
    sum_g, sum_gx = launch(_block_grad_sums if _short_planes(x) else _channel_grad_sums, x.size, grad_y, x, running_mean)
    inv_std = 1 / np.sqrt(running_var.astype(np.float64) + eps)
    zeros = np.zeros(x.shape[1])
    grad_x = _affine(x, running_mean, zeros, zeros, grad_y, weight * inv_std)
    return grad_x, (sum_gx * inv_std).astype(x.dtype), sum_g.astype(x.dtype)


def batch_norm_update_running(running_mean, running_var, mean, var, count, momentum):
    """In place, O(C) (no kernel needed): rm <- (1-m) rm + m mean, rv <- (1-m) rv + m var count/(count-1)
    (the unbiased variance of `count` values per channel)."""
    running_mean[...] = (1 - momentum) * running_mean + momentum * mean
    running_var[...] = (1 - momentum) * running_var + momentum * count / (count - 1) * var
