"""Gradients of gradients: autograd.grad's semantics, gradgradcheck of every op (CPU and cuda-sim),
Hessian-vector products against PyTorch, and conv_transpose2d with output_padding >= stride."""

import numpy as np
import pytest

import minigan as mg
from minigan import autograd, backend
from minigan import functional as F
from minigan.gradcheck import GradcheckError, gradcheck, gradgradcheck

try:
    import torch  # the oracle of the Hessian-vector-product tests, which skip without it
except ImportError:
    torch = None


def arrays(seed, *shapes, low=None, high=None):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) if low is None else rng.uniform(low, high, s) for s in shapes]


def distinct(*shape, seed=0):
    """Distinct values, so every max-pool argmax is unique and finite differences never cross a tie."""
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) / 10.0 - 1.0


def away_from_zero(values):
    values[np.abs(values) < 0.05] = 0.3  # finite differences must not cross the kink at 0
    return values


def pool_indices(shape, kernel, stride, padding):
    _, indices = F.max_pool2d(mg.tensor(distinct(*shape, seed=1), dtype=mg.float64), kernel, stride, padding,
                              return_indices=True)
    return indices.numpy()


RUNNING = arrays(7, (3,))[0], arrays(8, (3,), low=0.5, high=2.0)[0]
UNPOOL_INDICES = pool_indices((2, 2, 6, 4), 2, 2, 0)

# name -> (inputs as float64 arrays, minigan function, the same function in PyTorch)
CASES = {
    "add_sub_broadcast": (arrays(0, (2, 3), (3,)), lambda a, b: (a + b) * (a - b) - b,
                          lambda a, b: (a + b) * (a - b) - b),
    "mul_div": (arrays(1, (2, 3), (2, 1), low=0.5, high=2.0), lambda a, b: a * b / (a + b * b),
                lambda a, b: a * b / (a + b * b)),
    "pow_exp_log_neg": (arrays(2, (3, 2), (3, 2), low=0.5, high=1.5),
                        lambda a, b: -(a ** b) + (a ** 3) + (2.0 ** b) + a.log() * b.exp(),
                        lambda a, b: -(a ** b) + (a ** 3) + (2.0 ** b) + a.log() * b.exp()),
    "matmul": (arrays(3, (2, 3, 4), (4, 2)), lambda a, b: (a @ b) * (a @ b), lambda a, b: (a @ b) * (a @ b)),
    "sum_mean": (arrays(4, (3, 4, 2)), lambda x: (x * x).sum(axis=(0, 2)) * x.mean(axis=1).sum(),
                 lambda x: (x * x).sum(dim=(0, 2)) * x.mean(dim=1).sum()),
    "reshape_transpose_index_cat": (arrays(5, (2, 3, 4)),
                                    lambda x: F.cat([x.reshape(6, 4).transpose(0, 1)[1:, ::2] ** 2,
                                                     x[0, np.array([2, 2, 0]), :3].exp()], axis=0),
                                    lambda x: torch.cat([x.reshape(6, 4).transpose(0, 1)[1:, ::2] ** 2,
                                                                       x[0, [2, 2, 0], :3].exp()], dim=0)),
    "linear": (arrays(6, (3, 4), (5, 4), (5,)), lambda x, w, b: F.tanh(F.linear(x, w, b)),
               lambda x, w, b: torch.tanh(torch.nn.functional.linear(x, w, b))),
    "conv2d": (arrays(9, (2, 2, 5, 6), (3, 2, 3, 2), (3,)),
               lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)) ** 2,
               lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=(2, 1), padding=1,
                                                                         dilation=(1, 2)) ** 2),
    "conv_transpose2d": (arrays(10, (2, 2, 3, 4), (2, 3, 3, 2), (3,)),
                         lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1) ** 2,
                         lambda x, w, b: torch.nn.functional.conv_transpose2d(
                             x, w, b, stride=2, padding=1, output_padding=1) ** 2),
    "conv_transpose2d_output_padding_over_stride": (
        arrays(11, (1, 2, 3, 4), (2, 2, 2, 3)),
        lambda x, w: F.conv_transpose2d(x, w, stride=1, dilation=2, output_padding=1) ** 2,
        lambda x, w: torch.nn.functional.conv_transpose2d(x, w, stride=1, dilation=2,
                                                                         output_padding=1) ** 2),
    "batch_norm_train": (arrays(12, (4, 3, 2, 3), (3,), (3,)),
                         lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True) ** 2,
                         lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b,
                                                                                       training=True) ** 2),
    "batch_norm_eval": (arrays(13, (4, 3, 5), (3,), (3,)),
                        lambda x, w, b: F.batch_norm(x, mg.tensor(RUNNING[0], dtype=mg.float64, device=x.device),
                                                     mg.tensor(RUNNING[1], dtype=mg.float64, device=x.device),
                                                     w, b, training=False) ** 2,
                        lambda x, w, b: torch.nn.functional.batch_norm(
                            x, torch.tensor(RUNNING[0]), torch.tensor(RUNNING[1]),
                            w, b, training=False) ** 2),
    "relu": ([away_from_zero(arrays(14, (3, 5))[0])], F.relu, lambda x: torch.relu(x)),
    "leaky_relu": ([away_from_zero(arrays(15, (3, 5))[0])], lambda x: F.leaky_relu(x, 0.2),
                   lambda x: torch.nn.functional.leaky_relu(x, 0.2)),
    "tanh": (arrays(16, (3, 5)), F.tanh, lambda x: torch.tanh(x)),
    "sigmoid": (arrays(17, (3, 5)), F.sigmoid, lambda x: torch.sigmoid(x)),
    "binary_cross_entropy": (arrays(18, (3, 4), (3, 4), low=0.1, high=0.9),
                             lambda p, t: F.binary_cross_entropy(p, t),
                             lambda p, t: torch.nn.functional.binary_cross_entropy(p, t)),
    "binary_cross_entropy_with_logits": (
        arrays(19, (3, 4)) + arrays(20, (3, 4), low=0.0, high=1.0),
        lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction="sum"),
        lambda z, t: torch.nn.functional.binary_cross_entropy_with_logits(z, t, reduction="sum")),
    "mse_loss": (arrays(21, (3, 4), (3, 4)), lambda x, t: F.mse_loss(x, t, reduction="none") ** 2,
                 lambda x, t: torch.nn.functional.mse_loss(x, t, reduction="none") ** 2),
    "kl_normal": (arrays(22, (3, 4), (3, 4)), lambda mu, lv: F.kl_normal(mu, lv, reduction="mean"),
                  lambda mu, lv: -0.5 * (1 + lv - mu ** 2 - lv.exp()).mean()),
    "max_pool2d": ([distinct(2, 2, 5, 6)], lambda x: F.max_pool2d(x, 3, 2, 1) ** 2,
                   lambda x: torch.nn.functional.max_pool2d(x, 3, 2, 1) ** 2),
    "max_unpool2d": (arrays(23, UNPOOL_INDICES.shape),
                     lambda y: F.max_unpool2d(y, UNPOOL_INDICES, 2, 2, output_size=(6, 4)) ** 2,
                     lambda y: torch.nn.functional.max_unpool2d(
                         y, torch.tensor(UNPOOL_INDICES), 2, 2, output_size=(6, 4)) ** 2),
}
LABELS = np.array([2, 0, 3])
EMBED_INDICES = np.array([[1, 3], [3, 0]])
CASES.update({  # the ops added for PyTorch-shaped programs
    "stack_where_clamp_abs": (arrays(24, (3, 4), (3, 4)),
                              lambda a, b: mg.stack([F.where(a > b, a * b, b ** 2), a.clamp(-0.5, 0.7),
                                                     (a - b).abs() * a], dim=1) ** 2,
                              lambda a, b: torch.stack([torch.where(a > b, a * b, b ** 2), a.clamp(-0.5, 0.7),
                                                    (a - b).abs() * a], dim=1) ** 2),
    "max_min_std_var_norm": (arrays(25, (3, 5)),
                             lambda x: x.max(dim=1)[0] * x.min(dim=0)[0].sum() + x.std(dim=1) * x.var()
                             + x.norm(2, dim=1) ** 3,
                             lambda x: x.max(dim=1)[0] * x.min(dim=0)[0].sum() + x.std(dim=1) * x.var()
                             + x.norm(2, dim=1) ** 3),
    "expand_repeat": (arrays(26, (3, 1)), lambda x: (x.expand(3, 4) * x.repeat(1, 4)).exp(),
                      lambda x: (x.expand(3, 4) * x.repeat(1, 4)).exp()),
    "softplus_softmax_log_softmax": (arrays(27, (3, 4)),
                                     lambda x: F.softplus(x, beta=2.0) * F.softmax(x, dim=1)
                                     + F.log_softmax(x, dim=0) ** 2,
                                     lambda x: torch.nn.functional.softplus(x, beta=2.0) * torch.softmax(x, dim=1)
                                     + torch.log_softmax(x, dim=0) ** 2),
    "interpolate_nearest": (arrays(28, (1, 2, 3, 2)), lambda x: F.interpolate(x, scale_factor=2) ** 3,
                            lambda x: torch.nn.functional.interpolate(x, scale_factor=2) ** 3),
    "embedding": (arrays(29, (4, 3)), lambda w: F.embedding(EMBED_INDICES, w) ** 3,
                  lambda w: torch.nn.functional.embedding(torch.tensor(EMBED_INDICES), w) ** 3),
    "l1_loss": ([away_from_zero(arrays(30, (3, 4))[0]), np.zeros((3, 4))],
                lambda x, t: F.l1_loss(x * x * x, t, reduction="sum"),
                lambda x, t: torch.nn.functional.l1_loss(x * x * x, t, reduction="sum")),
    "cross_entropy": (arrays(31, (3, 5)), lambda x: F.cross_entropy(x, LABELS),
                      lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(LABELS))),
    "nll_loss": (arrays(32, (3, 5)), lambda x: F.nll_loss(F.log_softmax(x * x, dim=1), LABELS, reduction="sum"),
                 lambda x: torch.nn.functional.nll_loss(torch.log_softmax(x * x, dim=1), torch.tensor(LABELS), reduction="sum")),
    "to_dtype": (arrays(33, (2, 3)), lambda x: F.to_dtype(x, mg.float64) ** 3, lambda x: x.to(torch.float64) ** 3),
})
PIECEWISE_LINEAR = ("relu", "leaky_relu", "max_pool2d_linear")
CASES["max_pool2d_linear"] = ([distinct(2, 2, 5, 6)], lambda x: F.max_pool2d(x, 2),
                              lambda x: torch.nn.functional.max_pool2d(x, 2))
SIM_CASES = ("linear", "conv2d", "conv_transpose2d", "conv_transpose2d_output_padding_over_stride",
             "batch_norm_train", "batch_norm_eval", "relu", "leaky_relu", "tanh", "sigmoid", "binary_cross_entropy",
             "binary_cross_entropy_with_logits", "mse_loss", "kl_normal", "max_pool2d", "max_unpool2d",
             "softplus_softmax_log_softmax", "interpolate_nearest", "embedding", "l1_loss", "cross_entropy",
             "nll_loss")


def tensors(name, device="cpu"):
    return [mg.tensor(a.copy(), dtype=mg.float64, device=device, requires_grad=True) for a in CASES[name][0]]


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck_cpu(name):
    assert gradgradcheck(CASES[name][1], tensors(name))


@pytest.mark.parametrize("name", SIM_CASES)
def test_gradgradcheck_cuda_sim(name):
    inputs = tensors(name, device="cuda-sim")
    assert CASES[name][1](*inputs).device == "cuda-sim"
    assert gradgradcheck(CASES[name][1], inputs)


def test_every_function_has_a_differentiable_backward():
    functions = [f for f in vars(F).values() if isinstance(f, type) and issubclass(f, mg.Function) and f is not mg.Function]
    assert len(functions) > 25
    missing = [f.__name__ for f in functions if f.backward_graph is mg.Function.backward_graph]
    assert missing == []


@pytest.mark.parametrize("name", PIECEWISE_LINEAR)
def test_piecewise_linear_second_derivative(name):
    """Zero w.r.t. the input, but the gradient is linear (non-zero) in the incoming gradient."""
    (x,) = tensors(name)
    y = CASES[name][1](x)
    v = mg.tensor(np.random.default_rng(0).standard_normal(y.shape), dtype=mg.float64, requires_grad=True)
    (dx,) = autograd.grad(y, x, v, create_graph=True)
    u = np.random.default_rng(1).standard_normal(x.shape)
    dx_dx, dx_dv = autograd.grad((dx * mg.tensor(u, dtype=mg.float64)).sum(), (x, v), allow_unused=True)
    assert dx_dx is None or not np.any(dx_dx.numpy())
    assert np.abs(dx_dv.numpy()).max() > 0.1
    # dx is linear in v: d<u, dx>/dv is the Jacobian applied to u, i.e. the forward derivative along u
    with mg.no_grad():
        eps = 1e-6
        xp_, xm_ = (mg.tensor(x.numpy() + s * eps * u, dtype=mg.float64) for s in (1, -1))
        jvp = (CASES[name][1](xp_).numpy() - CASES[name][1](xm_).numpy()) / (2 * eps)
    np.testing.assert_allclose(dx_dv.numpy(), jvp, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hessian_vector_products_match_torch(name):
    if torch is None:
        pytest.skip("PyTorch is not installed")
    values, fn, torch_fn = CASES[name]
    out_shape = fn(*tensors(name)).shape
    v, = arrays(100, out_shape)
    us = arrays(101, *[a.shape for a in values])

    xs = tensors(name)
    first = autograd.grad(fn(*xs), xs, mg.tensor(v, dtype=mg.float64), create_graph=True, allow_unused=True)
    s = sum((g * mg.tensor(u, dtype=mg.float64)).sum() for g, u in zip(first, us) if g is not None)
    second = autograd.grad(s, xs, allow_unused=True) if s.requires_grad else (None,) * len(xs)

    txs = [torch.tensor(a, requires_grad=True) for a in values]
    tfirst = torch.autograd.grad(torch_fn(*txs), txs, torch.tensor(v), create_graph=True, allow_unused=True)
    ts = sum((g * torch.tensor(u)).sum() for g, u in zip(tfirst, us) if g is not None)
    tsecond = torch.autograd.grad(ts, txs, allow_unused=True) if ts.requires_grad else (None,) * len(txs)

    def dense(g, like):
        return np.zeros(like.shape) if g is None else (g.numpy() if isinstance(g, mg.Tensor) else g.detach().numpy())

    for i, a in enumerate(values):
        np.testing.assert_allclose(dense(first[i], a), dense(tfirst[i], a), rtol=1e-9, atol=1e-10,
                                   err_msg=f"{name}: first derivative w.r.t. input {i}")
        np.testing.assert_allclose(dense(second[i], a), dense(tsecond[i], a), rtol=1e-8, atol=1e-9,
                                   err_msg=f"{name}: Hessian-vector product w.r.t. input {i}")


# --- autograd.grad / backward semantics (PyTorch's) ---------------------------------------------
def leaf(values, **kw):
    return mg.tensor(np.asarray(values, dtype=np.float64), dtype=mg.float64, requires_grad=True, **kw)


def test_grad_returns_a_tuple_and_leaves_dot_grad_alone():
    x = leaf([1.0, 2.0, 3.0])
    (g,) = autograd.grad((x ** 3).sum(), x)
    assert isinstance(g, mg.Tensor) and not g.requires_grad
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0, 27.0])
    assert x.grad is None


def test_create_graph_gives_a_differentiable_gradient_to_third_order():
    x = leaf([0.5, -1.5])
    (g,) = autograd.grad((x ** 4).sum(), x, create_graph=True)  # 4x³
    (h,) = autograd.grad(g.sum(), x, create_graph=True)          # 12x²
    (k,) = autograd.grad(h.sum(), x)                              # 24x
    np.testing.assert_allclose(g.numpy(), 4 * np.array([0.5, -1.5]) ** 3)
    np.testing.assert_allclose(h.numpy(), 12 * np.array([0.5, -1.5]) ** 2)
    np.testing.assert_allclose(k.numpy(), [12.0, -36.0])


def test_backward_with_create_graph_makes_dot_grad_differentiable():
    x = leaf([2.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (g2,) = autograd.grad(x.grad.sum(), x)
    np.testing.assert_allclose(g2.numpy(), [12.0])  # d(3x²)/dx at 2


def test_gradient_penalty_three_lines():
    """WGAN-GP's penalty for D(x) = tanh(w·x): the gradient of (‖∇ₓD‖ − 1)² w.r.t. w, against finite differences."""
    x = leaf([[0.3, -0.2, 0.5]])
    w = leaf([[0.4], [0.1], [-0.7]])

    def penalty(w):
        xs = mg.tensor(x.numpy(), dtype=mg.float64, requires_grad=True)
        (g,) = autograd.grad(F.tanh(xs @ w).sum(), xs, create_graph=True)
        return ((g * g).sum() ** 0.5 - 1.0) ** 2

    assert gradcheck(penalty, w)


def test_retain_graph_defaults_to_create_graph_and_a_freed_graph_is_a_clear_error():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()
    y = (x.exp() * x).sum()
    autograd.grad(y, x, retain_graph=True)
    autograd.grad(y, x)  # still there once
    y = (x.exp() * x).sum()
    autograd.grad(y, x, create_graph=True)
    autograd.grad(y, x)  # create_graph retained it


def test_grad_of_an_intermediate_and_only_inputs_and_allow_unused():
    x, unused = leaf([1.0, 2.0]), leaf([5.0])
    h = x * 3.0
    y = (h * h).sum()
    gh, gu = autograd.grad(y, (h, unused), only_inputs=True, allow_unused=True)
    np.testing.assert_allclose(gh.numpy(), [6.0, 12.0])
    assert gu is None


def test_grad_outputs_weight_a_non_scalar_output():
    x = leaf([1.0, 2.0])
    (g,) = autograd.grad(x * x, x, grad_outputs=mg.tensor([10.0, 1.0], dtype=mg.float64))
    np.testing.assert_allclose(g.numpy(), [20.0, 4.0])


@pytest.mark.parametrize("call,error,pattern", [
    (lambda x: autograd.grad(x * 2, x), RuntimeError, r"one-element outputs.*shape \(2,\).*grad_outputs"),
    (lambda x: autograd.grad((x * 2).sum(), mg.tensor([1.0], dtype=mg.float64)), RuntimeError,
     r"inputs\[0\].*does not require grad.*requires_grad_"),
    (lambda x: autograd.grad((x * 2).sum(), leaf([1.0])), RuntimeError, r"inputs\[0\].*not used.*allow_unused=True"),
    (lambda x: autograd.grad(x * 2, x, mg.ones(3, dtype=mg.float64)), ValueError,
     r"grad_outputs\[0\] has shape \(3,\) but output 0 has shape \(2,\)"),
    (lambda x: autograd.grad(x * 2, x, mg.ones(2)), TypeError, r"grad_outputs\[0\] is float32 but output 0 is float64"),
    (lambda x: autograd.grad(x * 2, x, mg.ones(2, dtype=mg.float64, device="cuda-sim")), ValueError,
     r"grad_outputs\[0\] is on cuda-sim but output 0 is on cpu"),
    (lambda x: autograd.grad(mg.tensor([1.0]).sum(), x), RuntimeError, r"output 0 does not require grad"),
    (lambda x: autograd.grad((x * 2).sum(), [x.numpy()]), TypeError, r"inputs\[0\] is a ndarray, not a Tensor"),
    (lambda x: (x * 2).backward(), RuntimeError, r"one-element outputs.*gradient="),
])
def test_bad_grad_calls_are_named(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(leaf([1.0, 2.0]))


def test_requires_grad_():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64)
    assert x.requires_grad_() is x and x.requires_grad
    (g,) = autograd.grad((x * x).sum(), x)
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (x * 2).requires_grad_(False)
    with pytest.raises(TypeError, match="only floating tensors"):
        mg.tensor([1, 2], dtype=np.int64).requires_grad_()


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class CubeWithWrongSecondDerivative(mg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.x = x
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            return 3 * g * ctx.x ** 2

        @staticmethod
        def backward_graph(ctx, g, x):
            return 3 * g * x * x.detach()  # the detach drops half of d(3x²)/dx

    x = leaf([0.5, 1.5])
    assert gradcheck(lambda x: CubeWithWrongSecondDerivative.apply(x), x)
    with pytest.raises(GradcheckError, match="input 0"):
        gradgradcheck(lambda x: CubeWithWrongSecondDerivative.apply(x), x)


# --- conv_transpose2d: every output_padding below max(stride, dilation), every kernel set -----------
OUTPUT_PADDING_CASES = [
    # stride, dilation, output_padding, padding
    (1, 2, 1, 0), (1, 3, 2, 1), (2, 3, 2, 0), ((1, 2), (3, 1), (2, 1), (1, 0)), (2, 2, 1, 2), (3, 1, 2, 1),
]


@pytest.mark.parametrize("kernels", ["numba", "reference", "cuda-sim"])
@pytest.mark.parametrize("stride,dilation,output_padding,padding", OUTPUT_PADDING_CASES)
def test_conv_transpose2d_output_padding_matches_torch(kernels, stride, dilation, output_padding, padding):
    if torch is None:
        pytest.skip("PyTorch is not installed")
    x, w, b = arrays(30, (2, 3, 4, 5), (3, 2, 3, 2), (2,))
    options = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, **options)
    gy = arrays(31, tuple(ty.shape))[0]
    ty.backward(torch.tensor(gy))

    device = "cuda-sim" if kernels == "cuda-sim" else "cpu"
    with backend.use_cpu_kernels("numba" if kernels == "cuda-sim" else kernels):
        mx, mw, mb = (mg.tensor(a, dtype=mg.float64, device=device, requires_grad=True) for a in (x, w, b))
        my = F.conv_transpose2d(mx, mw, mb, **options)
        my.backward(mg.tensor(gy, dtype=mg.float64, device=device))
    np.testing.assert_allclose(my.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in ((mx, tx), (mw, tw), (mb, tb)):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("stride,dilation,output_padding,padding", OUTPUT_PADDING_CASES[:3])
def test_conv_transpose2d_output_padding_gradcheck(stride, dilation, output_padding, padding):
    x, w = (mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays(32, (1, 2, 3, 4), (2, 2, 2, 3)))
    options = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    assert gradcheck(lambda x, w: F.conv_transpose2d(x, w, **options), (x, w))


def test_output_padding_must_stay_below_stride_or_dilation():
    x, w = mg.zeros(1, 2, 3, 3), mg.zeros(2, 2, 3, 3)
    with pytest.raises(ValueError, match="conv_transpose2d: output_padding .* must be smaller than stride"):
        F.conv_transpose2d(x, w, stride=2, dilation=2, output_padding=2)
