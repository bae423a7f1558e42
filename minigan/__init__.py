"""minigan: a small autograd engine over NumPy/CuPy with hand-written kernels, for GANs, AEs and VAEs."""

__version__ = "0.1.0"
