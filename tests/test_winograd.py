"""The Winograd F(2x2, 2x2) path of the CPU convolution (`kernels/winograd.py`) against the NumPy
reference: kernels of twice the stride, odd and non-square sizes, several chunks per batch."""

import numpy as np
import pytest

from minigan import reference as R
from minigan.kernels import chunks, conv2d, winograd
from minigan.kernels.geometry import conv2d_output_hw
from tests.test_kernels import assert_matches, rand, reference64

# (N, C, O, H, W, stride, padding): kernel = 2 * stride in each dimension
CASES = [
    (2, 5, 3, 8, 11, (2, 2), (1, 1)),      # DCGAN-like: 4x4, stride 2, padding 1, odd width
    (3, 3, 4, 7, 9, (1, 1), (0, 0)),       # 2x2, stride 1
    (1, 2, 5, 9, 10, (3, 2), (2, 1)),      # 6x4 kernel, unequal strides and paddings
    (2, 3, 3, 7, 7, (2, 2), (0, 0)),       # rows and columns that no output reads
    (2, 4, 3, 11, 6, (2, 1), (3, 0)),      # padding wider than the stride
    (3, 7, 5, 5, 13, (1, 2), (1, 2)),      # odd output sizes: a half-empty last tile
]


@pytest.fixture
def always_winograd(monkeypatch):
    """Every kernel of twice the stride takes the Winograd path (small test channel counts included),
    and calls into it are counted."""
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    calls = []
    for name in ("forward", "backward_data", "backward_weight"):
        original = getattr(winograd, name)
        monkeypatch.setattr(winograd, name, lambda *args, _f=original, _n=name: calls.append(_n) or _f(*args))
    return calls


def case_inputs(case, dtype, seed=0):
    n, c, o, h, w, stride, padding = case
    kernel = (2 * stride[0], 2 * stride[1])
    x = rand(seed, (n, c, h, w), dtype)
    weight = rand(seed + 1, (o, c) + kernel, dtype, scale=0.5)
    bias = rand(seed + 2, (o,), dtype)
    out_hw = conv2d_output_hw((h, w), kernel, stride, padding)
    grad_y = rand(seed + 3, (n, o) + out_hw, dtype)
    return x, weight, bias, grad_y, (stride, padding, (1, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_winograd_passes_match_the_reference(always_winograd, case, dtype):
    x, weight, bias, grad_y, geometry = case_inputs(case, dtype)
    assert_matches(conv2d.conv2d_forward(x, weight, bias, *geometry),
                   reference64(R.conv2d_forward, x, weight, bias, *geometry, dtype=dtype))
    assert_matches(conv2d.conv2d_backward_data(grad_y, weight, x.shape[2:], *geometry),
                   reference64(R.conv2d_backward_data, grad_y, weight, x.shape[2:], *geometry, dtype=dtype))
    assert_matches(conv2d.conv2d_backward_weight(grad_y, x, weight.shape[2:], *geometry),
                   reference64(R.conv2d_backward_weight, grad_y, x, weight.shape[2:], *geometry, dtype=dtype))
    assert always_winograd == ["forward", "backward_data", "backward_weight"]


@pytest.mark.parametrize("case", CASES[:3])
def test_winograd_is_the_same_over_many_chunks(always_winograd, monkeypatch, case):
    """One image per chunk (several chunks per thread, partial weight gradients summed) gives the
    one-chunk result up to float64 rounding."""
    x, weight, bias, grad_y, geometry = case_inputs(case, np.float64, seed=5)
    whole = [conv2d.conv2d_forward(x, weight, bias, *geometry),
             conv2d.conv2d_backward_data(grad_y, weight, x.shape[2:], *geometry),
             conv2d.conv2d_backward_weight(grad_y, x, weight.shape[2:], *geometry)]
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 1)
    chunked = [conv2d.conv2d_forward(x, weight, bias, *geometry),
               conv2d.conv2d_backward_data(grad_y, weight, x.shape[2:], *geometry),
               conv2d.conv2d_backward_weight(grad_y, x, weight.shape[2:], *geometry)]
    for a, b in zip(chunked, whole):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_winograd_backwards_are_adjoints_of_its_forward(always_winograd, case):
    """<conv(x, w), g> = <x, backward_data(g, w)> = <w, backward_weight(g, x)>, all three by the Winograd path."""
    x, weight, _, grad_y, geometry = case_inputs(case, np.float64, seed=11)
    forward = float(np.sum(conv2d.conv2d_forward(x, weight, None, *geometry) * grad_y))
    data = float(np.sum(x * conv2d.conv2d_backward_data(grad_y, weight, x.shape[2:], *geometry)))
    weights = float(np.sum(weight * conv2d.conv2d_backward_weight(grad_y, x, weight.shape[2:], *geometry)))
    assert data == pytest.approx(forward, rel=1e-12)
    assert weights == pytest.approx(forward, rel=1e-12)


@pytest.mark.parametrize("kernel, stride, dilation, channels, expected", [
    ((4, 4), (2, 2), (1, 1), 64, True),     # the DCGAN layers
    ((4, 4), (2, 2), (1, 1), 3, False),     # RGB input: E = 12 < MIN_CHANNELS, im2col
    ((4, 4), (1, 1), (1, 1), 512, False),   # DCGAN's 4x4 -> 1x1 head: kernel is not twice the stride
    ((2, 2), (1, 1), (1, 1), 64, True),
    ((6, 4), (3, 2), (1, 1), 8, True),      # E = 3 * 2 * 8 = 48
    ((4, 4), (2, 2), (2, 2), 64, False),    # dilated
    ((3, 3), (1, 1), (1, 1), 64, False),
])
def test_which_convolutions_take_the_winograd_path(kernel, stride, dilation, channels, expected):
    assert winograd.applies(kernel, stride, dilation, channels) is expected


def test_dcgan_layer_uses_winograd_by_default(monkeypatch):
    calls = []
    monkeypatch.setattr(winograd, "forward", lambda *args: calls.append(args) or args[-1])
    x, weight = rand(0, (2, 64, 6, 6), np.float32), rand(1, (5, 64, 4, 4), np.float32)
    conv2d.conv2d_forward(x, weight, None, (2, 2), (1, 1), (1, 1))
    assert len(calls) == 1


@pytest.mark.parametrize("variant", ["", "_im2col"])
@pytest.mark.parametrize("channels", [3, 64])   # im2col and Winograd by default
def test_an_empty_batch_gives_empty_outputs_and_a_zero_weight_gradient(variant, channels):
    x, weight = rand(0, (0, channels, 6, 7), np.float32), rand(1, (5, channels, 4, 4), np.float32)
    grad_y = rand(2, (0, 5, 3, 3), np.float32)
    geometry = ((2, 2), (1, 1), (1, 1))
    assert getattr(conv2d, "conv2d_forward" + variant)(x, weight, None, *geometry).shape == (0, 5, 3, 3)
    assert getattr(conv2d, "conv2d_backward_data" + variant)(grad_y, weight, (6, 7), *geometry).shape == (0, channels, 6, 7)
    grad_w = getattr(conv2d, "conv2d_backward_weight" + variant)(grad_y, x, (4, 4), *geometry)
    assert grad_w.shape == weight.shape and not grad_w.any()
