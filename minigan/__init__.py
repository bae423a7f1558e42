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

from minigan import backend  # noqa: E402  (after the environment above)
from minigan.autograd import Function, is_grad_enabled, no_grad  # noqa: E402
from minigan.tensor import (Tensor, default_generator, float32, float64, manual_seed, ones, rand, randn, tensor,  # noqa: E402
                            zeros)
from minigan import functional, nn, optim  # noqa: E402  (after Tensor, which they build on)

__all__ = ["Tensor", "Function", "backend", "float32", "float64", "tensor", "zeros", "ones", "randn", "rand",
           "manual_seed", "default_generator", "no_grad", "is_grad_enabled", "functional", "nn", "optim",
           "__version__"]
