"""In-place initialisers (``torch.nn.init`` names). Random draws use NumPy on the CPU, so a seed
gives the same weights on every device; ``generator`` defaults to ``minigan.tensor``'s global one
(set by ``mg.manual_seed``)."""

import math

import numpy as np

from minigan import backend
from minigan.tensor import default_generator


def _fill(tensor, values):
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
    return _fill(tensor, np.full(tensor.shape, value))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def fan_in(weight, transposed=False):
    """Inputs feeding one output: in_features, or C_in·kH·kW (C_out·kH·kW stored first for transposed conv)."""
    receptive = int(np.prod(weight.shape[2:])) if weight.ndim > 2 else 1
    return weight.shape[0 if transposed else 1] * receptive


def default_uniform_(weight, bias=None, transposed=False, generator=None):
    """PyTorch's default for Linear/Conv layers: W, b ~ U(−1/√fan_in, 1/√fan_in)."""
    bound = 1.0 / math.sqrt(fan_in(weight, transposed))
    uniform_(weight, -bound, bound, generator)
    if bias is not None:
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
