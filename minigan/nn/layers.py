"""Layers: thin Modules over ``minigan.functional`` (the math lives there)."""

import numpy as np

from minigan import functional as F
from minigan.nn import init
from minigan.nn.module import Module, Parameter
from minigan.tensor import float32, ones, zeros


def _empty_parameter(shape, dtype, device):
    return Parameter(zeros(*shape, dtype=dtype, device=device))


class Linear(Module):
    """y = x Wᵀ + b, W (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, dtype=float32, device="cpu"):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty_parameter((out_features, in_features), dtype, device)
        self.bias = _empty_parameter((out_features,), dtype, device) if bias else None
        init.default_uniform_(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class _ConvNd(Module):
    transposed = False

    def __init__(self, weight_shape, bias_size, options, dtype, device):
        super().__init__()
        self.options = options
        self.weight = _empty_parameter(weight_shape, dtype, device)
        self.bias = _empty_parameter((bias_size,), dtype, device) if bias_size else None
        init.default_uniform_(self.weight, self.bias, transposed=self.transposed)

    def extra_repr(self):
        c_out, c_in = self.weight.shape[:2][::-1] if self.transposed else self.weight.shape[:2]
        options = ", ".join(f"{k}={v}" for k, v in self.options.items())
        return f"{c_in}, {c_out}, kernel_size={self.weight.shape[2:]}, {options}"


class Conv2d(_ConvNd):
    """2-D convolution, weight (out_channels, in_channels, kH, kW)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True,
                 dtype=float32, device="cpu"):
        kernel = F._pair(kernel_size, "kernel_size", "Conv2d", 1)
        super().__init__((out_channels, in_channels, *kernel), out_channels if bias else 0,
                         dict(stride=stride, padding=padding, dilation=dilation), dtype, device)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, **self.options)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution, weight (in_channels, out_channels, kH, kW)."""

    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, bias=True,
                 dilation=1, dtype=float32, device="cpu"):
        kernel = F._pair(kernel_size, "kernel_size", "ConvTranspose2d", 1)
        super().__init__((in_channels, out_channels, *kernel), out_channels if bias else 0,
                         dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation),
                         dtype, device)

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, **self.options)


class _BatchNorm(Module):
    input_ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=float32, device="cpu"):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(ones(num_features, dtype=dtype, device=device)) if affine else None
        self.bias = Parameter(zeros(num_features, dtype=dtype, device=device)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
        else:
            self.running_mean = self.running_var = None

    def forward(self, x):
        if x.ndim not in self.input_ndims:
            raise ValueError(f"{type(self).__name__}: expected {' or '.join(map(str, self.input_ndims))}-D input, "
                             f"got shape {x.shape}")
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch_stats, momentum=self.momentum, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) inputs."""

    input_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) inputs."""

    input_ndims = (4,)


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Sequential(Module):
    """Modules applied one after another; indexable and iterable."""

    def __init__(self, *modules):
        super().__init__()
        for i, module in enumerate(modules):
            setattr(self, str(i), module)

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class Flatten(Module):
    """Merge dimensions start_dim..end_dim into one."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        dim = self.dim % x.ndim
        if int(np.prod(self.unflattened_size)) != x.shape[dim]:
            raise ValueError(f"Unflatten: cannot split dimension {dim} of shape {x.shape} into "
                             f"{self.unflattened_size}")
        return x.reshape(x.shape[:dim] + self.unflattened_size + x.shape[dim + 1:])


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, return_indices=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.return_indices = return_indices

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.return_indices)


class MaxUnpool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x, indices, output_size=None):
        return F.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding, output_size)
