"""The CUDA kernel set under 'cuda-sim': the unchanged kernels/*.cu, compiled with g++ by
minigan.cuda_host and run with one fiber per CUDA thread, must equal minigan.reference.

Sizes are small and odd (every CUDA thread is a fiber on one core), but large enough that
reductions span several blocks and threads loop more than once. tests/test_gpu.py runs the
same CASES on a real GPU.
"""

import zlib

import numpy as np
import pytest

from minigan import cuda_kernels, reference
from minigan.functional import REDUCTIONS
from minigan.kernels import cuda_launch
from minigan.kernels.conv2d_cuda import DIRECT_CONV
from minigan.kernels.geometry import conv2d_output_hw

RTOL = {np.float32: 1e-5, np.float64: 1e-12}


# ----------------------------------------------------------------------------- cases
# A case makes the arguments of one kernel-set call from (rng, dtype); the CUDA set and the
# reference get equal copies, and every returned array and every array argument (in-place
# updates) must agree afterwards. `name_direct` kernels are checked against `name`.

def _randn(rng, dtype, *shape):
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


def _uniform(rng, dtype, low, high, *shape):
    return rng.uniform(low, high, shape).astype(dtype)


# (N, C, H, W), (O, kH, kW), stride, padding, dilation, bias: stride 1..3, padding 0..2,
# dilation 1..2, odd non-square images and kernels
CONV_GEOMETRIES = [
    ((2, 3, 7, 9), (4, 3, 2), (1, 1), (0, 0), (1, 1), True),
    ((1, 2, 9, 8), (3, 3, 3), (2, 3), (1, 2), (1, 1), False),
    ((2, 2, 11, 10), (3, 2, 3), (3, 2), (2, 1), (2, 2), True),
    ((1, 3, 6, 7), (2, 1, 1), (1, 2), (0, 1), (2, 1), False),
    ((2, 3, 8, 7), (2, 3, 3), (2, 2), (1, 1), (2, 1), True),
]


def _conv_case(kernel, geometry):
    (n, c, h, w), (o, kh, kw), stride, padding, dilation, has_bias = geometry

    def make(rng, dtype):
        ho, wo = conv2d_output_hw((h, w), (kh, kw), stride, padding, dilation)
        x, weight = _randn(rng, dtype, n, c, h, w), _randn(rng, dtype, o, c, kh, kw)
        grad_y = _randn(rng, dtype, n, o, ho, wo)
        if kernel.startswith("conv2d_forward"):
            bias = _randn(rng, dtype, o) if has_bias else None
            return x, weight, bias, stride, padding, dilation
        if kernel.startswith("conv2d_backward_data"):
            return grad_y, weight, (h, w), stride, padding, dilation
        return grad_y, x, (kh, kw), stride, padding, dilation
    return make


BN_SHAPES = [(3, 4, 5), (5, 3, 1), (4, 2, 75)]  # (N, C, L); the last has 300 values per channel


def _bn_case(kernel, shape):
    n, c, l = shape

    def make(rng, dtype):
        x = _randn(rng, dtype, n, c, l) * 2 + 0.5
        weight, bias = _randn(rng, dtype, c), _randn(rng, dtype, c)
        mean, var = _randn(rng, dtype, c), _uniform(rng, dtype, 0.5, 2.0, c)
        grad_y, eps = _randn(rng, dtype, n, c, l), 1e-5
        return {
            "batch_norm_forward_train": (x, weight, bias, eps),
            "batch_norm_forward_eval": (x, mean, var, weight, bias, eps),
            "batch_norm_backward_train": (grad_y, x, x.mean(axis=(0, 2)), x.var(axis=(0, 2)),
                                          weight, eps),
            "batch_norm_backward_eval": (grad_y, x, mean, var, weight, eps),
            "batch_norm_update_running": (mean, var, _randn(rng, dtype, c),
                                          _uniform(rng, dtype, 0.5, 2.0, c), n * l, 0.1),
        }[kernel]
    return make


ACTIVATION_SHAPE = (3, 5, 43)  # 645 elements: three blocks of 256 threads


def _activation_case(kernel):
    def make(rng, dtype):
        x = _randn(rng, dtype, *ACTIVATION_SHAPE) * 3
        grad_y = _randn(rng, dtype, *ACTIVATION_SHAPE)
        slope = 0.2
        return {
            "relu_forward": (x,), "relu_backward": (grad_y, x),
            "leaky_relu_forward": (x, slope), "leaky_relu_backward": (grad_y, x, slope),
            "tanh_forward": (x,), "tanh_backward": (grad_y, np.tanh(x)),
            "sigmoid_forward": (x,), "sigmoid_backward": (grad_y, reference.sigmoid_forward(x)),
        }[kernel]
    return make


LOSS_SHAPE = (5, 7, 11)  # 385 elements: two partial sums


def _loss_inputs(loss, rng, dtype):
    if loss == "bce":
        return (_uniform(rng, dtype, 0.02, 0.98, *LOSS_SHAPE),
                _uniform(rng, dtype, 0, 1, *LOSS_SHAPE))
    if loss == "bce_with_logits":
        return _randn(rng, dtype, *LOSS_SHAPE) * 4, _uniform(rng, dtype, 0, 1, *LOSS_SHAPE)
    return _randn(rng, dtype, *LOSS_SHAPE), _randn(rng, dtype, *LOSS_SHAPE)


def _loss_case(kernel, loss, reduction):
    def make(rng, dtype):
        a, b = _loss_inputs(loss, rng, dtype)
        if kernel.endswith("_forward"):
            return a, b, reduction
        grad_out = _randn(rng, dtype, *(LOSS_SHAPE if reduction == "none" else ()))
        return grad_out, a, b, reduction
    return make


POOL_INPUT = (2, 3, 7, 6)


def _pool_case(kernel):
    def make(rng, dtype):
        # rounding makes ties, so "first maximum wins" is exercised
        x = np.round(_randn(rng, dtype, *POOL_INPUT) * 2)
        if kernel == "max_pool2d_forward":
            return x, (3, 2), (2, 1), (1, 0)
        if kernel == "max_pool2d_backward":  # overlapping windows: the scatter must add
            y, indices = reference.max_pool2d_forward(x, (3, 3), (1, 2), (1, 1))
            return _randn(rng, dtype, *y.shape), indices, POOL_INPUT[2:]
        y, indices = reference.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
        if kernel == "max_unpool2d_forward":
            return y, indices, POOL_INPUT[2:]
        return _randn(rng, dtype, *POOL_INPUT), indices  # max_unpool2d_backward
    return make


PARAM_SHAPE = (7, 45)  # 315 elements


def _sgd_case(momentum, first_step, weight_decay):
    def make(rng, dtype):
        param, grad = _randn(rng, dtype, *PARAM_SHAPE), _randn(rng, dtype, *PARAM_SHAPE)
        buf = _randn(rng, dtype, *PARAM_SHAPE) if momentum else None
        return param, grad, buf, 0.05, momentum, weight_decay, first_step
    return make


def _adam_case(step, weight_decay):
    def make(rng, dtype):
        param, grad = _randn(rng, dtype, *PARAM_SHAPE), _randn(rng, dtype, *PARAM_SHAPE)
        exp_avg = _randn(rng, dtype, *PARAM_SHAPE) * 0.1
        exp_avg_sq = _uniform(rng, dtype, 0, 0.01, *PARAM_SHAPE)
        return param, grad, exp_avg, exp_avg_sq, step, 1e-3, 0.5, 0.999, 1e-8, weight_decay
    return make


def _cases():
    cases = []
    for g, geometry in enumerate(CONV_GEOMETRIES):
        for kernel in ("conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight"):
            for variant in (kernel, kernel + "_direct"):
                cases.append((f"{variant}-geometry{g}", variant, _conv_case(variant, geometry)))
    for kernel in ("batch_norm_forward_train", "batch_norm_forward_eval", "batch_norm_backward_train",
                   "batch_norm_backward_eval", "batch_norm_update_running"):
        for shape in BN_SHAPES:
            cases.append((f"{kernel}-{'x'.join(map(str, shape))}", kernel, _bn_case(kernel, shape)))
    for kernel in ("relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
                   "tanh_forward", "tanh_backward", "sigmoid_forward", "sigmoid_backward"):
        cases.append((kernel, kernel, _activation_case(kernel)))
    for loss in ("bce", "bce_with_logits", "mse", "kl_normal"):
        for direction in ("forward", "backward"):
            for reduction in REDUCTIONS:
                kernel = f"{loss}_{direction}"
                cases.append((f"{kernel}-{reduction}", kernel, _loss_case(kernel, loss, reduction)))
    for kernel in ("max_pool2d_forward", "max_pool2d_backward", "max_unpool2d_forward",
                   "max_unpool2d_backward"):
        cases.append((kernel, kernel, _pool_case(kernel)))
    for momentum, first_step, wd in ((0.0, False, 0.0), (0.0, False, 0.01), (0.9, True, 0.01),
                                     (0.9, False, 0.0)):
        cases.append((f"sgd_step-m{momentum}-first{first_step}-wd{wd}", "sgd_step",
                      _sgd_case(momentum, first_step, wd)))
    for step, wd in ((1, 0.0), (3, 0.01)):
        cases.append((f"adam_step-step{step}-wd{wd}", "adam_step", _adam_case(step, wd)))
    return cases


CASES = _cases()
TORCH_SURFACE_KERNELS = {
    "upsample_nearest2d_forward", "upsample_nearest2d_backward", "embedding_forward", "embedding_backward",
    "softplus_forward", "softplus_backward", "l1_forward", "l1_backward", "cross_entropy_forward",
    "cross_entropy_backward", "nll_forward", "nll_backward", "rmsprop_step",
}
"""The kernels that tests/test_new_ops.py runs on cuda-sim against the reference."""


def test_cases_cover_the_kernel_api():
    covered = {kernel for _, kernel, _ in CASES} | TORCH_SURFACE_KERNELS
    assert covered == set(reference.KERNEL_API) | set(DIRECT_CONV)


# ----------------------------------------------------------------------------- checking

def _assert_close(got, want, dtype, what):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), what
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_close(g, w, dtype, f"{what}[{i}]")
        return
    if want is None:
        assert got is None, what
        return
    assert got.shape == want.shape and got.dtype == want.dtype, \
        f"{what}: got {got.shape} {got.dtype}, want {want.shape} {want.dtype}"
    if want.dtype.kind in "iu":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        rtol = RTOL[dtype]
        scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=what)


def check_case(kernels, to_device, to_host, case, dtype):
    """Run one case on `kernels` (arrays moved by to_device / to_host) and on the reference."""
    case_id, kernel, make_args = case
    rng = np.random.default_rng(zlib.crc32(case_id.encode()))
    args = make_args(rng, dtype)
    want_args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    got_args = tuple(to_device(a) if isinstance(a, np.ndarray) else a for a in args)
    want = getattr(reference, kernel.removesuffix("_direct"))(*want_args)
    got = getattr(kernels, kernel)(*got_args)
    host = lambda r: tuple(host(v) for v in r) if isinstance(r, tuple) else (
        None if r is None else to_host(r))
    _assert_close(host(got), want, dtype, f"{kernel} result")
    for i, (g, w) in enumerate(zip(got_args, want_args)):  # in-place updates
        if isinstance(w, np.ndarray):
            _assert_close(to_host(g), w, dtype, f"{kernel} argument {i} after the call")


@pytest.fixture(scope="module")
def sim():
    return cuda_kernels.kernel_set("cuda-sim")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cuda_sim_matches_reference(sim, case, dtype):
    check_case(sim, np.asarray, np.asarray, case, dtype)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cuda_sim_with_a_one_block_grid(sim, case, monkeypatch):
    """MAX_GRID = 1: every grid-stride loop (over elements, channels, weight elements) turns
    many times, as on a GPU with arrays larger than one grid."""
    monkeypatch.setattr(cuda_launch, "MAX_GRID", 1)
    check_case(sim, np.asarray, np.asarray, case, np.float64)


# ----------------------------------------------------------------------------- errors

def test_cuda_without_a_gpu_raises_one_clear_error():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            pytest.skip("a CUDA device is present")
    except ImportError:
        pass
    except Exception:  # CuPy without a driver or device
        pass
    with pytest.raises(RuntimeError, match=r"needs CuPy and a CUDA GPU.*minigan\[cuda12\].*cuda-sim"):
        cuda_kernels.kernel_set("cuda")


def test_unknown_device_is_a_value_error():
    with pytest.raises(ValueError, match="kernel_set: device must be 'cuda' or 'cuda-sim', got 'cpu'"):
        cuda_kernels.kernel_set("cpu")


# ----------------------------------------------------------------------------- through autograd
# The functional ops on device='cuda-sim' tensors (float64) against finite differences: the CUDA
# kernels wired into forward and backward by minigan.functional.

def _t(*shape, seed, low=None, high=None, grad=True):
    import minigan as mg
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape) if low is None else rng.uniform(low, high, shape)
    return mg.tensor(values, dtype=mg.float64, device="cuda-sim", requires_grad=grad)


def _gradcheck_cases():
    from minigan import functional as F
    return {
        "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
                   lambda: (_t(2, 2, 5, 6, seed=0), _t(3, 2, 2, 3, seed=1), _t(3, seed=2))),
        "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                               output_padding=1),
                             lambda: (_t(1, 3, 3, 4, seed=3), _t(3, 2, 3, 2, seed=4), _t(2, seed=5))),
        "batch_norm_train": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                             lambda: (_t(3, 2, 3, 2, seed=6), _t(2, seed=7), _t(2, seed=8))),
        "batch_norm_eval": (lambda x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, training=False),
                            lambda: (_t(4, 3, seed=9), _t(3, seed=10), _t(3, seed=11),
                                     _t(3, seed=12, grad=False),
                                     _t(3, seed=13, low=0.5, high=2.0, grad=False))),
        "activations": (lambda x: F.sigmoid(F.tanh(F.leaky_relu(x, 0.2)) * 2) + F.relu(x),
                        lambda: (_t(3, 7, seed=14),)),
        "losses": (lambda p, z, x, t, mu, lv: (
            F.binary_cross_entropy(F.sigmoid(p), t) + F.binary_cross_entropy_with_logits(z, t, "sum")
            + F.mse_loss(x, t) + F.kl_normal(mu, lv) + F.mse_loss(x, t, "none").sum()),
                   lambda: (_t(3, 5, seed=15), _t(3, 5, seed=16), _t(3, 5, seed=17),
                            _t(3, 5, seed=18, low=0, high=1, grad=False), _t(3, 5, seed=19),
                            _t(3, 5, seed=20))),
        # overlapping windows for the pool (its backward scatter-adds); the unpool needs
        # distinct indices (one value per position), so it follows a non-overlapping pool
        "max_pool2d_and_unpool2d": (lambda x: F.cat([
            F.max_pool2d(x, 3, stride=2, padding=1).reshape(-1),
            F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2, output_size=(7, 6)).reshape(-1)]),
                                    lambda: (_t(2, 2, 7, 6, seed=21),)),
    }


@pytest.mark.parametrize("name", list(_gradcheck_cases()))
def test_cuda_sim_gradcheck(name):
    from minigan.gradcheck import gradcheck
    fn, make_inputs = _gradcheck_cases()[name]
    inputs = make_inputs()
    assert fn(*inputs).device == "cuda-sim"
    assert gradcheck(fn, inputs)


def _three_dcgan_steps(device):
    """A small DCGAN (same initial weights every call), 3 float64 training steps on `device`:
    the per-step losses and the final parameters and buffers."""
    import minigan as mg
    from minigan.models import DCGAN
    from minigan.optim import Adam
    from minigan.train.gan import discriminator_loss, generator_loss

    model = DCGAN(image_size=16, channels=1, nz=8, ngf=4, ndf=4)
    rng = np.random.default_rng(31)
    for _, p in model.named_parameters():
        p.array[...] = rng.standard_normal(p.shape) * 0.1 + (1.0 if p.ndim == 1 else 0.0)
    model.to(mg.float64).to(device)
    model.train()
    opt_d = Adam(model.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = Adam(model.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    losses = []
    for _ in range(3):
        real = mg.tensor(rng.uniform(-1, 1, (3, 1, 16, 16)), dtype=mg.float64, device=device)
        fake = model.generator(mg.tensor(rng.standard_normal((3, 8)), dtype=mg.float64, device=device))
        loss_d, _, _ = discriminator_loss(model.discriminator, real, fake.detach())
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = generator_loss(model.discriminator, fake)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        losses.append((loss_d.item(), loss_g.item()))
    return np.array(losses), {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v)
                              for k, v in model.state_dict().items()}


def test_dcgan_three_training_steps_match_cpu():
    """Training on 'cuda-sim' (the CUDA kernels) follows training on 'cpu' step by step."""
    sim_losses, sim_state = _three_dcgan_steps("cuda-sim")
    cpu_losses, cpu_state = _three_dcgan_steps("cpu")
    np.testing.assert_allclose(sim_losses, cpu_losses, rtol=1e-9)
    assert sim_state.keys() == cpu_state.keys()
    for name in cpu_state:
        np.testing.assert_allclose(sim_state[name], cpu_state[name], rtol=1e-7, atol=1e-10,
                                   err_msg=name)
