"""minigan: a small autograd engine over NumPy/CuPy with hand-written kernels, for GANs, AEs and VAEs.

    import minigan as mg
    x = mg.randn(4, 3, seed=0, requires_grad=True)
    (x * x).sum().backward()
"""

__version__ = "0.1.0"

import os
import sys

# OpenMP workers (Numba's parallel loops; torch's own libgomp too, when it is loaded in the same
# process) sleep instead of spinning once their work is done, so they do not steal the cores that
# the conv worker threads, OpenBLAS and other processes need next. Measured here, spinning made
# the conv passes 2-5x and small elementwise kernels up to 20x slower, and with torch loaded
# beside minigan an MLP-GAN step went from 11 ms to ~50 ms. Each OpenMP runtime reads these when
# it is loaded, so they are set on `import minigan`, before any of them; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "0")
if "torch" in sys.modules and "NUMBA_THREADING_LAYER" not in os.environ:
    # torch came first, and its own libgomp has already read the environment (spinning workers).
    # Numba's own thread pool is not disturbed by it: with torch imported first, an MLP-GAN step
    # took 52 ms on Numba's OpenMP layer and 14 ms on this one (11 ms without torch).
    os.environ["NUMBA_THREADING_LAYER"] = "workqueue"
    if "numba" in sys.modules:
        sys.modules["numba"].config.THREADING_LAYER = "workqueue"

# The rest imports after the environment above (hence the noqa: E402).
# PyTorch's names: ``import minigan as torch`` runs PyTorch-shaped programs (docs/torch_surface.md).
from minigan import backend  # noqa: E402
from minigan.autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from minigan.dtypes import bool_ as bool  # noqa: E402
from minigan.dtypes import device, float32, float64, int32, int64  # noqa: E402
from minigan.tensor import Tensor, default_generator, manual_seed, ones, rand, randn, tensor, zeros  # noqa: E402
from minigan.creation import (arange, empty, empty_like, from_numpy, full, full_like, linspace, ones_like,  # noqa: E402
                              rand_like, randint, randn_like, randperm, tensor_types, zeros_like)
from minigan.ops import (abs, add, argmax, argmin, cat, chunk, clamp, clone, div, exp, flatten, is_tensor, log,  # noqa: E402
                         matmul, max, maximum, mean, min, minimum, mul, neg, norm, permute, pow, reshape, sigmoid,
                         split, sqrt, squeeze, stack, std, sub, sum, tanh, transpose, unsqueeze, var, where)
from minigan import functional, nn, optim  # noqa: E402  (after Tensor, which they build on)
from minigan.nn import functional as _nn_functional, parallel as _nn_parallel  # noqa: E402,F401  (nn.functional, nn.parallel)
from minigan import accelerator, autograd, backends, cuda, utils  # noqa: E402
from minigan.serialization import load, save  # noqa: E402
from minigan.unsupported import module_getattr  # noqa: E402

float, double, long, int = float32, float64, int64, int32
FloatTensor, DoubleTensor, LongTensor, IntTensor, BoolTensor = tensor_types("cpu").values()
__getattr__ = module_getattr(__name__, "torch")

__all__ = ["Tensor", "Function", "backend", "device", "float32", "float64", "int32", "int64", "bool", "float",
           "double", "long", "int", "tensor", "from_numpy", "zeros", "ones", "full", "empty", "zeros_like",
           "ones_like", "full_like", "empty_like", "randn", "rand", "randint", "randperm", "randn_like", "rand_like",
           "arange", "linspace", "FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "cat",
           "stack", "where", "exp", "log", "sqrt", "abs", "sigmoid", "tanh", "sum", "mean", "max", "min", "maximum",
           "minimum", "argmax", "argmin", "std", "var", "norm", "clamp", "add", "sub", "mul", "div", "pow", "neg",
           "matmul", "reshape", "flatten", "squeeze", "unsqueeze", "transpose", "permute", "clone", "split", "chunk",
           "is_tensor",
           "manual_seed", "default_generator", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "save", "load", "functional", "nn", "optim", "autograd", "utils", "cuda", "accelerator", "backends",
           "__version__"]
