"""``torch.cuda`` on minigan: whether the 'cuda' device is usable, its seed, and the typed
constructors ``torch.cuda.FloatTensor``/``LongTensor`` (tensors on 'cuda').

minigan drives one GPU through CuPy, so ``device_count()`` is 0 or 1. Every random number is
drawn on the CPU from one generator, so ``manual_seed`` seeds that generator (as ``mg.manual_seed``).
"""

from minigan import backend
from minigan.creation import tensor_types
from minigan.tensor import manual_seed
from minigan.unsupported import module_getattr

FloatTensor, DoubleTensor, LongTensor, IntTensor, BoolTensor = tensor_types("cuda").values()
__getattr__ = module_getattr(__name__, "torch.cuda")


def is_available():
    """True when CuPy is installed and sees a CUDA device."""
    try:
        backend.require_cupy()
    except RuntimeError:
        return False
    return True


def device_count():
    return int(is_available())


def current_device():
    return 0


def manual_seed_all(seed):
    return manual_seed(seed)


def synchronize(device=None):
    """Wait for the GPU's queued work (nothing to wait for without one)."""
    if is_available():
        backend.require_cupy().cuda.Device().synchronize()


def empty_cache():
    """Give CuPy's cached, unused GPU memory back (nothing to do without a GPU)."""
    if is_available():
        backend.require_cupy().get_default_memory_pool().free_all_blocks()
