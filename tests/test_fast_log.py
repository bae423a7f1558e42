"""The vectorisable natural log `activations.log_normal` against np.log (through `log_pos`, which adds the
special values), and the float32 bce forward built on it against the float64 reference
(`minigan.reference.bce_forward`)."""

import numpy as np
import pytest
from numba import njit

from minigan import kernels
from minigan import reference as R
from minigan.kernels.activations import log_normal
from minigan.kernels.losses import bce_float64_logs

LOG_POS_MAX_REL_ERR = 2.1e-9       # Taylor truncation bound 2.08e-9 (at m = sqrt 2; measured 2.04e-9) plus rounding
BCE_MAX_ULP = 0.54                 # float32 rounding 0.5 ulp + 2^24 * 2.1e-9 ulp from the logs


@njit(inline="always")
def log_pos(x):
    """log x for any float64 by `log_normal`: subnormal x scaled by 2^54 first (k_offset -54), log 0 = -inf,
    log inf = inf, NaN for x < 0 and NaN: the log as written in the BCE formula, every special value handled."""
    scaled = abs(x) < 2.0 ** -1022                         # subnormal (and zero, handled at the end)
    log_x = log_normal(abs(x) * 2.0 ** 54 if scaled else abs(x), -54.0 if scaled else 0.0)
    log_x = log_x if x < np.inf else x                         # +inf stays +inf (NaN is fixed below)
    return log_x if x > 0 else (-np.inf if x == 0 else np.nan)


@njit      # no cache: Numba's cache would not see an edit to log_normal (another module)
def log_pos_array(x):
    out = np.empty_like(x)
    for k in range(x.size):
        out[k] = log_pos(x[k])
    return out


def float32_positive_values():
    """Positive finite float32 values, as float64: random bit patterns (subnormal to 3.4e38, every
    binade), consecutive values around 1, values near the mantissa split at sqrt(2), exact specials."""
    rng = np.random.default_rng(0)
    bits = rng.integers(1, 0x7F800000, 300_000).astype(np.uint32).view(np.float32)
    around_1 = np.float32(1) + np.arange(-20_000, 20_000, dtype=np.float32) * np.float32(2.0 ** -24)
    sqrt2_scaled = np.float32(np.sqrt(2)) * np.float32(2.0) ** np.arange(-60, 61, dtype=np.float32)
    near_sqrt2 = np.concatenate([np.nextafter(sqrt2_scaled, np.float32(d)) for d in (0, np.inf)] + [sqrt2_scaled])
    specials = np.array([1.0, 2.0, 0.5, 1e-45, 1e-40, np.finfo(np.float32).tiny, 3.4028235e38, 1 - 2.0 ** -24,
                         1 + 2.0 ** -23, np.sqrt(0.5), np.sqrt(2)], dtype=np.float32)
    return np.concatenate([bits, around_1, near_sqrt2, specials]).astype(np.float64)


def test_log_pos_matches_np_log_on_float32_values():
    x = float32_positive_values()
    exact, got = np.log(x), log_pos_array(x)
    assert np.all(np.isfinite(got))
    nonzero = exact != 0
    rel = np.abs(got[nonzero] - exact[nonzero]) / np.abs(exact[nonzero])
    assert rel.max() < LOG_POS_MAX_REL_ERR
    assert np.all(got[~nonzero] == 0)                   # log 1 = 0 exactly (s = 0, k = 0)


def test_log_pos_special_and_float64_subnormal_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, -5e-324, 1.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(log_pos_array(x), np.log(x))        # -inf, -inf, inf, nan, nan, nan, nan, 0
    tiny = np.array([5e-324, 1e-320, 1e-310, 2.2250738585072009e-308, 2.2250738585072014e-308, 1.7976931348623157e308])
    np.testing.assert_allclose(log_pos_array(tiny), np.log(tiny), rtol=LOG_POS_MAX_REL_ERR)


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
    exact = R.bce_forward(p.astype(np.float64), t.astype(np.float64), "none")
    got = kernels.bce_forward(p, t, "none")
    assert got.dtype == np.float32 and got.shape == shape
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(got - exact) <= BCE_MAX_ULP * ulp)     # of the float64 value (clamps included)
    for reduction in ("sum", "mean"):
        total = kernels.bce_forward(p, t, reduction)
        assert total.dtype == np.float32 and total.shape == ()
        np.testing.assert_allclose(total, R.bce_forward(p.astype(np.float64), t.astype(np.float64), reduction),
                                   rtol=1e-6)


def test_bce_forward_float32_clamps_and_propagates_nan_like_the_reference():
    p = np.array([0, 1, 0, 1, 1e-45, np.nan, 0.5, -0.5, 1.5, np.inf, -0.0], dtype=np.float32)
    t = np.array([1, 0, 0, 1, 1, 1, np.nan, 1, 0, 1, 1], dtype=np.float32)
    with np.errstate(invalid="ignore"):
        expected = R.bce_forward(p.astype(np.float64), t.astype(np.float64), "none").astype(np.float32)
    got = kernels.bce_forward(p, t, "none")
    np.testing.assert_array_equal(got, expected)          # 100, 100, 0, 0, 100, then NaN ... then 100
    assert np.isnan(kernels.bce_forward(p, t, "mean"))


@njit      # no cache, as log_pos_array
def bce_pairs(p, t, via_log_pos):
    out = np.empty_like(p)
    for k in range(p.size):
        if via_log_pos:         # the formula as written, every special value left to log_pos
            out[k] = -(t[k] * max(log_pos(p[k]), -100.0) + (1 - t[k]) * max(log_pos(1 - p[k]), -100.0))
        else:
            out[k] = bce_float64_logs(p[k], t[k])
    return out


def test_bce_float64_logs_equals_the_formula_with_log_pos():
    """The clamped lean path (p, 1 - p raised to BCE_LOG_FLOOR, no special-value branches) gives bit for bit
    what log_pos gives for every float32 p in [0, 1], the -100 clamps, -0.0 and NaN targets included."""
    p, t = bce_inputs((200_003,), seed=7)
    p = np.concatenate([p, np.array([0, -0.0, 1, 1e-45, 1e-38, 1 - 2.0 ** -24, 2.0 ** -24], dtype=np.float32)])
    t = np.concatenate([t, np.array([1, 1, 0, 1, np.nan, 0, 0.5], dtype=np.float32)])
    p64, t64 = p.astype(np.float64), t.astype(np.float64)
    np.testing.assert_array_equal(bce_pairs(p64, t64, False), bce_pairs(p64, t64, True))
    outside = np.array([np.nan, -np.inf, -1.0, -1e-45, 1 + 2.0 ** -23, 3.0, np.inf])
    assert np.all(np.isnan(bce_pairs(outside, np.full(outside.size, 0.5), False)))
