"""Host side of ``kernels/conv2d.cu``: the convolutions of docs/kernel_api.md on 'cuda' / 'cuda-sim'.

The plain names are the GEMM path: ``im2col`` gathers the input into
``col (N, kH*kW*C, Ho*Wo)``, row ``(kh*kW + kw)*C + c`` (the one im2col layout of every kernel
set, docs/math.md section 1), and the products run on cuBLAS (NumPy under cuda-sim) with the
weight as the matching matrix ``W_rows (O, kH*kW*C)``. The ``*_direct`` names run the readable
loop kernels.
"""

import numpy as np

from minigan.kernels.cuda_launch import CudaSource, Launcher
from minigan.kernels.geometry import conv2d_output_hw, pair

DIRECT_CONV = ("conv2d_forward_direct", "conv2d_backward_data_direct",
               "conv2d_backward_weight_direct")
"""The readable loop-kernel variants of the convolution, besides the kernel API."""
SOURCE = CudaSource("conv2d", ("im2col", "col2im") + DIRECT_CONV)


class _ConvGeometry:
    """Sizes of one convolution, and as the kernels' C arguments (MG_CONV_PARAMS)."""

    def __init__(self, x_shape, weight_shape, stride, padding, dilation):
        stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
        self.n, self.c, self.h, self.w = (int(v) for v in x_shape)
        self.o, _, self.kh, self.kw = (int(v) for v in weight_shape)
        self.ho, self.wo = conv2d_output_hw((self.h, self.w), (self.kh, self.kw), stride, padding, dilation)
        self.y_shape = (self.n, self.o, self.ho, self.wo)
        self.x_shape = (self.n, self.c, self.h, self.w)
        self.weight_shape = (self.o, self.c, self.kh, self.kw)
        self.col_shape = (self.n, self.kh * self.kw * self.c, self.ho * self.wo)
        self.args = (np.int64(self.n),) + tuple(
            np.int32(v) for v in (self.c, self.h, self.w, self.o, self.kh, self.kw, self.ho,
                                  self.wo, *stride, *padding, *dilation))


def _weight_rows(weight):
    """W_rows[o, (kh*kW + kw)*C + c] = weight[o, c, kh, kw]: the (O, kH*kW*C) matrix whose
    columns match im2col's rows."""
    return weight.transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)


class Conv2dCuda(Launcher):
    """conv2d_forward, conv2d_backward_data, conv2d_backward_weight and their ``*_direct``
    variants."""

    def _im2col(self, x, g):
        col = self.xp.empty(g.col_shape, dtype=x.dtype)
        self._launch(SOURCE, "im2col", x.dtype, (x, col, *g.args), threads=col.size)
        return col

    @staticmethod
    def _add_bias(y, bias):
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        return y

    @staticmethod
    def _data_geometry(grad_y, weight, input_hw, stride, padding, dilation):
        """The convolution whose output gradient is grad_y (N, O, Ho, Wo), for input (N, C, *input_hw)."""
        x_shape = (grad_y.shape[0], weight.shape[1], *pair(input_hw))
        return _ConvGeometry(x_shape, weight.shape, stride, padding, dilation)

    @staticmethod
    def _weight_geometry(grad_y, x, kernel_hw, stride, padding, dilation):
        """The convolution of x with an (O, C, *kernel_hw) weight, O = grad_y.shape[1]."""
        weight_shape = (grad_y.shape[1], x.shape[1], *pair(kernel_hw))
        return _ConvGeometry(x.shape, weight_shape, stride, padding, dilation)

    def conv2d_forward(self, x, weight, bias, stride, padding, dilation):
        """y = W_rows (O, kH*kW*C) @ im2col(x) (N, kH*kW*C, Ho*Wo), reshaped, + bias (GEMM path)."""
        g = _ConvGeometry(x.shape, weight.shape, stride, padding, dilation)
        col = self._im2col(self._input(x), g)
        y = self.xp.matmul(_weight_rows(weight), col).reshape(g.y_shape)
        return self._add_bias(y, bias)

    def conv2d_backward_data(self, grad_y, weight, input_hw, stride, padding, dilation):
        """grad_x = col2im(W_rows^T (kH*kW*C, O) @ grad_y (N, O, Ho*Wo)) (GEMM path)."""
        g = self._data_geometry(grad_y, weight, input_hw, stride, padding, dilation)
        col = self.xp.matmul(_weight_rows(weight).T, grad_y.reshape(g.n, g.o, -1))
        grad_x = self.xp.empty(g.x_shape, dtype=grad_y.dtype)
        self._launch(SOURCE, "col2im", grad_x.dtype, (self._input(col), grad_x, *g.args),
                     threads=grad_x.size)
        return grad_x

    def conv2d_backward_weight(self, grad_y, x, kernel_hw, stride, padding, dilation):
        """grad_W_rows = sum_n grad_y[n] (O, Ho*Wo) @ im2col(x)[n]^T (GEMM path, one tensordot),
        read back as (O, C, kH, kW)."""
        g = self._weight_geometry(grad_y, x, kernel_hw, stride, padding, dilation)
        col = self._im2col(self._input(x), g)
        grad_rows = self.xp.tensordot(grad_y.reshape(g.n, g.o, -1), col, axes=([0, 2], [0, 2]))
        grad_w = grad_rows.reshape(g.o, g.kh, g.kw, g.c).transpose(0, 3, 1, 2)
        return self.xp.ascontiguousarray(grad_w)

    def conv2d_forward_direct(self, x, weight, bias, stride, padding, dilation):
        """y[n,o,oh,ow] = sum_{c,kh,kw} weight[o,c,kh,kw] * x[n,c,oh*sH-pH+kh*dH, ow*sW-pW+kw*dW] + bias[o]."""
        g = _ConvGeometry(x.shape, weight.shape, stride, padding, dilation)
        y = self.xp.empty(g.y_shape, dtype=x.dtype)
        self._launch(SOURCE, "conv2d_forward_direct", y.dtype,
                     (self._input(x), self._input(weight), y, *g.args), threads=y.size)
        return self._add_bias(y, bias)

    def conv2d_backward_data_direct(self, grad_y, weight, input_hw, stride, padding, dilation):
        """grad_x[n,c,h,w] = sum over (o, kh, kw) and the (oh, ow) that (h, w) feeds of
        grad_y[n,o,oh,ow] * weight[o,c,kh,kw]."""
        g = self._data_geometry(grad_y, weight, input_hw, stride, padding, dilation)
        grad_x = self.xp.empty(g.x_shape, dtype=grad_y.dtype)
        self._launch(SOURCE, "conv2d_backward_data_direct", grad_x.dtype,
                     (self._input(grad_y), self._input(weight), grad_x, *g.args),
                     threads=grad_x.size)
        return grad_x

    def conv2d_backward_weight_direct(self, grad_y, x, kernel_hw, stride, padding, dilation):
        """grad_weight[o,c,kh,kw] = sum_{n,oh,ow} grad_y[n,o,oh,ow] * x[n,c,oh*sH-pH+kh*dH, ow*sW-pW+kw*dW],
        one block (a shared-memory reduction) per weight element."""
        g = self._weight_geometry(grad_y, x, kernel_hw, stride, padding, dilation)
        grad_w = self.xp.empty(g.weight_shape, dtype=x.dtype)
        self._launch(SOURCE, "conv2d_backward_weight_direct", grad_w.dtype,
                     (self._input(grad_y), self._input(x), grad_w, *g.args), blocks=grad_w.size)
        return grad_w
