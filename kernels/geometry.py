"""Shape rules shared by every kernel set (the Numba kernels here, the CUDA host code, the NumPy reference).

Pure arithmetic on validated sizes: `minigan.functional` checks them before any kernel runs.
"""


def pair(value):
    """`v -> (v, v)` for an int, `(a, b) -> (a, b)` for a pair; always Python ints."""
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def conv2d_output_hw(input_hw, kernel_hw, stride, padding, dilation=(1, 1)):
    """`Ho = (H + 2*ph - dh*(kH-1) - 1)//sh + 1`, likewise `Wo` (max pooling: dilation 1)."""
    return tuple((size + 2 * p - d * (k - 1) - 1) // s + 1
                 for size, k, s, p, d in zip(input_hw, kernel_hw, stride, padding, dilation))
