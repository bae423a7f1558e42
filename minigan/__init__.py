"""minigan: a small autograd engine over NumPy/CuPy with hand-written kernels, for GANs, AEs and VAEs.

    import minigan as mg
    x = mg.randn(4, 3, seed=0, requires_grad=True)
    (x * x).sum().backward()
"""

__version__ = "0.1.0"

from minigan import backend
from minigan.autograd import Function, is_grad_enabled, no_grad
from minigan.tensor import (Tensor, default_generator, float32, float64, manual_seed, ones, rand, randn, tensor,
                            zeros)
from minigan import functional, nn, optim  # noqa: E402  (after Tensor, which they build on)

__all__ = ["Tensor", "Function", "backend", "float32", "float64", "tensor", "zeros", "ones", "randn", "rand",
           "manual_seed", "default_generator", "no_grad", "is_grad_enabled", "functional", "nn", "optim",
           "__version__"]
