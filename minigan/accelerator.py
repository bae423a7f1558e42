"""``torch.accelerator`` on minigan: the GPU when one is usable, else None."""

from minigan import cuda
from minigan.dtypes import device


def is_available():
    return cuda.is_available()


def current_accelerator():
    """``device('cuda')`` when a GPU is usable, else None (as PyTorch without an accelerator)."""
    return device("cuda") if cuda.is_available() else None


def device_count():
    return cuda.device_count()
