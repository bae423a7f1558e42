"""Every kernel set against the NumPy reference (`minigan.reference`), and independent checks of
the reference itself (naive loops, adjoint identities, finite differences, direct formulas).

Expected values come from the reference evaluated in float64 on the same (exactly up-cast)
inputs, then rounded to the dtype under test. Add a kernel set by appending its name to
KERNEL_SETS.
"""

import importlib

import numpy as np
import pytest

from minigan import reference as R
from minigan.kernels.geometry import conv2d_output_hw

KERNEL_SETS = ["numba"]
DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def load_kernel_set(name):
    if name == "numba":
        return importlib.import_module("minigan.kernels")
    return importlib.import_module("minigan.cuda_kernels").kernel_set(name)


@pytest.fixture(scope="module", params=KERNEL_SETS)
def ks(request):
    return load_kernel_set(request.param)


def rand(seed, shape, dtype, scale=1.0, offset=0.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale + offset).astype(dtype)


def uniform(seed, shape, dtype, low=0.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)


def _as(value, dtype):
    """Floating arrays converted to dtype; index arrays, scalars and None unchanged."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    return value


def reference64(fn, *args, dtype):
    """fn evaluated in float64 on up-cast args, its floating results rounded to dtype."""
    out = fn(*(_as(a, np.float64) for a in args))
    return tuple(_as(o, dtype) for o in out) if isinstance(out, tuple) else _as(out, dtype)


def assert_matches(actual, expected):
    """Same dtype and shape; values within rtol 1e-5, atol 1e-6*max|expected| (float32) or 1e-10 / 1e-12 (float64)."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_matches(a, e)
        return
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    scale = max(float(np.abs(expected).max(initial=0.0)), 1.0)
    rtol, atol = (1e-5, 1e-6 * scale) if expected.dtype == np.float32 else (1e-10, 1e-12 * scale)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def call_pure(fn, *args):
    """fn(*args), checking that it left every array argument bitwise unchanged."""
    before = [a.copy() if isinstance(a, np.ndarray) else None for a in args]
    out = fn(*args)
    for a, b in zip(args, before):
        if b is not None:
            np.testing.assert_array_equal(a, b, err_msg=f"{fn.__name__} wrote into an input")
    return out


def variants(ks, name):
    """The fast kernel and, when the set has them, its readable *_direct twin and its *_im2col path."""
    return [getattr(ks, name + suffix) for suffix in ("", "_direct", "_im2col") if hasattr(ks, name + suffix)]


# ----------------------------------------------------------------------------- convolution
# (N, C, O, H, W, kernel, stride, padding, dilation, bias)
CONV_CASES = [
    (1, 3, 2, 7, 9, (3, 3), (1, 1), (0, 0), (1, 1), False),
    (3, 5, 4, 7, 9, (3, 2), (2, 3), (1, 2), (2, 1), True),
    (3, 3, 5, 9, 7, (1, 1), (3, 3), (0, 0), (1, 1), True),
    (2, 5, 3, 8, 11, (4, 4), (2, 2), (1, 1), (1, 1), True),
    (1, 5, 4, 7, 9, (2, 3), (1, 2), (2, 0), (2, 2), False),
    (3, 3, 4, 7, 9, (3, 3), (3, 2), (2, 2), (1, 2), True),
]


def conv_inputs(case, dtype, seed=0):
    n, c, o, h, w, k, s, p, d, has_bias = case
    x = rand(seed, (n, c, h, w), dtype)
    weight = rand(seed + 1, (o, c) + k, dtype, scale=0.5)
    bias = rand(seed + 2, (o,), dtype) if has_bias else None
    out_hw = conv2d_output_hw((h, w), k, s, p, d)
    grad_y = rand(seed + 3, (n, o) + out_hw, dtype)
    return x, weight, bias, grad_y, (s, p, d)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward(ks, case, dtype):
    x, weight, bias, _, geometry = conv_inputs(case, dtype)
    expected = reference64(R.conv2d_forward, x, weight, bias, *geometry, dtype=dtype)
    for fn in variants(ks, "conv2d_forward"):
        assert_matches(call_pure(fn, x, weight, bias, *geometry), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_backward_data(ks, case, dtype):
    x, weight, _, grad_y, geometry = conv_inputs(case, dtype)
    expected = reference64(R.conv2d_backward_data, grad_y, weight, x.shape[2:], *geometry, dtype=dtype)
    for fn in variants(ks, "conv2d_backward_data"):
        assert_matches(call_pure(fn, grad_y, weight, x.shape[2:], *geometry), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_backward_weight(ks, case, dtype):
    x, weight, _, grad_y, geometry = conv_inputs(case, dtype)
    expected = reference64(R.conv2d_backward_weight, grad_y, x, weight.shape[2:], *geometry, dtype=dtype)
    for fn in variants(ks, "conv2d_backward_weight"):
        assert_matches(call_pure(fn, grad_y, x, weight.shape[2:], *geometry), expected)


@pytest.mark.parametrize("case", CONV_CASES[1::2])
def test_conv2d_direct_and_gemm_paths_agree(ks, case):
    x, weight, bias, grad_y, geometry = conv_inputs(case, np.float64, seed=7)
    if not hasattr(ks, "conv2d_forward_direct"):
        pytest.skip("kernel set has no direct convolution")
    pairs = [("conv2d_forward", (x, weight, bias)), ("conv2d_backward_data", (grad_y, weight, x.shape[2:])),
             ("conv2d_backward_weight", (grad_y, x, weight.shape[2:]))]
    for name, args in pairs:
        fast, direct = getattr(ks, name), getattr(ks, name + "_direct")
        np.testing.assert_allclose(fast(*args, *geometry), direct(*args, *geometry), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- batch norm
BN_SHAPES = [(5, 3, 1), (3, 4, 63), (1, 5, 9), (7, 6, 1)]     # (N, C, L): 2-D (L = 1) and 4-D-style


def bn_inputs(shape, dtype, seed=0):
    c = shape[1]
    x = rand(seed, shape, dtype, scale=2.0, offset=3.0)
    return (x, rand(seed + 1, (c,), dtype, offset=1.0), rand(seed + 2, (c,), dtype),
            rand(seed + 3, shape, dtype), rand(seed + 4, (c,), dtype), uniform(seed + 5, (c,), dtype, 0.5, 2.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_train(ks, shape, dtype):
    x, weight, bias, grad_y, _, _ = bn_inputs(shape, dtype)
    y, mean, var = call_pure(ks.batch_norm_forward_train, x, weight, bias, 1e-5)
    assert_matches((y, mean, var), reference64(R.batch_norm_forward_train, x, weight, bias, 1e-5, dtype=dtype))
    expected = reference64(R.batch_norm_backward_train, grad_y, x, mean, var, weight, 1e-5, dtype=dtype)
    assert_matches(call_pure(ks.batch_norm_backward_train, grad_y, x, mean, var, weight, 1e-5), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_eval(ks, shape, dtype):
    x, weight, bias, grad_y, running_mean, running_var = bn_inputs(shape, dtype, seed=10)
    stats = (running_mean, running_var)
    assert_matches(call_pure(ks.batch_norm_forward_eval, x, *stats, weight, bias, 1e-3),
                   reference64(R.batch_norm_forward_eval, x, *stats, weight, bias, 1e-3, dtype=dtype))
    assert_matches(call_pure(ks.batch_norm_backward_eval, grad_y, x, *stats, weight, 1e-3),
                   reference64(R.batch_norm_backward_eval, grad_y, x, *stats, weight, 1e-3, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_update_running(ks, dtype):
    _, _, _, _, mean, var = bn_inputs((3, 5, 7), dtype, seed=20)
    state = [rand(21, (5,), dtype), uniform(22, (5,), dtype, 0.5, 1.5)]
    expected = [a.copy() for a in state]
    for _ in range(2):                                  # twice: the update composes in place
        R.batch_norm_update_running(*expected, mean, var, 21, 0.1)
        ks.batch_norm_update_running(*state, mean, var, 21, 0.1)
    assert_matches(tuple(state), tuple(expected))


# ----------------------------------------------------------------------------- activations
ACT_SHAPE = (3, 5, 7, 9)


def act_input(dtype, seed):
    x = rand(seed, ACT_SHAPE, dtype, scale=3.0)
    x.reshape(-1)[::11] = 0                             # the kink of relu / leaky_relu
    x.reshape(-1)[5::97] = 60                           # far tails: sigmoid must not overflow
    x.reshape(-1)[7::97] = -100
    x.reshape(-1)[9::97] = 3e-7                        # tiny: tanh's float32 path switches formula at 2^-20
    x.reshape(-1)[13::97] = -2e-6
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, args", [("relu", ()), ("leaky_relu", (0.2,)), ("leaky_relu", (0.01,)),
                                        ("tanh", ()), ("sigmoid", ())])
def test_activation(ks, name, args, dtype):
    x, grad_y = act_input(dtype, 0), rand(1, ACT_SHAPE, dtype)
    forward, backward = getattr(ks, name + "_forward"), getattr(ks, name + "_backward")
    y = call_pure(forward, x, *args)
    assert_matches(y, reference64(getattr(R, name + "_forward"), x, *args, dtype=dtype))
    saved = y if name in ("tanh", "sigmoid") else x        # tanh and sigmoid differentiate from the output
    assert_matches(call_pure(backward, grad_y, saved, *args),
                   reference64(getattr(R, name + "_backward"), grad_y, saved, *args, dtype=dtype))


def test_numba_tanh_float32_within_one_ulp():
    """The float32 tanh (exp-based, in float64) stays within 1 ulp of the exact value over a wide range."""
    from minigan import kernels
    x = np.concatenate([rand(5, 20001, np.float32, scale=4.0), np.geomspace(1e-9, 20, 999, dtype=np.float32)])
    exact = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert (np.abs(kernels.tanh_forward(x) - exact) / ulp).max() <= 1.0


# ----------------------------------------------------------------------------- losses
LOSS_SHAPE = (3, 5, 7)


def loss_inputs(name, dtype, seed=0):
    if name == "bce":
        p = uniform(seed, LOSS_SHAPE, dtype, 0.01, 0.99)
        p.reshape(-1)[:2] = (0.0, 1.0)                  # both log clamps at -100
        return p, uniform(seed + 1, LOSS_SHAPE, dtype)
    if name == "bce_with_logits":
        z = rand(seed, LOSS_SHAPE, dtype, scale=4.0)
        z.reshape(-1)[:2] = (-120.0, 90.0)
        return z, uniform(seed + 1, LOSS_SHAPE, dtype)
    return rand(seed, LOSS_SHAPE, dtype), rand(seed + 1, LOSS_SHAPE, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["bce", "bce_with_logits", "mse", "kl_normal"])
def test_loss(ks, name, reduction, dtype):
    a, b = loss_inputs(name, dtype)
    forward, backward = getattr(ks, name + "_forward"), getattr(ks, name + "_backward")
    loss = call_pure(forward, a, b, reduction)
    assert_matches(loss, reference64(getattr(R, name + "_forward"), a, b, reduction, dtype=dtype))
    grad_out = rand(3, loss.shape, dtype)
    assert_matches(call_pure(backward, grad_out, a, b, reduction),
                   reference64(getattr(R, name + "_backward"), grad_out, a, b, reduction, dtype=dtype))


# ----------------------------------------------------------------------------- pooling
# (kernel, stride, padding): tiling, overlapping with padding, non-square everything
POOL_CASES = [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 2), (1, 2), (1, 1)),
              ((2, 3), (3, 1), (0, 1))]


def pool_input(dtype, seed, shape=(3, 5, 7, 9), ties=False):
    if ties:                                             # few distinct values: many equal maxima
        return np.random.default_rng(seed).integers(-2, 3, shape).astype(dtype)
    return rand(seed, shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("geometry", POOL_CASES)
def test_max_pool2d(ks, geometry, ties, dtype):
    x = pool_input(dtype, 0, ties=ties)
    y, indices = call_pure(ks.max_pool2d_forward, x, *geometry)
    expected_y, expected_indices = reference64(R.max_pool2d_forward, x, *geometry, dtype=dtype)
    assert_matches(y, expected_y)
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices, expected_indices)
    grad_y = rand(1, y.shape, dtype)
    assert_matches(call_pure(ks.max_pool2d_backward, grad_y, indices, x.shape[2:]),
                   reference64(R.max_pool2d_backward, grad_y, indices, x.shape[2:], dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", POOL_CASES)
def test_max_unpool2d(ks, geometry, dtype):
    x = pool_input(dtype, 2, shape=(1, 3, 9, 7))
    _, indices = R.max_pool2d_forward(x, *geometry)      # overlapping windows repeat indices
    pooled = rand(3, indices.shape, dtype)
    expected = reference64(R.max_unpool2d_forward, pooled, indices, x.shape[2:], dtype=dtype)
    assert_matches(call_pure(ks.max_unpool2d_forward, pooled, indices, x.shape[2:]), expected)
    grad_y = rand(4, x.shape, dtype)
    assert_matches(call_pure(ks.max_unpool2d_backward, grad_y, indices),
                   reference64(R.max_unpool2d_backward, grad_y, indices, dtype=dtype))


# ----------------------------------------------------------------------------- optimizers
PARAM_SHAPE = (5, 7)
STEPS = 4


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.1), (0.5, 0.0), (0.0, 0.01)])
def test_sgd_steps(ks, momentum, weight_decay, dtype):
    params = [rand(0, PARAM_SHAPE, dtype) for _ in range(2)]
    # stale buffer contents: the first step must overwrite them, not decay them
    buffers = [rand(9, PARAM_SHAPE, dtype) if momentum else None for _ in range(2)]
    for step in range(STEPS):
        grad = rand(step + 1, PARAM_SHAPE, dtype)
        grad_before = grad.copy()
        R.sgd_step(params[0], grad, buffers[0], 0.05, momentum, weight_decay, step == 0)
        ks.sgd_step(params[1], grad, buffers[1], 0.05, momentum, weight_decay, step == 0)
        np.testing.assert_array_equal(grad, grad_before)
        assert_matches(params[1], params[0])
        if momentum:
            assert_matches(buffers[1], buffers[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("betas, weight_decay", [((0.9, 0.999), 0.0), ((0.5, 0.9), 0.1)])
def test_adam_steps(ks, betas, weight_decay, dtype):
    states = [[rand(0, PARAM_SHAPE, dtype), rand(1, PARAM_SHAPE, dtype, scale=0.1),
               uniform(2, PARAM_SHAPE, dtype, 0.0, 0.1)] for _ in range(2)]       # mid-training state
    for step in range(1, STEPS + 1):
        grad = rand(step, PARAM_SHAPE, dtype)
        grad_before = grad.copy()
        for fn, (param, m, v) in zip((R.adam_step, ks.adam_step), states):
            fn(param, grad, m, v, step, 2e-2, *betas, 1e-8, weight_decay)
        np.testing.assert_array_equal(grad, grad_before)
        assert_matches(tuple(states[1]), tuple(states[0]))


# ----------------------------------------------------------------------------- dtypes and layouts

@pytest.mark.parametrize("module", ["reference", "kernels"])
def test_float32_in_float32_out(module, ks):
    kernel_set = R if module == "reference" else ks
    x = rand(0, (2, 3, 7, 9), np.float32)
    weight = rand(1, (4, 3, 3, 3), np.float32)
    outputs = [kernel_set.conv2d_forward(x, weight, rand(2, (4,), np.float32), (1, 1), (1, 1), (1, 1)),
               *kernel_set.batch_norm_forward_train(x.reshape(2, 3, -1), weight[0, :, 0, 0], weight[1, :, 0, 0], 1e-5),
               kernel_set.sigmoid_forward(x), kernel_set.leaky_relu_backward(x, x, 0.2),
               kernel_set.bce_with_logits_forward(x, x, "mean"), *kernel_set.kl_normal_backward(x, x, x, "none"),
               kernel_set.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))[0]]
    assert [o.dtype for o in outputs] == [np.float32] * len(outputs)


def test_non_contiguous_inputs(ks):
    x = rand(0, (3, 9, 5, 7), np.float64).transpose(0, 1, 3, 2)     # (3, 9, 7, 5), not C-contiguous
    weight = rand(1, (4, 9, 2, 3), np.float64)
    assert_matches(ks.conv2d_forward(x, weight, None, (1, 2), (1, 0), (1, 1)),
                   R.conv2d_forward(x, weight, None, (1, 2), (1, 0), (1, 1)))
    assert_matches(ks.tanh_forward(x), np.tanh(x))


# ----------------------------------------------------------------------------- the reference itself

def naive_conv2d(x, weight, bias, stride, padding, dilation):
    """y[n, o, ho, wo] by the textbook sum, one output element at a time."""
    (n_img, channels, height, width), (out_c, _, kh, kw) = x.shape, weight.shape
    out_h, out_w = conv2d_output_hw((height, width), (kh, kw), stride, padding, dilation)
    y = np.zeros((n_img, out_c, out_h, out_w))
    for n, o, ho, wo in np.ndindex(y.shape):
        total = bias[o]
        for c, i, j in np.ndindex(channels, kh, kw):
            h = ho * stride[0] - padding[0] + i * dilation[0]
            w = wo * stride[1] - padding[1] + j * dilation[1]
            if 0 <= h < height and 0 <= w < width:
                total += weight[o, c, i, j] * x[n, c, h, w]
        y[n, o, ho, wo] = total
    return y


@pytest.mark.parametrize("case", CONV_CASES[:2] + CONV_CASES[4:])
def test_reference_conv2d_matches_naive_loop(case):
    x, weight, bias, _, geometry = conv_inputs(case, np.float64)
    bias = np.zeros(weight.shape[0]) if bias is None else bias
    np.testing.assert_allclose(R.conv2d_forward(x, weight, bias, *geometry), naive_conv2d(x, weight, bias, *geometry),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES)
def test_reference_conv2d_backwards_are_adjoints(case):
    """<conv(x, w), g> = <x, backward_data(g, w)> = <w, backward_weight(g, x)> (conv is bilinear)."""
    x, weight, _, grad_y, geometry = conv_inputs(case, np.float64, seed=3)
    inner = np.vdot(R.conv2d_forward(x, weight, None, *geometry), grad_y)
    np.testing.assert_allclose(np.vdot(x, R.conv2d_backward_data(grad_y, weight, x.shape[2:], *geometry)), inner,
                               rtol=1e-12)
    np.testing.assert_allclose(np.vdot(weight, R.conv2d_backward_weight(grad_y, x, weight.shape[2:], *geometry)),
                               inner, rtol=1e-12)


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (float64), one element at a time."""
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        old = x[k]
        x[k] = old + eps
        up = f(x)
        x[k] = old - eps
        down = f(x)
        x[k] = old
        grad[k] = (up - down) / (2 * eps)
    return grad


def test_reference_batch_norm_backward_matches_finite_differences():
    x, weight, bias, grad_y, running_mean, running_var = bn_inputs((3, 4, 5), np.float64, seed=30)
    _, mean, var = R.batch_norm_forward_train(x, weight, bias, 1e-5)
    grad_x, grad_w, grad_b = R.batch_norm_backward_train(grad_y, x, mean, var, weight, 1e-5)

    def objective(x_=x, w_=weight, b_=bias):
        return np.vdot(R.batch_norm_forward_train(x_, w_, b_, 1e-5)[0], grad_y)
    np.testing.assert_allclose(grad_x, numeric_grad(lambda v: objective(x_=v), x.copy()), atol=1e-6)
    np.testing.assert_allclose(grad_w, numeric_grad(lambda v: objective(w_=v), weight.copy()), atol=1e-6)
    np.testing.assert_allclose(grad_b, numeric_grad(lambda v: objective(b_=v), bias.copy()), atol=1e-6)
    eval_grad_x = R.batch_norm_backward_eval(grad_y, x, running_mean, running_var, weight, 1e-5)[0]
    numeric = numeric_grad(lambda v: np.vdot(R.batch_norm_forward_eval(
        v, running_mean, running_var, weight, bias, 1e-5), grad_y), x.copy())
    np.testing.assert_allclose(eval_grad_x, numeric, atol=1e-6)


def elementwise_derivative(f, x, eps=1e-6):
    """d f(x) / dx for an elementwise f, by central differences on the whole array at once."""
    return (f(x + eps) - f(x - eps)) / (2 * eps)


@pytest.mark.parametrize("name, args", [("relu", ()), ("leaky_relu", (0.3,)), ("tanh", ()), ("sigmoid", ())])
def test_reference_activation_backward_matches_finite_differences(name, args):
    x = rand(40, (4, 7), np.float64, scale=3.0)
    forward = getattr(R, name + "_forward")
    grad_y = rand(41, x.shape, np.float64)
    saved = forward(x, *args) if name in ("tanh", "sigmoid") else x
    numeric = grad_y * elementwise_derivative(lambda v: forward(v, *args), x)
    np.testing.assert_allclose(getattr(R, name + "_backward")(grad_y, saved, *args), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["bce", "bce_with_logits", "mse", "kl_normal"])
def test_reference_loss_backward_matches_finite_differences(name):
    a, b = loss_inputs(name, np.float64, seed=50)
    if name == "bce":
        a = np.clip(a, 0.05, 0.95)                      # away from the clamps, where l is smooth
    grad_out = rand(51, a.shape, np.float64)
    forward, backward = getattr(R, name + "_forward"), getattr(R, name + "_backward")
    grads = backward(grad_out, a, b, "none")
    grads = grads if isinstance(grads, tuple) else (grads,)
    np.testing.assert_allclose(grads[0], grad_out * elementwise_derivative(lambda v: forward(v, b, "none"), a),
                               rtol=1e-5, atol=1e-7)
    if name == "kl_normal":
        np.testing.assert_allclose(grads[1], grad_out * elementwise_derivative(lambda v: forward(a, v, "none"), b),
                                   rtol=1e-5, atol=1e-7)
    for reduction, factor in (("sum", 1.0), ("mean", 1.0 / a.size)):
        g = np.asarray(1.7)
        reduced = backward(g, a, b, reduction)
        reduced = reduced if isinstance(reduced, tuple) else (reduced,)
        full = backward(np.full(a.shape, 1.7 * factor), a, b, "none")
        full = full if isinstance(full, tuple) else (full,)
        for r, f in zip(reduced, full):
            np.testing.assert_allclose(r, f, rtol=1e-12)


def test_reference_losses_match_direct_formulas():
    p, t = loss_inputs("bce", np.float64, seed=60)
    p = np.clip(p, 0.01, 0.99)
    np.testing.assert_allclose(R.bce_forward(p, t, "mean"), np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p))))
    z = rand(61, (4, 9), np.float64, scale=3.0)
    t = uniform(62, z.shape, np.float64)
    np.testing.assert_allclose(R.bce_with_logits_forward(z, t, "none"),
                               R.bce_forward(1 / (1 + np.exp(-z)), t, "none"), rtol=1e-9)
    np.testing.assert_allclose(R.bce_forward(np.array([0.0, 1.0]), np.array([1.0, 0.0]), "none"), [100.0, 100.0])
    mu, logvar = rand(63, (3, 8), np.float64), rand(64, (3, 8), np.float64, scale=0.5)
    var = np.exp(logvar)        # KL of N(mu, var) from N(0, 1), per dimension: (var + mu^2 - 1 - log var) / 2
    np.testing.assert_allclose(R.kl_normal_forward(mu, logvar, "sum"), np.sum(var + mu ** 2 - 1 - logvar) / 2)
    x, t = rand(65, (5, 3), np.float64), rand(66, (5, 3), np.float64)
    np.testing.assert_allclose(R.mse_forward(x, t, "sum"), sum((a - b) ** 2 for a, b in zip(x.flat, t.flat)))


def naive_max_pool(x, kernel, stride, padding):
    """(y, indices) by scanning each window in row-major order, skipping the padding."""
    height, width = x.shape[2:]
    out_hw = conv2d_output_hw((height, width), kernel, stride, padding)
    y, indices = np.zeros(x.shape[:2] + out_hw), np.zeros(x.shape[:2] + out_hw, dtype=np.int64)
    for n, c, ho, wo in np.ndindex(y.shape):
        window = [(x[n, c, h, w], h * width + w)
                  for h in range(ho * stride[0] - padding[0], ho * stride[0] - padding[0] + kernel[0])
                  for w in range(wo * stride[1] - padding[1], wo * stride[1] - padding[1] + kernel[1])
                  if 0 <= h < height and 0 <= w < width]
        best = max(v for v, _ in window)
        y[n, c, ho, wo], indices[n, c, ho, wo] = next((v, k) for v, k in window if v == best)
    return y, indices


@pytest.mark.parametrize("geometry", POOL_CASES)
def test_reference_max_pool_matches_naive_loop(geometry):
    x = pool_input(np.float64, 70, shape=(2, 3, 7, 9), ties=True)
    y, indices = R.max_pool2d_forward(x, *geometry)
    expected_y, expected_indices = naive_max_pool(x, *geometry)
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(indices, expected_indices)
    grad_y = rand(71, y.shape, np.float64)          # backward is the adjoint of gathering at indices
    np.testing.assert_allclose(np.vdot(R.max_pool2d_backward(grad_y, indices, x.shape[2:]), x),
                               np.vdot(grad_y, y), rtol=1e-12)


def test_reference_max_pool_propagates_nan():
    x = rand(72, (1, 1, 4, 4), np.float64)
    x[0, 0, 1, 2] = np.nan
    y, indices = R.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert np.isnan(y[0, 0, 0, 1]) and indices[0, 0, 0, 1] == 1 * 4 + 2
    assert not np.isnan(np.delete(y.reshape(-1), 1)).any()


def test_reference_sgd_momentum_closed_form():
    """Constant gradient g, no decay: after k steps buf = g (1 - m^k) / (1 - m), p = p0 - lr sum of buffers."""
    p0, g = rand(80, (3, 4), np.float64), rand(81, (3, 4), np.float64)
    param, buf, m, lr = p0.copy(), np.zeros_like(p0), 0.9, 0.1
    for step in range(5):
        R.sgd_step(param, g, buf, lr, m, 0.0, step == 0)
    buffers = [g * (1 - m ** k) / (1 - m) for k in range(1, 6)]
    np.testing.assert_allclose(buf, buffers[-1], rtol=1e-12)
    np.testing.assert_allclose(param, p0 - lr * sum(buffers), rtol=1e-12)


def test_reference_adam_first_step_is_sign_step():
    """At step 1, m_hat = g and v_hat = g^2, so p moves by lr * g / (|g| + eps): about lr * sign(g)."""
    p0, g = rand(82, (3, 4), np.float64), rand(83, (3, 4), np.float64)
    param = p0.copy()
    R.adam_step(param, g, np.zeros_like(p0), np.zeros_like(p0), 1, 0.01, 0.9, 0.999, 1e-8, 0.0)
    np.testing.assert_allclose(param, p0 - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12)


# ----------------------------------------------------------------------------- the reference vs PyTorch

def test_reference_matches_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, weight, bias, grad_y, (s, p, d) = conv_inputs(CONV_CASES[1], np.float64, seed=90)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    ty = tf.conv2d(tx, tw, torch.tensor(bias), s, p, d)
    ty.backward(torch.tensor(grad_y))
    np.testing.assert_allclose(R.conv2d_forward(x, weight, bias, s, p, d), ty.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(R.conv2d_backward_data(grad_y, weight, x.shape[2:], s, p, d), tx.grad.numpy(),
                               atol=1e-12)
    np.testing.assert_allclose(R.conv2d_backward_weight(grad_y, x, weight.shape[2:], s, p, d), tw.grad.numpy(),
                               atol=1e-12)

    xp = pool_input(np.float64, 91, shape=(2, 3, 7, 9), ties=True)
    ty, ti = tf.max_pool2d(torch.tensor(xp), (3, 2), (1, 2), (1, 1), return_indices=True)
    y, indices = R.max_pool2d_forward(xp, (3, 2), (1, 2), (1, 1))
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(indices, ti.numpy())

    param, grad = rand(92, (4, 5), np.float32), rand(93, (4, 5), np.float32)
    tp = torch.tensor(param.copy(), requires_grad=True)
    opt = torch.optim.Adam([tp], lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1)
    m, v = np.zeros_like(param), np.zeros_like(param)
    for step in range(1, 4):
        tp.grad = torch.tensor(grad * step)
        opt.step()
        R.adam_step(param, grad * step, m, v, step, 1e-2, 0.8, 0.99, 1e-8, 0.1)
    np.testing.assert_allclose(param, tp.detach().numpy(), rtol=1e-6, atol=1e-7)
