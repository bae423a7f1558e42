"""The float32 speed paths of the elementwise kernels against float64 computations of the same formulas:
bce's gradient (`losses.bce_grad32`), bce_with_logits' loss (`losses.bce_with_logits32`), sigmoid
(`fastmath.sigmoid32`, its exp `fastmath.exp_neg32`) and tanh (float64 arithmetic), on odd sizes, with the values
that stress each formula (p near 0 and 1, large |logits|, tiny and subnormal arguments) and the special
values (clamps, +-inf, NaN); and batch norm's channel-block loops (planes shorter than BN_PLANE_MIN)."""

import numpy as np
import pytest
from numba import njit

from minigan import kernels
from minigan import reference as R
from minigan.kernels import batch_norm, parallel
from minigan.kernels.fastmath import exp_neg32
from minigan.kernels.losses import BCE_BLOCK

EXP_MAX_ULP = 1.1                # exp_neg32 (measured 0.97 on normal results, 0.75 on subnormal ones)
BCE_GRAD_MAX_ULP = 3.5           # bce_grad32 times g (measured 3.13 with mean's 1/size; 2.84 for g * grad, 2.31 for g = 1)
BCE_WITH_LOGITS_MAX_ULP = 2.5    # bce_with_logits32 (measured 1.92)
TANH_MAX_ULP = 0.52              # tanh_via_exp, in float64 (measured 0.508)
SIGMOID_MAX_ULP = 2.5            # sigmoid32 (measured 2.31)
SIZES = [1, 7, 255, 257, 1001, 65_537]     # below and above the parallel threshold; vector remainders


def ulps(got, exact):
    """|got - exact| in float32 ulps of the float64 `exact` (the subnormal spacing below 2^-126)."""
    exact = np.asarray(exact, dtype=np.float64)
    return np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)


def spread(rng, size, low_exp, high_exp):
    """float32 magnitudes 10^U(low_exp, high_exp) with random signs."""
    return (10 ** rng.uniform(low_exp, high_exp, size) * rng.choice([-1, 1], size)).astype(np.float32)


@njit      # no cache: Numba's cache would not see an edit to exp_neg32 (another module)
def exp_neg32_array(y):
    out = np.empty_like(y)
    for i in range(y.size):
        out[i] = exp_neg32(y[i])
    return out


def test_exp_neg32_within_an_ulp_into_the_subnormals():
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.uniform(-104, 0, 1_000_001), -np.abs(spread(rng, 300_001, -12, 2))]).astype(np.float32)
    y = y[y >= -104]
    assert ulps(exp_neg32_array(y), np.exp(y.astype(np.float64))).max() <= EXP_MAX_ULP
    specials = np.array([0, -0.0, -104, -105, -200, -np.inf, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(exp_neg32_array(specials), [1, 1, 0, 0, 0, 0, np.nan])


# ----------------------------------------------------------------------------- bce backward

def bce_grad_exact(g, p, t):
    """g (p - t) / max(p (1 - p), 1e-12) in float64 (p - p^2 exact to float64 rounding)."""
    p, t = p.astype(np.float64), t.astype(np.float64)
    return g * (p - t) / np.maximum(p - p * p, 1e-12)


def bce_probabilities(rng, size):
    """p spread over (0, 1), within 1e-13 of 0 and 1e-8 of 1, exact 0 and 1; targets in [0, 1], exact 0 and 1."""
    p = rng.uniform(0, 1, size)
    p[::3] = 10 ** rng.uniform(-13, 0, p[::3].size)
    p[1::3] = 1 - 10 ** rng.uniform(-8, 0, p[1::3].size)
    p = p.astype(np.float32)
    p[5::11], p[6::11] = 0, 1
    t = rng.uniform(0, 1, size).astype(np.float32)
    t[::4] = np.round(t[::4])
    return p, t


@pytest.mark.parametrize("size", SIZES)
def test_bce_backward_float32_within_ulps_of_float64(size):
    rng = np.random.default_rng(size)
    p, t = bce_probabilities(rng, size)
    g = rng.standard_normal(size).astype(np.float32)
    got = kernels.bce_backward(g, p, t, "none")
    assert got.dtype == np.float32
    assert ulps(got, bce_grad_exact(g.astype(np.float64), p, t)).max() <= BCE_GRAD_MAX_ULP
    for reduction, scale in (("sum", 1.0), ("mean", 1.0 / size)):
        got = kernels.bce_backward(np.array(0.75, np.float32), p, t, reduction)
        assert ulps(got, bce_grad_exact(0.75 * scale, p, t)).max() <= BCE_GRAD_MAX_ULP


def test_bce_backward_float32_special_values_as_the_reference():
    """The 1e-12 floor (p = 0, p = 1, tiny p), p outside [0, 1], +-inf and NaN: the reference's values."""
    p = np.array([0, 1, 1e-45, 1e-13, 1 - 2.0 ** -24, np.inf, -np.inf, 2, -0.5, np.nan, 0.5], dtype=np.float32)
    t = np.array([1, 0, 1, 0, 0.5, 0.5, 0.5, 1, 0, 1, np.nan], dtype=np.float32)
    g = np.array(1.0, np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        expected = R.bce_backward(np.float64(1.0), p.astype(np.float64), t.astype(np.float64), "sum")
        got = kernels.bce_backward(g, p, t, "sum")
    np.testing.assert_allclose(got, expected.astype(np.float32), rtol=3e-7)   # inf, -inf and NaN where it has them


# ----------------------------------------------------------------------------- bce_with_logits forward

def bce_with_logits_exact(z, t):
    z, t = z.astype(np.float64), t.astype(np.float64)
    return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))


def logits_and_targets(rng, size):
    """Logits over [-20, 20], out to +-110 (losses that are e^-|z| alone, subnormal past 87), tiny |z|; targets in
    [0, 1] with exact 0 and 1 (where max(z, 0) - z t is 0 and the loss log(1 + e^-|z|) alone)."""
    z = rng.uniform(-20, 20, size).astype(np.float32)
    z[::3] = rng.uniform(-110, 110, z[::3].size)
    z[1::5] = spread(rng, z[1::5].size, -10, 0)
    t = rng.uniform(0, 1, size).astype(np.float32)
    t[::2] = z[::2] > 0
    t[1::7] = 0
    return z, t


@pytest.mark.parametrize("size", SIZES + [1_000_003])
def test_bce_with_logits_forward_float32_within_ulps_of_float64(size):
    rng = np.random.default_rng(size)
    z, t = logits_and_targets(rng, size)
    got = kernels.bce_with_logits_forward(z, t, "none")
    assert got.dtype == np.float32
    assert ulps(got, bce_with_logits_exact(z, t)).max() <= BCE_WITH_LOGITS_MAX_ULP
    for reduction in ("sum", "mean"):
        total = kernels.bce_with_logits_forward(z, t, reduction)
        assert total.dtype == np.float32 and total.shape == ()
        np.testing.assert_allclose(total, R.bce_with_logits_forward(z.astype(np.float64), t.astype(np.float64),
                                                                   reduction), rtol=1e-6, atol=2e-45)


def test_bce_with_logits_forward_float32_special_values_as_the_reference():
    z = np.array([np.inf, np.inf, -np.inf, -np.inf, np.nan, 3, -120, 90, -88, -100], dtype=np.float32)
    t = np.array([0.5, 0, 1, 0, 1, np.nan, 0, 1, 0, 0], dtype=np.float32)
    with np.errstate(invalid="ignore"):
        expected = R.bce_with_logits_forward(z.astype(np.float64), t.astype(np.float64), "none").astype(np.float32)
        got = kernels.bce_with_logits_forward(z, t, "none")
    np.testing.assert_array_equal(got, expected)        # NaN, NaN, inf, NaN, NaN, NaN, then e^-|z| down to 0


def test_bce_with_logits_float32_sum_sees_the_same_losses_as_the_map(monkeypatch):
    """One element among losses of exactly 0 (z = -120, t = 0) in a whole block, in the tail and alone: the sum
    is that element's 'none' loss bit for bit; and 'none' is the same on the serial and the parallel path."""
    z = np.array([0.5, -3, 17, -88, 1e-30, 40, -0.7], dtype=np.float32)
    t = np.array([0.3, 1, 0, 0, 0.5, 1, 0], dtype=np.float32)
    expected = kernels.bce_with_logits_forward(z, t, "none")
    for pad in (BCE_BLOCK - 1, BCE_BLOCK, 0):
        for k in range(z.size):
            z_block, t_block = np.full(pad + 1, -120, np.float32), np.zeros(pad + 1, np.float32)
            z_block[-1], t_block[-1] = z[k], t[k]
            np.testing.assert_array_equal(kernels.bce_with_logits_forward(z_block, t_block, "sum"), expected[k])
    z, t = logits_and_targets(np.random.default_rng(5), 7 * 1001)
    results = []
    for threshold in (0, 2 ** 40):                       # every pass on all threads, then on this thread
        monkeypatch.setattr(parallel, "PARALLEL_MIN_ELEMENTS", threshold)
        results.append(kernels.bce_with_logits_forward(z, t, "none"))
    np.testing.assert_array_equal(results[0], results[1])


# ----------------------------------------------------------------------------- tanh and sigmoid forward

def activation_arguments(rng, size):
    """Arguments over [-10, 10] and [-110, 110], magnitudes from 1e-45 (subnormal) to 30."""
    x = rng.uniform(-10, 10, size).astype(np.float32)
    x[::3] = rng.uniform(-110, 110, x[::3].size)
    x[1::3] = spread(rng, x[1::3].size, -45, 1.5)
    return x


@pytest.mark.parametrize("size", SIZES + [1_000_003])
@pytest.mark.parametrize("name, exact, max_ulp", [("tanh", np.tanh, TANH_MAX_ULP),
                                                  ("sigmoid", R.sigmoid_forward, SIGMOID_MAX_ULP)])
def test_activation_forward_float32_within_ulps_of_float64(name, exact, max_ulp, size):
    x = activation_arguments(np.random.default_rng(size), size)
    got = getattr(kernels, name + "_forward")(x)
    assert got.dtype == np.float32
    assert ulps(got, exact(x.astype(np.float64))).max() <= max_ulp


def test_tanh_and_sigmoid_float32_special_values():
    x = np.array([0, -0.0, 1e-45, -1e-45, 9.1, -9.1, 200, -200, np.inf, -np.inf, np.nan], dtype=np.float32)
    y = kernels.tanh_forward(x)                                          # tanh(9.1) = 1 in float32
    np.testing.assert_array_equal(y, np.tanh(x.astype(np.float64)).astype(np.float32))
    assert np.signbit(y[1]) and not np.signbit(y[0])                     # tanh(-0) = -0
    x = np.array([0, -0.0, 1e-45, -1e-45, 200, -200, np.inf, -np.inf, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(kernels.sigmoid_forward(x), R.sigmoid_forward(x.astype(np.float64)).astype(np.float32))


# ----------------------------------------------------------------------------- batch norm's channel blocks

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 7, 5), (5, 130, 9), (2, 3, 63), (7, 1100, 1), (65, 37, 17)])
def test_batch_norm_channel_blocks_match_the_reference(shape, dtype):
    """Planes shorter than BN_PLANE_MIN (one block, several, a last partial one, L = 1), all four passes against
    the float64 reference. Channel means far from 0 against their spread test the two-pass variance: in float64
    1000 +- 10 with spreads 0.01 to 3; in float32 5 +- 5 with spreads 0.5 to 3 (x - mean, mean rounded to
    float32 as both loop kinds take it, loses ulp(mean) / spread relative: fine here, not at 1000 / 0.01)."""
    assert shape[2] < batch_norm.BN_PLANE_MIN
    rng = np.random.default_rng(sum(shape))
    channels = shape[1]
    (low, high), min_spread = ((990, 1010), 0.01) if dtype == np.float64 else ((0, 10), 0.5)
    offset = rng.uniform(low, high, (1, channels, 1))
    x = (offset + rng.uniform(min_spread, 3, (1, channels, 1)) * rng.standard_normal(shape)).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    w, b = (1 + 0.1 * rng.standard_normal(channels)).astype(dtype), rng.standard_normal(channels).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-10

    def check(got, fn, *args):
        expected = fn(*(a.astype(np.float64) for a in args), 1e-5)
        for o, e in zip(got if isinstance(got, tuple) else (got,), expected if isinstance(expected, tuple) else (expected,)):
            assert o.dtype == dtype
            np.testing.assert_allclose(o, e, rtol=rtol, atol=rtol * np.abs(e).max())

    y, mean, var = kernels.batch_norm_forward_train(x, w, b, 1e-5)
    check((y, mean, var), R.batch_norm_forward_train, x, w, b)
    check(kernels.batch_norm_forward_eval(x, mean, var, w, b, 1e-5), R.batch_norm_forward_eval, x, mean, var, w, b)
    check(kernels.batch_norm_backward_train(g, x, mean, var, w, 1e-5), R.batch_norm_backward_train, g, x, mean, var, w)
    check(kernels.batch_norm_backward_eval(g, x, mean, var, w, 1e-5), R.batch_norm_backward_eval, g, x, mean, var, w)
