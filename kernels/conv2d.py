"""Numba CPU kernels for conv2d (cross-correlation, as in PyTorch).

Two paths with one signature each (see docs/kernel_api.md):

* `*_direct`: readable loops straight from the formula
  `y[n, o, ho, wo] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * x[n, c, ho*sh - ph + i*dh, wo*sw - pw + j*dw]`
  (taps that fall in the padding contribute zero); float64 accumulators, and the sums are compiled
  with `fastmath={"reassoc"}` so LLVM may reorder them.
* the plain names, the fast default: im2col + one BLAS GEMM. The column matrix is
  `cols[(c*kH + i)*kW + j, n*Ho*Wo + ho*Wo + wo] = xpad[n, c, ho*sh + i*dh, wo*sw + j*dw]`,
  shape `(C*kH*kW, N*Ho*Wo)`, so each pass is a single large matrix product:
  forward `y = W @ cols`, backward-data `grad_cols = W.T @ grad_y` then col2im (scatter-add),
  backward-weight `grad_W = grad_y @ cols.T`, with `W (O, C*kH*kW)` and `grad_y` as `(O, N*Ho*Wo)`.
  Against one GEMM per image (cols (N, C*kH*kW, Ho*Wo), which writes y straight into NCHW), this
  layout was faster over the three passes on the DCGAN 64->128 (16x16) and 128->256 (8x8) layers,
  where per-image products are thin, and slower on the 3->64 (32x32) first layer.
"""

import numpy as np
from numba import njit, prange

from minigan.reference import check_conv2d, check_dtype, conv2d_output_hw, pair


# ----------------------------------------------------------------------------- jitted cores

@njit(cache=True, parallel=True)
def _im2col(x, kernel_hw, stride, padding, dilation, cols):
    """cols[(c*kH + i)*kW + j, n, ho, wo] = x[n, c, ho*sh - ph + i*dh, wo*sw - pw + j*dw], 0 outside."""
    n_img, channels, height, width = x.shape
    kh, kw = kernel_hw
    _, _, out_h, out_w = cols.shape
    for row in prange(channels * kh * kw):
        c, i, j = row // (kh * kw), (row // kw) % kh, row % kw
        for n in range(n_img):
            for ho in range(out_h):
                h = ho * stride[0] - padding[0] + i * dilation[0]
                for wo in range(out_w):
                    w = wo * stride[1] - padding[1] + j * dilation[1]
                    inside = 0 <= h < height and 0 <= w < width
                    cols[row, n, ho, wo] = x[n, c, h, w] if inside else 0


@njit(cache=True, parallel=True)
def _col2im(cols, kernel_hw, stride, padding, dilation, grad_x):
    """The adjoint of `_im2col`: grad_x[n, c, h, w] += cols[(c*kH + i)*kW + j, n, ho, wo] for every tap
    landing on (h, w). One (n, c) plane per thread, so no two threads write the same element."""
    n_img, channels, height, width = grad_x.shape
    kh, kw = kernel_hw
    _, _, out_h, out_w = cols.shape
    for plane in prange(n_img * channels):
        n, c = plane // channels, plane % channels
        grad_x[n, c] = 0
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for ho in range(out_h):
                    h = ho * stride[0] - padding[0] + i * dilation[0]
                    if 0 <= h < height:
                        for wo in range(out_w):
                            w = wo * stride[1] - padding[1] + j * dilation[1]
                            if 0 <= w < width:
                                grad_x[n, c, h, w] += cols[row, n, ho, wo]


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _forward_direct(x, weight, bias, stride, padding, dilation, y):
    """y[n, o, ho, wo] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * x[n, c, h, w],
    h = ho*sh - ph + i*dh, w = wo*sw - pw + j*dw; one (n, o) output plane per iteration."""
    n_img, channels, height, width = x.shape
    out_c, _, kh, kw = weight.shape
    _, _, out_h, out_w = y.shape
    for plane in prange(n_img * out_c):
        n, o = plane // out_c, plane % out_c
        for ho in range(out_h):
            for wo in range(out_w):
                acc = 0.0
                for c in range(channels):
                    for i in range(kh):
                        h = ho * stride[0] - padding[0] + i * dilation[0]
                        if 0 <= h < height:
                            for j in range(kw):
                                w = wo * stride[1] - padding[1] + j * dilation[1]
                                if 0 <= w < width:
                                    acc += weight[o, c, i, j] * x[n, c, h, w]
                y[n, o, ho, wo] = acc + bias[o]


@njit(cache=True, parallel=True)
def _backward_data_direct(grad_y, weight, stride, padding, dilation, grad_x):
    """grad_x[n, c, h, w] = sum over (o, ho, wo, i, j) with h = ho*sh - ph + i*dh, w = wo*sw - pw + j*dw
    of grad_y[n, o, ho, wo] * weight[o, c, i, j]: each output scatters back to the inputs it read.
    One (n, c) plane per iteration."""
    n_img, out_c, out_h, out_w = grad_y.shape
    _, channels, kh, kw = weight.shape
    _, _, height, width = grad_x.shape
    for plane in prange(n_img * channels):
        n, c = plane // channels, plane % channels
        grad_x[n, c] = 0
        for o in range(out_c):
            for ho in range(out_h):
                for wo in range(out_w):
                    g = grad_y[n, o, ho, wo]
                    for i in range(kh):
                        h = ho * stride[0] - padding[0] + i * dilation[0]
                        if 0 <= h < height:
                            for j in range(kw):
                                w = wo * stride[1] - padding[1] + j * dilation[1]
                                if 0 <= w < width:
                                    grad_x[n, c, h, w] += g * weight[o, c, i, j]


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _backward_weight_direct(grad_y, x, stride, padding, dilation, grad_w):
    """grad_w[o, c, i, j] = sum_{n, ho, wo} grad_y[n, o, ho, wo] * x[n, c, ho*sh - ph + i*dh, wo*sw - pw + j*dw];
    one (o, c) kernel slice per iteration."""
    n_img, out_c, out_h, out_w = grad_y.shape
    _, channels, height, width = x.shape
    _, _, kh, kw = grad_w.shape
    for pair_oc in prange(out_c * channels):
        o, c = pair_oc // channels, pair_oc % channels
        for i in range(kh):
            for j in range(kw):
                acc = 0.0
                for n in range(n_img):
                    for ho in range(out_h):
                        h = ho * stride[0] - padding[0] + i * dilation[0]
                        if 0 <= h < height:
                            for wo in range(out_w):
                                w = wo * stride[1] - padding[1] + j * dilation[1]
                                if 0 <= w < width:
                                    acc += grad_y[n, o, ho, wo] * x[n, c, h, w]
                grad_w[o, c, i, j] = acc


# ----------------------------------------------------------------------------- argument handling

def _geometry(op, x_shape, weight_shape, stride, padding, dilation):
    """Validated (stride, padding, dilation) pairs and the output (Ho, Wo)."""
    check_conv2d(op, x_shape, weight_shape)
    stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
    out_hw = conv2d_output_hw(op, x_shape[2:], weight_shape[2:], stride, padding, dilation)
    return stride, padding, dilation, out_hw


def _check_grad_y(op, grad_y, expected_shape):
    if grad_y.shape != expected_shape:
        raise ValueError(f"{op}: grad_y shape {grad_y.shape} should be {expected_shape}")


def _prepare_forward(op, x, weight, bias, stride, padding, dilation):
    """Checked arguments for a forward pass and its empty output `y (N, O, Ho, Wo)`."""
    check_dtype(op, x=x, weight=weight, bias=bias)
    geometry = _geometry(op, x.shape, weight.shape, stride, padding, dilation)
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias shape {bias.shape} should be ({weight.shape[0]},) for weight {weight.shape}")
    y = np.empty((x.shape[0], weight.shape[0]) + geometry[3], dtype=x.dtype)
    return geometry, y


def _prepare_backward_data(op, grad_y, weight, input_hw, stride, padding, dilation):
    """Checked geometry for a backward-data pass and its empty output `grad_x (N, C, H, W)`."""
    check_dtype(op, grad_y=grad_y, weight=weight)
    x_shape = (grad_y.shape[0], weight.shape[1]) + pair(input_hw)
    geometry = _geometry(op, x_shape, weight.shape, stride, padding, dilation)
    _check_grad_y(op, grad_y, (grad_y.shape[0], weight.shape[0]) + geometry[3])
    return geometry, np.empty(x_shape, dtype=grad_y.dtype)


def _prepare_backward_weight(op, grad_y, x, kernel_hw, stride, padding, dilation):
    """Checked geometry for a backward-weight pass and its empty output `grad_w (O, C, kH, kW)`."""
    check_dtype(op, grad_y=grad_y, x=x)
    w_shape = (grad_y.shape[1], x.shape[1]) + pair(kernel_hw)
    geometry = _geometry(op, x.shape, w_shape, stride, padding, dilation)
    _check_grad_y(op, grad_y, (x.shape[0], w_shape[0]) + geometry[3])
    return geometry, np.empty(w_shape, dtype=x.dtype)


def _columns(x, kernel_hw, stride, padding, dilation, out_hw):
    """im2col of x as the (C*kH*kW, N*Ho*Wo) matrix."""
    n, c = x.shape[:2]
    cols = np.empty((c * kernel_hw[0] * kernel_hw[1], n) + out_hw, dtype=x.dtype)
    _im2col(np.ascontiguousarray(x), kernel_hw, stride, padding, dilation, cols)
    return cols.reshape(cols.shape[0], -1)


def _as_onp(grad_y):
    """grad_y (N, O, Ho, Wo) as the (O, N*Ho*Wo) matrix matching the column layout."""
    n, o = grad_y.shape[:2]
    return np.ascontiguousarray(grad_y.reshape(n, o, -1).transpose(1, 0, 2)).reshape(o, -1)


# ----------------------------------------------------------------------------- the kernel API

def conv2d_forward(x, weight, bias, stride, padding, dilation):
    """y = W (O, C*kH*kW) @ im2col(x) (C*kH*kW, N*Ho*Wo), viewed as (N, O, Ho, Wo), plus bias[o]."""
    (stride, padding, dilation, out_hw), y = _prepare_forward(
        "conv2d_forward", x, weight, bias, stride, padding, dilation)
    n, o = y.shape[:2]
    cols = _columns(x, weight.shape[2:], stride, padding, dilation, out_hw)
    y_onp = (weight.reshape(o, -1) @ cols).reshape(o, n, *out_hw).transpose(1, 0, 2, 3)
    if bias is None:
        y[...] = y_onp
    else:
        np.add(y_onp, bias.reshape(1, o, 1, 1), out=y)
    return y


def conv2d_backward_data(grad_y, weight, input_hw, stride, padding, dilation):
    """grad_x = col2im(W.T (C*kH*kW, O) @ grad_y (O, N*Ho*Wo)): the adjoint of `conv2d_forward` in x."""
    (stride, padding, dilation, out_hw), grad_x = _prepare_backward_data(
        "conv2d_backward_data", grad_y, weight, input_hw, stride, padding, dilation)
    grad_cols = weight.reshape(weight.shape[0], -1).T @ _as_onp(grad_y)
    grad_cols = grad_cols.reshape(grad_cols.shape[0], grad_y.shape[0], *out_hw)
    _col2im(grad_cols, weight.shape[2:], stride, padding, dilation, grad_x)
    return grad_x


def conv2d_backward_weight(grad_y, x, kernel_hw, stride, padding, dilation):
    """grad_W = grad_y (O, N*Ho*Wo) @ im2col(x).T (N*Ho*Wo, C*kH*kW), viewed as (O, C, kH, kW)."""
    (stride, padding, dilation, out_hw), grad_w = _prepare_backward_weight(
        "conv2d_backward_weight", grad_y, x, kernel_hw, stride, padding, dilation)
    cols = _columns(x, grad_w.shape[2:], stride, padding, dilation, out_hw)
    np.matmul(_as_onp(grad_y), cols.T, out=grad_w.reshape(grad_w.shape[0], -1))
    return grad_w


def conv2d_forward_direct(x, weight, bias, stride, padding, dilation):
    """`conv2d_forward` by explicit loops over (n, o, ho, wo, c, i, j)."""
    (stride, padding, dilation, _), y = _prepare_forward(
        "conv2d_forward_direct", x, weight, bias, stride, padding, dilation)
    bias = np.zeros(weight.shape[0], dtype=x.dtype) if bias is None else bias
    _forward_direct(np.ascontiguousarray(x), np.ascontiguousarray(weight), bias, stride, padding, dilation, y)
    return y


def conv2d_backward_data_direct(grad_y, weight, input_hw, stride, padding, dilation):
    """`conv2d_backward_data` by explicit loops: every output scatters grad_y * weight back to its inputs."""
    (stride, padding, dilation, _), grad_x = _prepare_backward_data(
        "conv2d_backward_data_direct", grad_y, weight, input_hw, stride, padding, dilation)
    _backward_data_direct(np.ascontiguousarray(grad_y), np.ascontiguousarray(weight),
                          stride, padding, dilation, grad_x)
    return grad_x


def conv2d_backward_weight_direct(grad_y, x, kernel_hw, stride, padding, dilation):
    """`conv2d_backward_weight` by explicit loops over (o, c, i, j, n, ho, wo)."""
    (stride, padding, dilation, _), grad_w = _prepare_backward_weight(
        "conv2d_backward_weight_direct", grad_y, x, kernel_hw, stride, padding, dilation)
    _backward_weight_direct(np.ascontiguousarray(grad_y), np.ascontiguousarray(x),
                            stride, padding, dilation, grad_w)
    return grad_w
