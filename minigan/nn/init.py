"""In-place initialisers (``torch.nn.init`` names). Random draws use NumPy on the CPU, so a seed
gives the same weights on every device; ``generator`` defaults to ``minigan.tensor``'s global one
(set by ``mg.manual_seed``). Each takes a Tensor or its ``.data`` (which shares the array), writes
in place and returns the tensor, as torch's do."""

import math

import numpy as np

from minigan import backend
from minigan.tensor import Tensor, default_generator


def _fill(tensor, values):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init: expected a Tensor (or its .data), got {type(tensor).__name__}")
    tensor.array[...] = backend.to_device(np.asarray(values, dtype=tensor.dtype), tensor.device)
    return tensor


def _rng(generator):
    return generator if generator is not None else default_generator()


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with samples of N(mean, std²)."""
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape))


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with samples of U(a, b)."""
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape))


def constant_(tensor, value):
    """Fill with ``value``."""
    return _fill(tensor, np.full(tensor.shape, value))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


_LINEAR_GAINS = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None):
    """The gain that keeps activations at unit scale, as ``torch.nn.init.calculate_gain``:
    1 for linear/conv/sigmoid, 5/3 for tanh, √2 for relu, √(2/(1 + slope²)) for leaky_relu
    (slope = ``param``, default 0.01), 3/4 for selu."""
    if nonlinearity in _LINEAR_GAINS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) = (size(1)·r, size(0)·r), r = the product of the sizes after the first two,
    as torch computes them (also for a transposed convolution's (C_in, C_out, kH, kW) weight)."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot: U(−a, a) with a = gain·√(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot: N(0, std²) with std = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(op, tensor, a, mode, nonlinearity):
    """std = gain / √fan, fan = fan_in or fan_out as ``mode`` says."""
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"{op}: cannot initialise a tensor of shape {tensor.shape} with no elements")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He: U(−b, b) with b = √3 · gain / √fan (gain from ``calculate_gain(nonlinearity, a)``)."""
    bound = math.sqrt(3.0) * _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He: N(0, std²) with std = gain / √fan."""
    return normal_(tensor, 0.0, _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity), generator)


def default_uniform_(weight, bias=None, generator=None):
    """PyTorch's default for Linear/Conv layers: kaiming_uniform_(W, a=√5), i.e. W ~ U(−1/√fan_in, 1/√fan_in),
    and b ~ U(−1/√fan_in, 1/√fan_in), fan_in = size(1)·kH·kW (also for transposed convolutions, as torch)."""
    kaiming_uniform_(weight, math.sqrt(5.0), generator=generator)
    if bias is not None:
        bound = 1.0 / math.sqrt(calculate_fan_in_and_fan_out(weight)[0])
        uniform_(bias, -bound, bound, generator)


def dcgan_init_(module, generator=None):
    """The DCGAN paper's initialisation of every submodule with a weight: a matrix or kernel
    (Linear, Conv2d, ConvTranspose2d) ~ N(0, 0.02²), a per-channel vector (batch norm γ) ~ N(1, 0.02²);
    their biases (β for batch norm) = 0.

    The weight's rank tells the two kinds apart, so this module needs no layer classes (the layers
    import it for their default initialisation)."""
    for m in module.modules():
        weight = getattr(m, "weight", None)
        if weight is None:
            continue
        normal_(weight, 0.0 if weight.ndim > 1 else 1.0, 0.02, generator)
        bias = getattr(m, "bias", None)
        if bias is not None:
            zeros_(bias)
    return module
