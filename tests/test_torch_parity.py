"""Forward and backward parity with PyTorch (skipped when torch is not installed)."""

import numpy as np
import pytest

import minigan as mg
from minigan import functional as F
from minigan import nn, optim

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}
DTYPES = [np.float64, np.float32]


def run_both(mg_fn, torch_fn, arrays, dtype, grad_mask=None):
    """Outputs and input gradients of both frameworks for the same inputs and a random cotangent."""
    grad_mask = grad_mask or [True] * len(arrays)
    mg_inputs = [mg.tensor(a, dtype=dtype, requires_grad=g) for a, g in zip(arrays, grad_mask)]
    th_inputs = [torch.tensor(a.astype(dtype), requires_grad=g) for a, g in zip(arrays, grad_mask)]
    mg_out, th_out = mg_fn(*mg_inputs), torch_fn(*th_inputs)
    cotangent = np.random.default_rng(99).standard_normal(mg_out.shape).astype(dtype)
    mg_out.backward(mg.tensor(cotangent, dtype=dtype))
    th_out.backward(torch.tensor(cotangent))
    grads = [(m.grad.numpy(), t.grad.numpy()) for m, t, g in zip(mg_inputs, th_inputs, grad_mask) if g]
    return (mg_out.numpy(), th_out.detach().numpy()), grads


def assert_parity(mg_fn, torch_fn, arrays, dtype, grad_mask=None):
    (mine, theirs), grads = run_both(mg_fn, torch_fn, arrays, dtype, grad_mask)
    scale = max(1.0, np.abs(theirs).max()) if theirs.size else 1.0
    np.testing.assert_allclose(mine, theirs, rtol=TOLERANCE[dtype]["rtol"], atol=TOLERANCE[dtype]["atol"] * scale)
    for i, (g_mine, g_theirs) in enumerate(grads):
        scale = max(1.0, np.abs(g_theirs).max())
        np.testing.assert_allclose(g_mine, g_theirs, rtol=TOLERANCE[dtype]["rtol"],
                                   atol=TOLERANCE[dtype]["atol"] * scale, err_msg=f"gradient of input {i}")


def rand(*shape, seed, low=None, high=None):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) if low is None else rng.uniform(low, high, shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (3, 2, 2), ((2, 1), (1, 0), (1, 2))])
def test_conv2d(dtype, stride, padding, dilation):
    arrays = [rand(2, 3, 11, 9, seed=0), rand(4, 3, 3, 2, seed=1), rand(4, seed=2)]
    options = dict(stride=stride, padding=padding, dilation=dilation)
    assert_parity(lambda x, w, b: F.conv2d(x, w, b, **options), lambda x, w, b: TF.conv2d(x, w, b, **options),
                  arrays, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride,padding,output_padding,dilation", [(1, 0, 0, 1), (2, 1, 1, 1), (3, 1, 2, 1),
                                                                    (2, 0, 1, 2), ((2, 1), (1, 0), (1, 0), 1)])
def test_conv_transpose2d(dtype, stride, padding, output_padding, dilation):
    arrays = [rand(2, 3, 5, 4, seed=0), rand(3, 4, 4, 3, seed=1), rand(4, seed=2)]
    options = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    assert_parity(lambda x, w, b: F.conv_transpose2d(x, w, b, **options),
                  lambda x, w, b: TF.conv_transpose2d(x, w, b, **options), arrays, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 3), (4, 3, 5, 6)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_with_running_stats(dtype, shape, training):
    c = shape[1]
    running = {name: (rand(c, seed=5), rand(c, seed=6, low=0.5, high=2.0)) for name in ("mg", "torch")}
    mg_stats = [mg.tensor(a, dtype=dtype) for a in running["mg"]]
    th_stats = [torch.tensor(a.astype(dtype)) for a in running["torch"]]
    arrays = [rand(*shape, seed=0, low=-1, high=3), rand(c, seed=1), rand(c, seed=2)]
    assert_parity(lambda x, w, b: F.batch_norm(x, *mg_stats, w, b, training=training, momentum=0.2),
                  lambda x, w, b: TF.batch_norm(x, *th_stats, w, b, training=training, momentum=0.2), arrays, dtype)
    for mine, theirs in zip(mg_stats, th_stats):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "tanh", "sigmoid"])
def test_activations(dtype, name):
    x = rand(5, 7, seed=0) * 4
    if name == "leaky_relu":
        assert_parity(lambda t: F.leaky_relu(t, 0.2), lambda t: TF.leaky_relu(t, 0.2), [x], dtype)
    else:
        assert_parity(getattr(F, name), getattr(torch, name), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses(dtype, reduction):
    p, z, y = rand(4, 5, seed=0, low=0.02, high=0.98), rand(4, 5, seed=1) * 3, rand(4, 5, seed=2, low=0, high=1)
    r = dict(reduction=reduction)
    assert_parity(lambda a, b: F.binary_cross_entropy(a, b, **r), lambda a, b: TF.binary_cross_entropy(a, b, **r),
                  [p, y], dtype)
    assert_parity(lambda a, b: F.binary_cross_entropy_with_logits(a, b, **r),
                  lambda a, b: TF.binary_cross_entropy_with_logits(a, b, **r), [z, y], dtype)
    assert_parity(lambda a, b: F.mse_loss(a, b, **r), lambda a, b: TF.mse_loss(a, b, **r), [z, p], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_clamps_log_like_torch(dtype):
    p, y = np.array([0.0, 1.0, 0.3, 1.0]), np.array([1.0, 0.0, 0.5, 1.0])
    mine = F.binary_cross_entropy(mg.tensor(p, dtype=dtype), mg.tensor(y, dtype=dtype), reduction="none")
    theirs = TF.binary_cross_entropy(torch.tensor(p.astype(dtype)), torch.tensor(y.astype(dtype)), reduction="none")
    np.testing.assert_allclose(mine.numpy(), theirs.numpy(), **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_kl_normal_matches_its_closed_form_in_torch(dtype, reduction):
    def torch_kl(mu, logvar):
        elementwise = -0.5 * (1 + logvar - mu ** 2 - logvar.exp())
        return {"mean": elementwise.mean(), "sum": elementwise.sum(), "none": elementwise}[reduction]
    assert_parity(lambda m, lv: F.kl_normal(m, lv, reduction=reduction), torch_kl,
                  [rand(3, 6, seed=0), rand(3, 6, seed=1)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1), ((3, 2), (2, 1), (1, 0))])
def test_max_pool_and_unpool(dtype, kernel, stride, padding):
    x = rand(2, 3, 9, 8, seed=0)
    assert_parity(lambda t: F.max_pool2d(t, kernel, stride, padding), lambda t: TF.max_pool2d(t, kernel, stride, padding),
                  [x], dtype)
    _, mg_idx = F.max_pool2d(mg.tensor(x, dtype=dtype), kernel, stride, padding, return_indices=True)
    pooled, th_idx = TF.max_pool2d(torch.tensor(x.astype(dtype)), kernel, stride, padding, return_indices=True)
    np.testing.assert_array_equal(mg_idx.numpy(), th_idx.numpy())
    if stride is None:  # non-overlapping windows: unpooling is well defined
        assert_parity(lambda t: F.max_unpool2d(t, mg_idx, kernel, stride, padding, output_size=(9, 8)),
                      lambda t: TF.max_unpool2d(t, th_idx, kernel, stride, padding, output_size=(9, 8)),
                      [pooled.numpy().astype(np.float64)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_matmul_and_elementwise(dtype):
    arrays = [rand(3, 4, seed=0), rand(5, 4, seed=1), rand(5, seed=2)]
    assert_parity(F.linear, TF.linear, arrays, dtype)
    assert_parity(lambda a, b: (a @ b.transpose(0, 1)).exp() / (a.sum() ** 2 + 1.0),
                  lambda a, b: (a @ b.T).exp() / (a.sum() ** 2 + 1.0), arrays[:2], dtype)


# --- a small conv net trained 10 steps in both frameworks from identical weights ----------------
def mg_net(dtype):
    mg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.LeakyReLU(0.2),
                         nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                         nn.Conv2d(4, 1, 3, padding=1), nn.Sigmoid()).to(dtype)


def torch_twin(model, dtype):
    twin = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, stride=2, padding=1), torch.nn.BatchNorm2d(6),
                               torch.nn.LeakyReLU(0.2),
                               torch.nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1),
                               torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 3, padding=1), torch.nn.Sigmoid())
    twin = twin.to(torch.float64 if dtype == np.float64 else torch.float32)
    twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()}, strict=False)
    return twin


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_conv_net_trained_ten_steps_matches_torch(dtype, optimizer):
    model = mg_net(dtype)
    twin = torch_twin(model, dtype)
    if optimizer == "adam":
        opt = optim.Adam(model.parameters(), lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-3)
        th_opt = torch.optim.Adam(twin.parameters(), lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-3)
    else:
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        th_opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    rng = np.random.default_rng(1)
    for _ in range(10):
        x = rng.standard_normal((4, 3, 9, 7)).astype(dtype)
        target = rng.uniform(0, 1, (4, 1, 10, 8)).astype(dtype)
        opt.zero_grad()
        F.binary_cross_entropy(model(mg.tensor(x, dtype=dtype)), mg.tensor(target, dtype=dtype)).backward()
        opt.step()
        th_opt.zero_grad()
        TF.binary_cross_entropy(twin(torch.tensor(x)), torch.tensor(target)).backward()
        th_opt.step()
    tolerance = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    theirs = twin.state_dict()
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value, theirs[name].numpy(), err_msg=name, **tolerance)
