"""Plain-NumPy reference of every kernel in docs/kernel_api.md: the executable spec.

Each function states one kernel's contract as directly as NumPy allows; the Numba set
(`minigan.kernels`) and the CUDA set are tested against it. Arrays keep their dtype: float32 in,
float32 out (NumPy 2 treats Python scalars as "weak", so `0.5 * x` stays float32).

Like every kernel set, it assumes input that `minigan.functional` has validated; the shape rules
come from `minigan.kernels.geometry`.

Notation: `x (N, C, H, W)`, `weight (O, C, kH, kW)`, stride `(sh, sw)`, padding `(ph, pw)`,
dilation `(dh, dw)`, and `xpad` is `x` with `ph` rows / `pw` columns of zeros on each side.
"""

import math

import numpy as np

from minigan.kernels.geometry import conv2d_output_hw

KERNEL_API = (
    "conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight",
    "batch_norm_forward_train", "batch_norm_forward_eval",
    "batch_norm_backward_train", "batch_norm_backward_eval", "batch_norm_update_running",
    "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
    "tanh_forward", "tanh_backward", "sigmoid_forward", "sigmoid_backward",
    "bce_forward", "bce_backward", "bce_with_logits_forward", "bce_with_logits_backward",
    "mse_forward", "mse_backward", "kl_normal_forward", "kl_normal_backward",
    "max_pool2d_forward", "max_pool2d_backward", "max_unpool2d_forward", "max_unpool2d_backward",
    "sgd_step", "adam_step",
    "upsample_nearest2d_forward", "upsample_nearest2d_backward", "embedding_forward", "embedding_backward",
    "softplus_forward", "softplus_backward", "l1_forward", "l1_backward",
    "cross_entropy_forward", "cross_entropy_backward", "nll_forward", "nll_backward", "rmsprop_step",
)
"""Names every kernel set must export, with the parameter names used here."""


# ----------------------------------------------------------------------------- shape helpers

def _pad(x, padding, value=0.0):
    """`x (N, C, H, W)` with `ph` rows and `pw` columns of `value` added on each side."""
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _tap(xp, i, j, out_hw, stride, dilation):
    """The `(N, C, Ho, Wo)` view `xp[:, :, ho*sh + i*dh, wo*sw + j*dw]` seen by kernel tap `(i, j)`."""
    (ho, wo), (sh, sw), (dh, dw) = out_hw, stride, dilation
    return xp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]


# ----------------------------------------------------------------------------- convolution

def conv2d_forward(x, weight, bias, stride, padding, dilation):
    """Cross-correlation, summed over the kH*kW kernel taps:

        y[n, o, ho, wo] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * xpad[n, c, ho*sh + i*dh, wo*sw + j*dw]
    """
    n, o, (kh, kw) = x.shape[0], weight.shape[0], weight.shape[2:]
    out_hw = conv2d_output_hw(x.shape[2:], (kh, kw), stride, padding, dilation)
    xp = _pad(x, padding)
    y = np.zeros((n, o) + out_hw, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            taps = _tap(xp, i, j, out_hw, stride, dilation)                     # (N, C, Ho, Wo)
            y += np.moveaxis(np.tensordot(taps, weight[:, :, i, j], axes=([1], [1])), -1, 1)
    if bias is not None:
        y += bias.reshape(1, o, 1, 1)
    return y


def conv2d_backward_data(grad_y, weight, input_hw, stride, padding, dilation):
    """Adjoint of `conv2d_forward` in x (a transposed convolution): every tap scatters back,

        grad_xpad[n, c, ho*sh + i*dh, wo*sw + j*dw] += sum_o grad_y[n, o, ho, wo] * weight[o, c, i, j]

    and `grad_x` is `grad_xpad` with the padding cut off.
    """
    (h, w), (ph, pw), (kh, kw) = input_hw, padding, weight.shape[2:]
    n, c = grad_y.shape[0], weight.shape[1]
    out_hw = grad_y.shape[2:]
    grad_xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=grad_y.dtype)
    for i in range(kh):
        for j in range(kw):
            target = _tap(grad_xp, i, j, out_hw, stride, dilation)             # a view: += writes through
            target += np.moveaxis(np.tensordot(grad_y, weight[:, :, i, j], axes=([1], [0])), -1, 1)
    return np.ascontiguousarray(grad_xp[:, :, ph: ph + h, pw: pw + w])


def conv2d_backward_weight(grad_y, x, kernel_hw, stride, padding, dilation):
    """Gradient of `conv2d_forward` in weight: correlate grad_y with the input,

        grad_weight[o, c, i, j] = sum_{n, ho, wo} grad_y[n, o, ho, wo] * xpad[n, c, ho*sh + i*dh, wo*sw + j*dw]
    """
    kh, kw = kernel_hw
    o, out_hw = grad_y.shape[1], grad_y.shape[2:]
    xp = _pad(x, padding)
    grad_w = np.empty((o, x.shape[1], kh, kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            taps = _tap(xp, i, j, out_hw, stride, dilation)
            grad_w[:, :, i, j] = np.tensordot(grad_y, taps, axes=([0, 2, 3], [0, 2, 3]))
    return grad_w


# ----------------------------------------------------------------------------- batch norm
# x is (N, C, L); per-channel vectors v (C,) broadcast as v[None, :, None]; M = N*L.

def _per_channel(v):
    return v.reshape(1, -1, 1)


def batch_norm_forward_train(x, weight, bias, eps):
    """mean = sum_{n,l} x / M, var = sum_{n,l} (x - mean)^2 / M (biased),
    y = weight * (x - mean) / sqrt(var + eps) + bias. Returns (y, mean, var)."""
    mean = x.mean(axis=(0, 2))
    var = ((x - _per_channel(mean)) ** 2).mean(axis=(0, 2))
    y = batch_norm_forward_eval(x, mean, var, weight, bias, eps)
    return y, mean, var


def batch_norm_forward_eval(x, running_mean, running_var, weight, bias, eps):
    """y = weight * (x - running_mean) / sqrt(running_var + eps) + bias."""
    x_hat = (x - _per_channel(running_mean)) / np.sqrt(_per_channel(running_var) + eps)
    return _per_channel(weight) * x_hat + _per_channel(bias)


def batch_norm_backward_train(grad_y, x, mean, var, weight, eps):
    """With x_hat = (x - mean) / sqrt(var + eps), the batch statistics differentiated too:

        grad_bias   = sum_{n,l} grad_y
        grad_weight = sum_{n,l} grad_y * x_hat
        grad_x      = weight / sqrt(var + eps) * (grad_y - grad_bias / M - x_hat * grad_weight / M)
    """
    m = x.shape[0] * x.shape[2]
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - _per_channel(mean)) * _per_channel(inv_std)
    grad_bias = grad_y.sum(axis=(0, 2))
    grad_weight = (grad_y * x_hat).sum(axis=(0, 2))
    grad_x = _per_channel(weight * inv_std) * (
        grad_y - _per_channel(grad_bias) / m - x_hat * _per_channel(grad_weight) / m)
    return grad_x, grad_weight, grad_bias


def batch_norm_backward_eval(grad_y, x, running_mean, running_var, weight, eps):
    """Running statistics are constants: grad_x = grad_y * weight / sqrt(running_var + eps),
    grad_weight = sum_{n,l} grad_y * x_hat, grad_bias = sum_{n,l} grad_y."""
    inv_std = 1 / np.sqrt(running_var + eps)
    x_hat = (x - _per_channel(running_mean)) * _per_channel(inv_std)
    grad_x = grad_y * _per_channel(weight * inv_std)
    return grad_x, (grad_y * x_hat).sum(axis=(0, 2)), grad_y.sum(axis=(0, 2))


def batch_norm_update_running(running_mean, running_var, mean, var, count, momentum):
    """In place: rm <- (1-m)*rm + m*mean, rv <- (1-m)*rv + m*var*count/(count-1) (unbiased)."""
    running_mean *= 1 - momentum
    running_mean += momentum * mean
    running_var *= 1 - momentum
    running_var += momentum * count / (count - 1) * var


# ----------------------------------------------------------------------------- activations

def relu_forward(x):
    """y = max(x, 0)."""
    return np.maximum(x, 0)


def relu_backward(grad_y, x):
    """grad_x = grad_y * [x > 0]."""
    return grad_y * (x > 0)


def leaky_relu_forward(x, negative_slope):
    """y = x if x > 0 else negative_slope * x."""
    return np.where(x > 0, x, negative_slope * x)


def leaky_relu_backward(grad_y, x, negative_slope):
    """grad_x = grad_y * (1 if x > 0 else negative_slope)."""
    return grad_y * np.where(x > 0, 1, negative_slope).astype(grad_y.dtype)


def tanh_forward(x):
    """y = tanh(x)."""
    return np.tanh(x)


def tanh_backward(grad_y, y):
    """grad_x = grad_y * (1 - y^2), from the forward's output y."""
    return grad_y * (1 - y * y)


def sigmoid_forward(x):
    """y = 1 / (1 + e^-x), evaluated with e = e^-|x| <= 1 so nothing overflows:
    y = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(grad_y, y):
    """grad_x = grad_y * y * (1 - y), from the forward's output y."""
    return grad_y * y * (1 - y)


# ----------------------------------------------------------------------------- losses

def _reduce(loss, reduction):
    """'none': the elementwise loss; 'sum' / 'mean': its sum / mean as a 0-d array."""
    if reduction == "none":
        return loss
    return np.asarray(loss.sum() if reduction == "sum" else loss.mean())


def _expand(grad_out, shape, reduction):
    """g: grad_out broadcast to the input shape (divided by the element count for 'mean')."""
    if reduction == "none":
        return grad_out
    return np.broadcast_to(grad_out / math.prod(shape) if reduction == "mean" else grad_out, shape)


def bce_forward(p, target, reduction):
    """l = -(t * max(log p, -100) + (1 - t) * max(log(1 - p), -100)), reduced."""
    with np.errstate(divide="ignore"):
        log_p, log_1mp = np.maximum(np.log(p), -100), np.maximum(np.log(1 - p), -100)
    return _reduce(-(target * log_p + (1 - target) * log_1mp), reduction)


def bce_backward(grad_out, p, target, reduction):
    """grad_p = g * (p - t) / max(p * (1 - p), 1e-12)."""
    g = _expand(grad_out, p.shape, reduction)
    return g * (p - target) / np.maximum(p * (1 - p), 1e-12)


def bce_with_logits_forward(logits, target, reduction):
    """l = max(z, 0) - z * t + log(1 + e^-|z|), the overflow-free form of bce(sigmoid(z), t)."""
    z = logits
    return _reduce(np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z))), reduction)


def bce_with_logits_backward(grad_out, logits, target, reduction):
    """grad_z = g * (sigmoid(z) - t)."""
    g = _expand(grad_out, logits.shape, reduction)
    return g * (sigmoid_forward(logits) - target)


def mse_forward(x, target, reduction):
    """l = (x - t)^2, reduced."""
    return _reduce((x - target) ** 2, reduction)


def mse_backward(grad_out, x, target, reduction):
    """grad_x = g * 2 (x - t) (and grad_target = -grad_x, left to the caller)."""
    g = _expand(grad_out, x.shape, reduction)
    return g * 2 * (x - target)


def kl_normal_forward(mu, logvar, reduction):
    """KL(N(mu, e^lv) || N(0, 1)) per element: l = -1/2 (1 + lv - mu^2 - e^lv), reduced."""
    return _reduce(-0.5 * (1 + logvar - mu * mu - np.exp(logvar)), reduction)


def kl_normal_backward(grad_out, mu, logvar, reduction):
    """(grad_mu, grad_logvar) = (g * mu, g * 1/2 (e^lv - 1))."""
    g = _expand(grad_out, mu.shape, reduction)
    return g * mu, g * 0.5 * (np.exp(logvar) - 1)


# ----------------------------------------------------------------------------- pooling
# Indices are flat positions h*W + w inside each (n, c) plane, int64, as in PyTorch.

def _planes(a):
    """`a (N, C, ...)` viewed as `(N*C, plane size)`."""
    return a.reshape(a.shape[0] * a.shape[1], -1)


def max_pool2d_forward(x, kernel_size, stride, padding):
    """y[n, c, ho, wo] = max_{i < kH, j < kW} xpad[n, c, ho*sh + i, wo*sw + j], padding = -inf;
    indices = h*W + w of that maximum in the unpadded plane: the first maximum in row-major
    window order, or the last NaN (NaN propagates, as in PyTorch). Returns (y, indices)."""
    (h, w), (kh, kw) = x.shape[2:], kernel_size
    out_hw = conv2d_output_hw((h, w), kernel_size, stride, padding)
    xp = _pad(x, padding, value=-np.inf)
    top = np.arange(out_hw[0])[:, None] * stride[0] - padding[0]        # window origins, unpadded
    left = np.arange(out_hw[1])[None, :] * stride[1] - padding[1]
    y = np.full(x.shape[:2] + out_hw, -np.inf, dtype=x.dtype)
    indices = np.broadcast_to(np.maximum(top, 0) * w + np.maximum(left, 0), y.shape).astype(np.int64)
    for i in range(kh):
        for j in range(kw):
            v = _tap(xp, i, j, out_hw, stride, (1, 1))
            better = (v > y) | np.isnan(v)
            y = np.where(better, v, y)
            indices = np.where(better, (top + i) * w + (left + j), indices)
    return y, indices


def max_pool2d_backward(grad_y, indices, input_hw):
    """grad_x[n, c].flat[indices[n, c, ho, wo]] += grad_y[n, c, ho, wo] (scatter-add)."""
    grad_x = np.zeros(grad_y.shape[:2] + tuple(input_hw), dtype=grad_y.dtype)
    rows = np.arange(_planes(grad_x).shape[0])[:, None]
    np.add.at(_planes(grad_x), (rows, _planes(indices)), _planes(grad_y))
    return grad_x


def max_unpool2d_forward(x, indices, output_hw):
    """y = zeros (N, C, *output_hw); y[n, c].flat[indices[n, c, h, w]] = x[n, c, h, w]
    (a repeated index keeps the last value in row-major order)."""
    y = np.zeros(x.shape[:2] + tuple(output_hw), dtype=x.dtype)
    np.put_along_axis(_planes(y), _planes(indices), _planes(x), axis=1)
    return y


def max_unpool2d_backward(grad_y, indices):
    """grad_x[n, c, h, w] = grad_y[n, c].flat[indices[n, c, h, w]] (gather)."""
    return np.take_along_axis(_planes(grad_y), _planes(indices), axis=1).reshape(indices.shape)


# ----------------------------------------------------------------------------- optimizers

def sgd_step(param, grad, momentum_buf, lr, momentum, weight_decay, first_step):
    """In place (PyTorch's SGD without dampening/nesterov):

        d = g + wd * p;  if momentum: buf <- d (first step) or momentum * buf + d;  d = buf
        p <- p - lr * d
    """
    d = grad + weight_decay * param
    if momentum != 0:
        if first_step:
            momentum_buf[...] = d
        else:
            momentum_buf *= momentum
            momentum_buf += d
        d = momentum_buf
    param -= lr * d


def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    """In place (PyTorch's Adam, L2 weight decay), step counting from 1:

        g = grad + wd * p
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        p <- p - (lr / (1 - beta1^step)) * (m / (sqrt(v) / sqrt(1 - beta2^step) + eps))
    """
    g = grad + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    step_size = lr / (1 - beta1 ** step)
    denom = np.sqrt(exp_avg_sq) / math.sqrt(1 - beta2 ** step) + eps
    param -= step_size * (exp_avg / denom)


# ----------------------------------------------------------------------------- torch-surface ops
# Nearest upsampling, embedding lookup, softplus, L1 / cross-entropy / NLL losses, RMSprop.
# Class scores are (N, C); class targets are int64 (N,) in [0, C).

def upsample_nearest2d_forward(x, scale):
    """y[n, c, h, w] = x[n, c, h // sh, w // sw], y of shape (N, C, H*sh, W*sw)."""
    return np.repeat(np.repeat(x, scale[0], axis=2), scale[1], axis=3)


def upsample_nearest2d_backward(grad_y, scale):
    """grad_x[n, c, i, j] = sum_{a < sh, b < sw} grad_y[n, c, i*sh + a, j*sw + b]."""
    (n, c, h, w), (sh, sw) = grad_y.shape, scale
    return grad_y.reshape(n, c, h // sh, sh, w // sw, sw).sum(axis=(3, 5))


def embedding_forward(weight, indices):
    """y[p, d] = weight[indices[p], d] for every position p of indices; y (*indices.shape, D)."""
    return weight[indices]


def embedding_backward(grad_y, indices, num_embeddings):
    """grad_weight[k, d] = sum_{p : indices[p] = k} grad_y[p, d] (scatter-add), (num_embeddings, D)."""
    dim = grad_y.shape[-1]
    grad_weight = np.zeros((num_embeddings, dim), dtype=grad_y.dtype)
    np.add.at(grad_weight, indices.reshape(-1), grad_y.reshape(-1, dim))
    return grad_weight


def softplus_forward(x, beta, threshold):
    """y = log(1 + e^(beta x)) / beta, and y = x where beta x > threshold (as PyTorch)."""
    bx = beta * x
    return np.where(bx > threshold, x, np.log1p(np.exp(np.minimum(bx, threshold))) / beta)


def softplus_backward(grad_y, x, beta, threshold):
    """grad_x = grad_y * sigmoid(beta x), and grad_y where beta x > threshold."""
    bx = beta * x
    return np.where(bx > threshold, grad_y, grad_y * sigmoid_forward(bx))


def l1_forward(x, target, reduction):
    """l = |x - t|, reduced."""
    return _reduce(np.abs(x - target), reduction)


def l1_backward(grad_out, x, target, reduction):
    """grad_x = g * sign(x - t) (0 where x = t, as PyTorch; grad_target = -grad_x)."""
    g = _expand(grad_out, x.shape, reduction)
    return g * np.sign(x - target)


def _log_softmax_rows(z):
    """log softmax of each row: z - max - log sum e^(z - max)."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy_forward(logits, target, reduction):
    """l_n = log sum_c e^(z[n, c]) - z[n, t_n] (evaluated after subtracting the row maximum), reduced over n."""
    rows = np.arange(logits.shape[0])
    return _reduce(-_log_softmax_rows(logits)[rows, target], reduction)


def cross_entropy_backward(grad_out, logits, target, reduction):
    """grad_z[n, c] = g_n * (softmax(z[n])_c - [c = t_n])."""
    g = _expand(grad_out, target.shape, reduction)
    grad = np.exp(_log_softmax_rows(logits))
    grad[np.arange(logits.shape[0]), target] -= 1
    return g[:, None] * grad


def nll_forward(logp, target, reduction):
    """l_n = -logp[n, t_n], reduced over n."""
    return _reduce(-logp[np.arange(logp.shape[0]), target], reduction)


def nll_backward(grad_out, logp, target, reduction):
    """grad_logp[n, c] = -g_n * [c = t_n]."""
    g = _expand(grad_out, target.shape, reduction)
    grad = np.zeros_like(logp)
    grad[np.arange(logp.shape[0]), target] = -g
    return grad


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buf, lr, alpha, eps, weight_decay, momentum):
    """In place (PyTorch's RMSprop); `grad_avg` is None unless centered, `momentum_buf` None when momentum == 0:

        g = grad + wd * p
        v <- alpha * v + (1 - alpha) * g^2
        centered: ga <- alpha * ga + (1 - alpha) * g,  avg = sqrt(v - ga^2) + eps;  else avg = sqrt(v) + eps
        momentum: buf <- momentum * buf + g / avg,  p <- p - lr * buf;  else p <- p - lr * g / avg
    """
    g = grad + weight_decay * param
    square_avg *= alpha
    square_avg += (1 - alpha) * g * g
    if grad_avg is not None:
        grad_avg *= alpha
        grad_avg += (1 - alpha) * g
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps
    if momentum != 0:
        momentum_buf *= momentum
        momentum_buf += g / avg
        param -= lr * momentum_buf
    else:
        param -= lr * (g / avg)
