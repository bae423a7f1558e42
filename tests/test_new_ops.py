"""The ops added for PyTorch programs (nearest upsampling, embedding, softplus, L1 / cross-entropy /
NLL losses, RMSprop): every kernel set against the NumPy reference, the reference against direct
NumPy formulas and finite differences, float64 gradchecks (first and second order) through
minigan.functional, and parity with PyTorch where it is installed."""

import importlib

import numpy as np
import pytest

import minigan as mg
from minigan import backend
from minigan import functional as F
from minigan import reference as R
from minigan.gradcheck import gradcheck, gradgradcheck

KERNEL_SETS = ["numba", "cuda-sim"]
DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


@pytest.fixture(scope="module", params=KERNEL_SETS)
def ks(request):
    if request.param == "numba":
        return importlib.import_module("minigan.kernels")
    return importlib.import_module("minigan.cuda_kernels").kernel_set("cuda-sim")


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def normal(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ------------------------------------------------------------------ kernels vs reference

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [(2, 3), (3, 1), (1, 1)])
def test_upsample_nearest2d(ks, rng, dtype, scale):
    x = normal(rng, (2, 3, 5, 7), dtype)
    y = ks.upsample_nearest2d_forward(x, scale)
    assert y.dtype == dtype and y.shape == (2, 3, 5 * scale[0], 7 * scale[1])
    np.testing.assert_array_equal(y, R.upsample_nearest2d_forward(x, scale))
    g = normal(rng, y.shape, dtype)
    np.testing.assert_allclose(ks.upsample_nearest2d_backward(g, scale), R.upsample_nearest2d_backward(g, scale),
                               **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding(ks, rng, dtype):
    weight = normal(rng, (11, 5), dtype)
    indices = rng.integers(0, 11, (3, 7))
    indices[0, :3] = 4                                  # repeated rows accumulate
    y = ks.embedding_forward(weight, indices)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, R.embedding_forward(weight, indices))
    g = normal(rng, (3, 7, 5), dtype)
    np.testing.assert_allclose(ks.embedding_backward(g, indices, 11), R.embedding_backward(g, indices, 11),
                               **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta,threshold", [(1.0, 20.0), (2.0, 3.0), (0.5, 1.0)])
def test_softplus(ks, rng, dtype, beta, threshold):
    x = normal(rng, (5, 9, 3), dtype, scale=12.0)
    g = normal(rng, x.shape, dtype)
    y = ks.softplus_forward(x, beta, threshold)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, R.softplus_forward(x, beta, threshold), **tol(dtype))
    np.testing.assert_allclose(ks.softplus_backward(g, x, beta, threshold),
                               R.softplus_backward(g, x, beta, threshold), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["cross_entropy", "nll", "l1"])
def test_losses(ks, rng, dtype, reduction, name):
    if name == "l1":
        a, b = normal(rng, (3, 5, 7), dtype), normal(rng, (3, 5, 7), dtype)
        b[0, 0, :2] = a[0, 0, :2]                        # sign(0) = 0
    else:
        a, b = normal(rng, (13, 7), dtype, scale=4.0), rng.integers(0, 7, 13)
    forward, backward = f"{name}_forward", f"{name}_backward"
    loss = getattr(ks, forward)(a, b, reduction)
    expected = getattr(R, forward)(a, b, reduction)
    assert loss.dtype == dtype and loss.shape == expected.shape
    np.testing.assert_allclose(loss, expected, **tol(dtype))
    grad_out = np.asarray(normal(rng, expected.shape, dtype))
    np.testing.assert_allclose(getattr(ks, backward)(grad_out, a, b, reduction),
                               getattr(R, backward)(grad_out, a, b, reduction), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum,weight_decay", [(0.0, 0.0), (0.9, 0.1)])
def test_rmsprop_step(ks, rng, dtype, centered, momentum, weight_decay):
    start = normal(rng, (5, 3), dtype)
    grads = [normal(rng, (5, 3), dtype) for _ in range(4)]
    results = []
    for kernels in (R, ks):
        param, square_avg = start.copy(), np.zeros_like(start)
        grad_avg = np.zeros_like(start) if centered else None
        buf = np.zeros_like(start) if momentum else None
        for g in grads:
            kernels.rmsprop_step(param, g, square_avg, grad_avg, buf, 0.01, 0.9, 1e-8, weight_decay, momentum)
        results.append((param, square_avg))
    for got, want in zip(results[1], results[0]):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **tol(dtype))


# ------------------------------------------------------------------ the reference against direct formulas

def test_reference_formulas_elementwise(rng):
    x = rng.standard_normal((4, 6)) * 10
    np.testing.assert_allclose(R.softplus_forward(x, 1.0, 20.0), np.logaddexp(0, x), rtol=1e-12)
    big = np.array([30.0, 25.0])
    np.testing.assert_array_equal(R.softplus_forward(big, 1.0, 20.0), big)   # the linear region
    z, t = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    direct = np.log(np.exp(z).sum(axis=1)) - z[np.arange(5), t]
    np.testing.assert_allclose(R.cross_entropy_forward(z, t, "none"), direct, rtol=1e-12)
    np.testing.assert_allclose(R.nll_forward(z, t, "sum"), -z[np.arange(5), t].sum(), rtol=1e-12)
    y = R.upsample_nearest2d_forward(np.arange(6.0).reshape(1, 1, 2, 3), (2, 1))
    np.testing.assert_array_equal(y[0, 0], [[0, 1, 2], [0, 1, 2], [3, 4, 5], [3, 4, 5]])


def test_reference_backwards_pass_gradcheck(rng):
    """The reference's backward formulas against finite differences of its forwards (gradcheck with
    device 'cpu' running the reference kernel set)."""
    z, t, rows = leaf(rng, (4, 5)), labels(rng, 5, (4,)), labels(rng, 4, (5,))
    with backend.use_cpu_kernels("reference"):
        assert gradcheck(lambda a: F.cross_entropy(a, t), (z,))
        assert gradcheck(lambda a: F.nll_loss(a, t, reduction="sum"), (z,))
        assert gradcheck(lambda a: F.softplus(a, 1.5, 4.0), (leaf(rng, (2, 3), 3.0),))
        assert gradcheck(lambda a, b: F.l1_loss(a, b), (leaf(rng, (3, 2)), leaf(rng, (3, 2))))
        assert gradcheck(lambda a: F.interpolate(a, scale_factor=(3, 2)), (leaf(rng, (1, 2, 2, 3)),))
        assert gradcheck(lambda w: F.embedding(rows, w), (leaf(rng, (4, 2)),))


# ------------------------------------------------------------------ functional: gradchecks, checks, devices

def leaf(rng, shape, scale=1.0):
    return mg.tensor(rng.standard_normal(shape) * scale, dtype=mg.float64, requires_grad=True)


def labels(rng, high, shape):
    return mg.tensor(rng.integers(0, high, shape), dtype=np.int64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_losses(rng, reduction):
    x, t = leaf(rng, (3, 5, 2)), leaf(rng, (3, 5, 2))
    assert gradcheck(lambda a, b: F.l1_loss(a, b, reduction=reduction), (x, t))
    z, y = leaf(rng, (6, 4), 2.0), labels(rng, 4, (6,))
    assert gradcheck(lambda a: F.cross_entropy(a, y, reduction=reduction), (z,))
    assert gradcheck(lambda a: F.nll_loss(F.log_softmax(a, 1), y, reduction=reduction), (z,))
    image, k = leaf(rng, (2, 3, 4, 3)), labels(rng, 3, (2, 4, 3))      # (N, C, d1, d2) scores
    assert gradcheck(lambda a: F.cross_entropy(a, k, reduction=reduction), (image,))


def test_gradcheck_layers_ops(rng):
    assert gradcheck(lambda a: F.interpolate(a, scale_factor=(2, 3)), (leaf(rng, (2, 2, 3, 5)),))
    assert gradcheck(lambda a: F.softplus(a, beta=2.0, threshold=3.0), (leaf(rng, (4, 5), 2.0),))
    weight, idx = leaf(rng, (7, 3)), labels(rng, 7, (2, 5))
    assert gradcheck(lambda w: F.embedding(idx, w), (weight,))
    assert gradcheck(lambda a: F.softmax(a, dim=0), (leaf(rng, (4, 3)),))


def test_gradgradcheck_new_ops(rng):
    """Their backward_graph forms (create_graph=True, as WGAN-GP needs) against finite differences."""
    assert gradgradcheck(lambda a: F.softplus(a, 1.5, 20.0), (leaf(rng, (3, 4)),))
    assert gradgradcheck(lambda a: F.interpolate(a, scale_factor=2), (leaf(rng, (1, 2, 2, 3)),))
    y = labels(rng, 4, (5,))
    assert gradgradcheck(lambda a: F.cross_entropy(a, y), (leaf(rng, (5, 4)),))
    assert gradgradcheck(lambda a: F.nll_loss(a, y, reduction="none"), (leaf(rng, (5, 4)),))
    idx = labels(rng, 6, (4,))
    assert gradgradcheck(lambda w: F.embedding(idx, w, padding_idx=2) * 1.0, (leaf(rng, (6, 3)),))


def test_embedding_padding_row_gets_no_gradient(rng):
    weight = leaf(rng, (5, 3))
    F.embedding(mg.tensor([[0, 2, 2, 4]], dtype=np.int64), weight, padding_idx=2).sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy(), [[1, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 1]])


def test_dropout_masks_scale_and_seed():
    x = mg.ones(200, 50)
    mg.manual_seed(3)
    y = F.dropout(x, 0.3).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.02
    mg.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.3).numpy(), y)
    assert F.dropout(x, 0.3, training=False) is x
    channels = F.dropout2d(mg.ones(40, 30, 2, 3), 0.5).numpy()
    per_channel = channels.reshape(40, 30, 6)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))    # whole channels kept or dropped
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0)


def test_errors_name_the_op_and_the_problem(rng):
    z = leaf(rng, (3, 4))
    with pytest.raises(ValueError, match=r"cross_entropy: target classes must lie in \[0, 4\), got \[0, 4\]"):
        F.cross_entropy(z, mg.tensor([0, 4, 1], dtype=np.int64))
    with pytest.raises(ValueError, match=r"cross_entropy: input of shape \(3, 4\) needs a target of shape \(3,\)"):
        F.cross_entropy(z, mg.tensor([0, 1], dtype=np.int64))
    with pytest.raises(NotImplementedError, match="not probabilities"):
        F.cross_entropy(z, mg.zeros(3, 4))
    with pytest.raises(NotImplementedError, match="ignore_index"):
        F.nll_loss(z, mg.tensor([0, -100, 1], dtype=np.int64))
    with pytest.raises(NotImplementedError, match="whole-number factors"):
        F.interpolate(leaf(rng, (1, 1, 4, 4)), scale_factor=1.5)
    with pytest.raises(NotImplementedError, match="mode='nearest'"):
        F.interpolate(leaf(rng, (1, 1, 4, 4)), scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match=r"embedding: indices must lie in \[0, 3\)"):
        F.embedding(mg.tensor([3], dtype=np.int64), leaf(rng, (3, 2)))
    with pytest.raises(TypeError, match="embedding: indices must hold integer indices"):
        F.embedding(mg.zeros(2), leaf(rng, (3, 2)))


def test_cuda_sim_device_runs_the_ops_like_cpu(rng):
    z, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    results = []
    for device in ("cpu", "cuda-sim"):
        logits = mg.tensor(z, dtype=mg.float64, device=device, requires_grad=True)
        target = mg.tensor(y, dtype=np.int64, device=device)
        up = F.interpolate(F.softplus(logits).reshape((1, 1, 5, 3)), scale_factor=2)
        loss = F.cross_entropy(logits, target) + F.l1_loss(up, up.detach() * 0.5)
        loss.backward()
        results.append((loss.numpy(), logits.grad.numpy()))
    for cpu, sim in zip(*results):
        np.testing.assert_allclose(sim, cpu, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ PyTorch parity

def test_new_ops_match_torch(rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    z, y = rng.standard_normal((6, 5)) * 3, rng.integers(0, 5, 6)
    x = rng.standard_normal((2, 3, 4, 5))
    w, idx = rng.standard_normal((7, 4)), rng.integers(0, 7, (3, 2))
    cases = [
        (lambda a: F.cross_entropy(a, mg.tensor(y, dtype=np.int64), reduction="sum"),
         lambda a: tf.cross_entropy(a, torch.tensor(y), reduction="sum"), z),
        (lambda a: F.nll_loss(F.log_softmax(a, 1), mg.tensor(y, dtype=np.int64)),
         lambda a: tf.nll_loss(tf.log_softmax(a, 1), torch.tensor(y)), z),
        (lambda a: F.l1_loss(a, mg.tensor(np.full(z.shape, 0.5), dtype=mg.float64)),
         lambda a: tf.l1_loss(a, torch.full_like(a, 0.5)), z),
        (lambda a: F.softplus(a, 2.0, 3.0).sum(), lambda a: tf.softplus(a, 2.0, 3.0).sum(), z),
        (lambda a: (F.interpolate(a, scale_factor=(2, 3)) ** 2).sum(),
         lambda a: (tf.interpolate(a, scale_factor=(2, 3), mode="nearest") ** 2).sum(), x),
        (lambda a: (F.embedding(mg.tensor(idx, dtype=np.int64), a) ** 2).sum(),
         lambda a: (tf.embedding(torch.tensor(idx), a) ** 2).sum(), w),
    ]
    for ours, theirs, value in cases:
        a = mg.tensor(value, dtype=mg.float64, requires_grad=True)
        ta = torch.tensor(value, dtype=torch.float64, requires_grad=True)
        out, t_out = ours(a), theirs(ta)
        out.backward()
        t_out.backward()
        np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)
