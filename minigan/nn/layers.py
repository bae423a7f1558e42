"""Layers: thin Modules over ``minigan.functional`` (the math lives there)."""

from collections import OrderedDict

import numpy as np

from minigan import functional as F
from minigan.nn import init
from minigan.nn.module import Module, Parameter
from minigan.tensor import float32, ones, zeros


def _empty_parameter(shape, dtype, device):
    return Parameter(zeros(*shape, dtype=float32 if dtype is None else dtype, device=device or "cpu"))


def _unsupported(layer, **options):
    """NotImplementedError naming the first torch option that is set to something minigan lacks.
    ``options`` maps a name to (value, the only supported value)."""
    for name, (value, supported) in options.items():
        if value != supported:
            raise NotImplementedError(f"minigan does not support torch.nn.{layer}({name}={value!r}); "
                                      f"only {name}={supported!r}")


class Linear(Module):
    """y = x Wᵀ + b, W (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
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

    def __init__(self, weight_shape, bias_size, options, groups, padding_mode, dtype, device):
        super().__init__()
        layer = type(self).__name__
        if isinstance(options["padding"], str):
            raise NotImplementedError(f"minigan does not support torch.nn.{layer}(padding={options['padding']!r}); "
                                      "give the padding as an int or a pair")
        _unsupported(layer, groups=(groups, 1), padding_mode=(padding_mode, "zeros"))
        self.options = options
        self.weight = _empty_parameter(weight_shape, dtype, device)
        self.bias = _empty_parameter((bias_size,), dtype, device) if bias_size else None
        init.default_uniform_(self.weight, self.bias)

    def extra_repr(self):
        c_out, c_in = self.weight.shape[:2][::-1] if self.transposed else self.weight.shape[:2]
        options = ", ".join(f"{k}={v}" for k, v in self.options.items())
        return f"{c_in}, {c_out}, kernel_size={self.weight.shape[2:]}, {options}"


class Conv2d(_ConvNd):
    """2-D convolution, weight (out_channels, in_channels, kH, kW); torch's signature (groups must be 1)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        kernel = F._pair(kernel_size, "kernel_size", "Conv2d", 1)
        super().__init__((out_channels, in_channels, *kernel), out_channels if bias else 0,
                         dict(stride=stride, padding=padding, dilation=dilation), groups, padding_mode, dtype, device)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, **self.options)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution, weight (in_channels, out_channels, kH, kW); torch's signature (groups must be 1)."""

    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        kernel = F._pair(kernel_size, "kernel_size", "ConvTranspose2d", 1)
        super().__init__((in_channels, out_channels, *kernel), out_channels if bias else 0,
                         dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation),
                         groups, padding_mode, dtype, device)

    def forward(self, x, output_size=None):
        if output_size is not None:
            raise NotImplementedError("minigan does not support torch.nn.ConvTranspose2d.forward(output_size=...); "
                                      "set output_padding instead")
        return F.conv_transpose2d(x, self.weight, self.bias, **self.options)


class _BatchNorm(Module):
    input_ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None):
        super().__init__()
        if momentum is None:
            raise NotImplementedError(f"minigan does not support torch.nn.{type(self).__name__}(momentum=None) "
                                      "(a cumulative moving average); give a number")
        dtype, device = float32 if dtype is None else dtype, device or "cpu"
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
    """y = max(x, 0). ``inplace`` is accepted for torch's signature; the result is the same, written anew."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope·x (``inplace`` as for ReLU)."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

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


class ModuleList(Module):
    """A list of modules, registered as children '0', '1', ... (indexable, iterable, appendable)."""

    def __init__(self, modules=None):
        super().__init__()
        self.extend(modules or ())

    def _check(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: expected a Module, got {type(module).__name__}")
        return module

    def _renumber(self, modules):
        self._modules.clear()
        for i, module in enumerate(modules):
            setattr(self, str(i), self._check(module))

    def append(self, module):
        setattr(self, str(len(self)), self._check(module))
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        modules = list(self)
        modules.insert(index, module)
        self._renumber(modules)

    def __getitem__(self, index):
        modules = list(self._modules.values())
        return ModuleList(modules[index]) if isinstance(index, slice) else modules[index]

    def __setitem__(self, index, module):
        modules = list(self)
        modules[index] = module
        self._renumber(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied one after another: ``Sequential(m1, m2, ...)`` or ``Sequential(OrderedDict(name=m))``."""

    def __init__(self, *modules):
        Module.__init__(self)
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                setattr(self, name, self._check(module))
        else:
            self.extend(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return super().__getitem__(index)

    def forward(self, x):
        for module in self:
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


class Identity(Module):
    """y = x (any constructor arguments are ignored, as torch does)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Softplus(Module):
    """y = log(1 + e^{βx}) / β, and y = x where βx > threshold."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """y = e^x / Σ_dim e^x."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)


class LogSoftmax(Softmax):
    """y = x − log Σ_dim e^x."""

    def forward(self, x):
        return F.log_softmax(x, self.dim)


class _DropoutNd(Module):
    """Zeroes entries with probability p while training and scales the rest by 1/(1 − p); identity in eval.
    The mask is drawn from minigan's global generator (``mg.manual_seed``). ``inplace`` is accepted
    for torch's signature; the result is the same, written anew."""

    function = None

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return type(self).function(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Dropout(_DropoutNd):
    """Drops single elements."""

    function = staticmethod(F.dropout)


class Dropout2d(_DropoutNd):
    """Drops whole channels of (N, C, H, W) or (C, H, W) input."""

    function = staticmethod(F.dropout2d)


class Upsample(Module):
    """Nearest-neighbour upsampling of (N, C, H, W) by whole-number factors, as F.interpolate."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None):
        super().__init__()
        _unsupported("Upsample", mode=(mode, "nearest"), align_corners=(align_corners, None))
        self.size, self.scale_factor, self.mode = size, scale_factor, mode

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode)

    def extra_repr(self):
        return f"size={self.size}, scale_factor={self.scale_factor}, mode={self.mode!r}"


class Embedding(Module):
    """A lookup table: y[..., :] = weight[indices[...], :], weight (num_embeddings, embedding_dim) ~ N(0, 1).
    With ``padding_idx`` that row starts at zero and receives no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        _unsupported("Embedding", max_norm=(max_norm, None), scale_grad_by_freq=(scale_grad_by_freq, False),
                     sparse=(sparse, False))
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must lie in "
                                 f"[{-num_embeddings}, {num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        if _weight is None:
            self.weight = _empty_parameter((num_embeddings, embedding_dim), dtype, device)
            init.normal_(self.weight)
            if padding_idx is not None:
                self.weight.array[padding_idx] = 0
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight shape {tuple(_weight.shape)} is not "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def forward(self, indices):
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"


# ------------------------------------------------------------------------------------- losses

class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = F.legacy_reduction(size_average, reduce, reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """A loss whose torch form takes per-class/per-element ``weight``s, which minigan does not."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        if weight is not None:
            raise NotImplementedError(f"minigan does not support torch.nn.{type(self).__name__}(weight=...)")
        super().__init__(size_average, reduce, reduction)


class BCELoss(_WeightedLoss):
    """−[t·log p + (1 − t)·log(1 − p)] of probabilities p (logs clamped at −100), reduced."""

    def forward(self, p, target):
        return F.binary_cross_entropy(p, target, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """BCE of σ(z), computed stably from the logits z."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        _unsupported("BCEWithLogitsLoss", pos_weight=(pos_weight, None))
        super().__init__(weight, size_average, reduce, reduction)

    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target, reduction=self.reduction)


class MSELoss(_Loss):
    """(x − t)², reduced."""

    def forward(self, x, target):
        return F.mse_loss(x, target, reduction=self.reduction)


class L1Loss(_Loss):
    """|x − t|, reduced."""

    def forward(self, x, target):
        return F.l1_loss(x, target, reduction=self.reduction)


class NLLLoss(_WeightedLoss):
    """−logp[n, t_n] of log-probabilities (N, C) and int64 class targets (N,), reduced."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, logp, target):
        return F.nll_loss(logp, target, ignore_index=self.ignore_index, reduction=self.reduction)


class CrossEntropyLoss(NLLLoss):
    """log Σ_c e^{z_c} − z_t of logits (N, C) and int64 class targets (N,), reduced
    (= NLLLoss of log_softmax, as one fused op)."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        _unsupported("CrossEntropyLoss", label_smoothing=(label_smoothing, 0.0))
        super().__init__(weight, size_average, ignore_index, reduce, reduction)

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction=self.reduction)
