"""Hand-written kernels: Numba CPU kernels (`<op>.py`) beside CUDA C kernels (`<op>.cu`). See docs/kernel_api.md."""
