"""The float32 log `fastmath.log32` (by `fastmath.log1p_f32`) against np.log, and the float32 bce built on it
(`losses.bce_float32`, its map and its blocked sum) against the float64 reference (`minigan.reference.bce_forward`)."""

import numpy as np
import pytest
from numba import njit

from minigan import kernels
from minigan import reference as R
from minigan.kernels import parallel
from minigan.kernels.fastmath import log32
from minigan.kernels.losses import BCE_BLOCK

LOG_MAX_ULP = 1.0              # log1p_f32 (measured 0.87)
BCE_MAX_ULP = 3.0              # log errors, the roundings of 1 - t, the products and the sum (measured 2.57)
BCE_BINARY_TARGET_MAX_ULP = 1.0  # t = 0 or 1: the log's error alone (measured 0.93)
REFERENCE_1MP_ERR = 2.0 ** -53  # the reference rounds 1 - p in float64: log(1 - p) off by up to ~2^-54 (tiny p)


@njit      # no cache: Numba's cache would not see an edit to log32 (another module)
def log32_array(x):
    """log x for positive float32 x < 2^126 by `log32`, as bce_float32 takes log p."""
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = log32(x[i])
    return out


def ulps(got, exact):
    """|got - exact| in float32 ulps of the float64 `exact`."""
    return np.abs(got - exact) / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)


def float32_unit_values():
    """float32 p in (0, 1]: random bit patterns (subnormal to 1, every binade) and the same scaled by 2^-20 (more
    subnormals), consecutive values below 1, values near the mantissa split at sqrt(1/2), exact specials."""
    rng = np.random.default_rng(0)
    bits = rng.integers(1, 0x3F800001, 300_000).astype(np.uint32).view(np.float32)
    below_1 = np.float32(1) - np.arange(0, 40_000, dtype=np.float32) * np.float32(2.0 ** -24)
    sqrt_half = np.float32(np.sqrt(0.5)) * np.float32(2.0) ** np.arange(-125, 1, dtype=np.float32)
    near_sqrt_half = np.concatenate([np.nextafter(sqrt_half, np.float32(d)) for d in (0, 1)] + [sqrt_half])
    specials = np.array([1.0, 0.5, 1e-45, 3.7e-44, 1e-40, np.finfo(np.float32).tiny, 1 - 2.0 ** -24, 2.0 ** -24,
                         2.0 ** -25, 0.25, 1 - np.sqrt(0.5), 0.75], dtype=np.float32)
    return np.concatenate([bits, bits * np.float32(2.0 ** -20), below_1, near_sqrt_half, specials])


def test_log32_matches_np_log_on_float32_values():
    rng = np.random.default_rng(1)
    x = rng.integers(1, 0x7E800000, 400_000).astype(np.uint32).view(np.float32)     # subnormal and normal, < 2^126
    x = np.concatenate([x, np.float32(1) + np.arange(-20_000, 20_000, dtype=np.float32) * np.float32(2.0 ** -24)])
    exact, got = np.log(x.astype(np.float64)), log32_array(x)
    assert got.dtype == np.float32
    nonzero = exact != 0
    assert ulps(got[nonzero], exact[nonzero]).max() <= LOG_MAX_ULP
    assert np.all(got[~nonzero] == 0)                   # log 1 = 0 exactly (f = 0, k = 0)


def bce_exact(p, t):
    """The loss in float64 with log1p(-p) for log(1 - p): exact to float64 rounding for float32 p, t."""
    p, t = p.astype(np.float64), t.astype(np.float64)
    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))


@pytest.mark.parametrize("target", [0.0, 1.0])
def test_bce_float32_logs_of_p_and_1_minus_p(target):
    """t = 1 gives -max(log p, -100), t = 0 -max(log(1 - p), -100): both logs over all of (0, 1], the
    -100 clamps, subnormal p and p within an ulp of 1 included."""
    p = float32_unit_values()
    t = np.full(p.size, target, dtype=np.float32)
    exact, got = bce_exact(p, t), kernels.bce_forward(p, t, "none")
    nonzero = exact != 0
    assert ulps(got[nonzero], exact[nonzero]).max() <= BCE_BINARY_TARGET_MAX_ULP
    assert np.all(got[~nonzero] == 0)                   # t = 1, p = 1


def bce_inputs(shape, seed):
    """float32 probabilities in (0, 1) with exact 0 and 1, subnormal and near-1 values; targets in [0, 1]
    with exact 0 and 1."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, shape).astype(np.float32)
    t = rng.uniform(0, 1, shape).astype(np.float32)
    flat_p, flat_t = p.reshape(-1), t.reshape(-1)
    edges = np.array([0, 1, 1e-45, 1e-40, 3e-44, 1e-30, 1 - 2.0 ** -24, 0.5], dtype=np.float32)
    flat_p[::5] = np.resize(edges, flat_p[::5].size)
    flat_t[::3] = 0
    flat_t[1::3] = 1
    return p, t


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5, 7), (2, 3, 11, 13), (64, 129)])
def test_bce_forward_float32_matches_reference(shape):
    p, t = bce_inputs(shape, seed=sum(shape))
    reference = R.bce_forward(p.astype(np.float64), t.astype(np.float64), "none")
    got = kernels.bce_forward(p, t, "none")
    assert got.dtype == np.float32 and got.shape == shape
    assert np.all(ulps(got, bce_exact(p, t)) <= BCE_MAX_ULP)
    ulp = np.spacing(np.abs(reference).astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(got - reference) <= BCE_MAX_ULP * ulp + (1 - t) * REFERENCE_1MP_ERR)   # clamps included
    for reduction in ("sum", "mean"):
        total = kernels.bce_forward(p, t, reduction)
        assert total.dtype == np.float32 and total.shape == ()
        np.testing.assert_allclose(total, R.bce_forward(p.astype(np.float64), t.astype(np.float64), reduction),
                                   rtol=1e-6)


@pytest.mark.parametrize("size", [255, 257, 65_537, 1_000_003])
def test_bce_float32_sum_and_mean_of_large_inputs(size):
    """The float32 block sums (serial below 2^16 elements, parallel above, with a tail) against the float64
    reference, p spread over (0, 1) and within 1e-8 of 0 and 1 (measured relative error of the float64
    total 1e-9 to 4e-8, before the result's rounding to float32)."""
    rng = np.random.default_rng(size)
    p = rng.uniform(0, 1, size)
    p[::3] = 10 ** rng.uniform(-8, 0, p[::3].size)
    p[1::3] = 1 - 10 ** rng.uniform(-8, 0, p[1::3].size)
    p = p.astype(np.float32)
    t = rng.uniform(0, 1, size).astype(np.float32)
    t[::4] = np.round(t[::4])
    for reduction in ("sum", "mean"):
        np.testing.assert_allclose(kernels.bce_forward(p, t, reduction),
                                   R.bce_forward(p.astype(np.float64), t.astype(np.float64), reduction), rtol=1e-6)


def test_bce_float32_sum_sees_the_same_losses_as_the_map():
    """One element among zero losses (p = t = 1) in a whole block, in the tail, and alone: the sum is that
    element's 'none' loss bit for bit (special values included): the loss does not depend on where an
    element falls (vector loop or scalar remainder), and the `reassoc` sum reorders only the additions."""
    p = np.array([0, -0.0, 1, 1e-45, 1e-40, 1e-30, 2.0 ** -24, 0.3, 0.5, 0.75, 1 - 2.0 ** -24, np.nan, 2], np.float32)
    t = np.array([1, 1, 0, 1, 0.3, 0, 0.7, 0.1, 1, 0, 0.5, 1, 1], np.float32)
    with np.errstate(invalid="ignore"):
        expected = kernels.bce_forward(p, t, "none")
    for pad in (BCE_BLOCK - 1, BCE_BLOCK, 0):
        for k in range(p.size):
            p_block, t_block = np.ones(pad + 1, np.float32), np.ones(pad + 1, np.float32)
            p_block[0], t_block[0] = p[k], t[k]
            np.testing.assert_array_equal(kernels.bce_forward(p_block, t_block, "sum"), expected[k])


def test_bce_float32_serial_and_parallel_paths_agree(monkeypatch):
    """Bit for bit, 'none' and 'sum': chunk boundaries move elements between vector loops and remainders."""
    p, t = bce_inputs((1001, 7), seed=11)
    results = []
    for threshold in (0, 2 ** 40):                       # every pass on all threads, then on this thread
        monkeypatch.setattr(parallel, "PARALLEL_MIN_ELEMENTS", threshold)
        results.append((kernels.bce_forward(p, t, "none"), kernels.bce_forward(p, t, "sum")))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)     # partial sums follow the threads


def test_bce_forward_float32_clamps_and_propagates_nan_like_the_reference():
    p = np.array([0, 1, 0, 1, 1e-45, np.nan, 0.5, -0.5, 1.5, np.inf, -0.0], dtype=np.float32)
    t = np.array([1, 0, 0, 1, 1, 1, np.nan, 1, 0, 1, 1], dtype=np.float32)
    with np.errstate(invalid="ignore"):
        expected = R.bce_forward(p.astype(np.float64), t.astype(np.float64), "none").astype(np.float32)
    got = kernels.bce_forward(p, t, "none")
    np.testing.assert_array_equal(got, expected)          # 100, 100, 0, 0, 100, then NaN ... then 100
    assert np.isnan(kernels.bce_forward(p, t, "mean"))
    outside = np.array([np.nan, -np.inf, -1.0, -1e-45, 1 + 2.0 ** -23, 3.0, np.inf], dtype=np.float32)
    assert np.all(np.isnan(kernels.bce_forward(outside, np.full(outside.size, 0.5, np.float32), "none")))
