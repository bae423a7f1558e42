"""Every differentiable op against central finite differences, in float64, over a grid of cases."""

import numpy as np
import pytest

import minigan as mg
from minigan import functional as F
from minigan.gradcheck import GradcheckError, gradcheck


def t(*shape, seed, low=None, high=None, grad=True):
    """A float64 tensor of random values (normal, or uniform in [low, high])."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape) if low is None else rng.uniform(low, high, shape)
    return mg.tensor(values, dtype=mg.float64, requires_grad=grad)


@pytest.mark.parametrize("a_shape,b_shape", [((3, 4), (3, 4)), ((2, 1, 5), (3, 1)), ((5,), (2, 3, 5)), ((), (2, 3))])
def test_arithmetic_with_broadcasting(a_shape, b_shape):
    a, b = t(*a_shape, seed=0), t(*b_shape, seed=1, low=0.5, high=2.0)
    assert gradcheck(lambda a, b: a + b * a - b / (a * a + 1.0) - a / b, (a, b))


def test_pow_exp_log_neg():
    a, b = t(2, 3, seed=0, low=0.5, high=2.0), t(2, 3, seed=1, low=-1.0, high=1.0)
    assert gradcheck(lambda a, b: -(a ** b) + a ** 3 + 2.0 ** b + a.log() * b.exp(), (a, b))


@pytest.mark.parametrize("a_shape,b_shape", [((3, 4), (4, 5)), ((2, 3, 4), (4, 2)), ((2, 1, 3, 4), (3, 4, 2))])
def test_matmul(a_shape, b_shape):
    assert gradcheck(F.matmul, (t(*a_shape, seed=0), t(*b_shape, seed=1)))


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), ((0, 2), True), (-1, False)])
def test_sum_and_mean(axis, keepdims):
    x = t(3, 4, 5, seed=0)
    assert gradcheck(lambda x: x.sum(axis=axis, keepdims=keepdims) * 2 + x.mean(axis=axis, keepdims=keepdims), x)


def test_shape_ops_indexing_and_cat():
    x = t(2, 3, 5, seed=0)
    y = t(2, 1, 5, seed=1)
    assert gradcheck(lambda x: x.reshape(5, 6).transpose(0, 1).permute(1, 0)[1:4, ::2], x)
    assert gradcheck(lambda x, y: F.cat([x, y, x[:, :1]], axis=1), (x, y))
    assert gradcheck(lambda x: x[np.array([1, 1, 0]), :, np.array([4, 4, 2])], x)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(1, 4), (3, 4), (2, 3, 4)])
def test_linear(x_shape, bias):
    w, b = t(5, 4, seed=1), (t(5, seed=2) if bias else None)
    inputs = (t(*x_shape, seed=0), w) + ((b,) if bias else ())
    assert gradcheck(lambda x, w, *b: F.linear(x, w, *b), inputs)


CONV_CASES = [
    # N, C_in, C_out, H, W, kH, kW, stride, padding, dilation, bias
    (1, 1, 2, 5, 7, 3, 3, 1, 0, 1, True),
    (2, 3, 2, 6, 5, 3, 2, 2, 1, 1, False),
    (2, 2, 3, 7, 6, 2, 3, 3, 2, 1, True),
    (1, 2, 2, 7, 8, 3, 3, 1, 1, 2, True),
    (3, 1, 2, 5, 6, 2, 2, (2, 1), (0, 2), (2, 1), False),
]


@pytest.mark.parametrize("n,c_in,c_out,h,w,kh,kw,stride,padding,dilation,bias", CONV_CASES)
def test_conv2d(n, c_in, c_out, h, w, kh, kw, stride, padding, dilation, bias):
    x, weight = t(n, c_in, h, w, seed=0), t(c_out, c_in, kh, kw, seed=1)
    inputs = (x, weight) + ((t(c_out, seed=2),) if bias else ())
    assert gradcheck(lambda x, w, *b: F.conv2d(x, w, *b, stride=stride, padding=padding, dilation=dilation), inputs)


TRANSPOSED_CASES = [
    # N, C_in, C_out, H, W, kH, kW, stride, padding, output_padding, dilation, bias
    (1, 2, 1, 3, 4, 3, 3, 1, 0, 0, 1, True),
    (2, 2, 3, 3, 2, 4, 3, 2, 1, 1, 1, False),
    (1, 3, 2, 2, 3, 2, 2, 3, 0, 2, 1, True),
    (2, 1, 2, 3, 3, 3, 2, 2, 2, (1, 0), 2, True),
    (1, 2, 2, 4, 3, 3, 3, (1, 2), (1, 0), (0, 1), (2, 1), False),
]


@pytest.mark.parametrize("n,c_in,c_out,h,w,kh,kw,stride,padding,output_padding,dilation,bias", TRANSPOSED_CASES)
def test_conv_transpose2d(n, c_in, c_out, h, w, kh, kw, stride, padding, output_padding, dilation, bias):
    x, weight = t(n, c_in, h, w, seed=0), t(c_in, c_out, kh, kw, seed=1)
    inputs = (x, weight) + ((t(c_out, seed=2),) if bias else ())
    options = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    assert gradcheck(lambda x, w, *b: F.conv_transpose2d(x, w, *b, **options), inputs)


@pytest.mark.parametrize("shape", [(5, 3), (3, 4, 2, 3), (1, 2, 3, 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training(shape, affine):
    c = shape[1]
    params = (t(c, seed=1, low=0.5, high=1.5), t(c, seed=2)) if affine else ()
    assert gradcheck(lambda x, *wb: F.batch_norm(x, None, None, *wb, training=True), (t(*shape, seed=0),) + params)


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4, 3)])
def test_batch_norm_eval(shape):
    c = shape[1]
    running_mean = t(c, seed=3, grad=False)
    running_var = t(c, seed=4, low=0.5, high=2.0, grad=False)
    inputs = (t(*shape, seed=0), t(c, seed=1), t(c, seed=2))
    assert gradcheck(lambda x, w, b: F.batch_norm(x, running_mean, running_var, w, b, training=False), inputs)


@pytest.mark.parametrize("activation", [F.relu, F.tanh, F.sigmoid, lambda x: F.leaky_relu(x, 0.2), F.leaky_relu])
def test_activations(activation):
    x = t(3, 7, seed=0)
    x.array[np.abs(x.array) < 1e-3] = 0.1  # keep finite differences away from the kink at 0
    assert gradcheck(activation, x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses(reduction):
    p = t(3, 5, seed=0, low=0.05, high=0.95)
    z = t(3, 5, seed=1)
    target = t(3, 5, seed=2, low=0.0, high=1.0)
    assert gradcheck(lambda p, y: F.binary_cross_entropy(p, y, reduction=reduction), (p, target))
    assert gradcheck(lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction=reduction), (z, target))
    assert gradcheck(lambda x, y: F.mse_loss(x, y, reduction=reduction), (z, t(3, 5, seed=3)))
    assert gradcheck(lambda mu, lv: F.kl_normal(mu, lv, reduction=reduction), (z, t(3, 5, seed=4)))


def distinct_values(*shape):
    """Distinct values, so every argmax is unique and finite differences never cross a tie."""
    values = np.random.default_rng(0).permutation(int(np.prod(shape))).reshape(shape) / 10.0
    return mg.tensor(values, dtype=mg.float64, requires_grad=True)


@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0))])
def test_max_pool(kernel, stride, padding):
    assert gradcheck(lambda x: F.max_pool2d(x, kernel, stride, padding), distinct_values(2, 3, 7, 8))


# non-overlapping windows: with overlap an index can repeat and unpooling it is ill-defined (as in PyTorch)
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), ((3, 2), (3, 2), (1, 0))])
def test_max_unpool(kernel, stride, padding):
    _, indices = F.max_pool2d(distinct_values(2, 3, 7, 8), kernel, stride, padding, return_indices=True)
    pooled = t(*indices.shape, seed=5)
    assert gradcheck(lambda y: F.max_unpool2d(y, indices, kernel, stride, padding, output_size=(7, 8)), pooled)


def test_gradcheck_reports_the_input_and_the_worst_element():
    class WrongSquare(mg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.x = x
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g * ctx.x  # should be 2·x·g

    x = t(4, seed=0, low=1.0, high=2.0)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(4,\)\) element \(\d,\): analytic .* vs numeric"):
        gradcheck(lambda x: WrongSquare.apply(x), x)


def test_gradcheck_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: x * 2, mg.randn(3, seed=0, requires_grad=True))


def test_grid_covers_every_stride_padding_and_dilation():
    strides = {s for case in CONV_CASES + TRANSPOSED_CASES for s in np.ravel(case[7])}
    paddings = {p for case in CONV_CASES for p in np.ravel(case[8])}
    dilations = {d for case in CONV_CASES for d in np.ravel(case[9])}
    assert strides >= {1, 2, 3} and paddings >= {0, 1, 2} and dilations >= {1, 2}
    assert max(max(np.ravel(c[9])) for c in TRANSPOSED_CASES) >= 1  # some output_padding
    assert max(max(np.ravel(c[10])) for c in TRANSPOSED_CASES) == 2  # some dilation
