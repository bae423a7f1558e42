"""Grad mode: whether ops record themselves on the tape (``no_grad``, ``enable_grad``, as in PyTorch).

A thread-local switch, below both ``tensor`` (in-place ops check it) and ``autograd`` (``Function.apply``
reads it).
"""

import contextlib
import threading

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def set_grad_enabled(mode):
    """Inside this block ops record themselves on the tape if and only if ``mode`` is true."""
    previous = is_grad_enabled()
    _state.grad_enabled = bool(mode)
    try:
        yield
    finally:
        _state.grad_enabled = previous


def no_grad():
    """Inside this block no op records itself on the tape (as ``torch.no_grad``)."""
    return set_grad_enabled(False)


def enable_grad():
    """Inside this block ops record themselves again, even within ``no_grad`` (as ``torch.enable_grad``)."""
    return set_grad_enabled(True)
