"""The CUDA kernel set on a real GPU ('cuda', CuPy arrays, cuBLAS GEMMs) against the reference.

Runs only with CuPy and a CUDA device; skipped otherwise. Uses the cases of
tests/test_cuda_sim.py (the same checks under the CPU simulator), plus sizes that only a GPU
runs quickly: more elements than one grid of MAX_GRID blocks covers, so every grid-stride
loop turns several times.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from minigan import cuda_kernels, reference
from minigan.kernels import cuda_launch

pytestmark = pytest.mark.gpu


def _load_sim_cases():
    """tests/test_cuda_sim.py as a module, by path (independent of pytest's import mode)."""
    path = Path(__file__).with_name("test_cuda_sim.py")
    spec = importlib.util.spec_from_file_location("minigan_cuda_sim_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sim_cases = _load_sim_cases()


@pytest.fixture(scope="module")
def cupy():
    cupy = pytest.importorskip("cupy", reason="needs CuPy")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        pytest.skip(f"no usable CUDA device ({type(exc).__name__})")
    if count < 1:
        pytest.skip("no CUDA device")
    return cupy


@pytest.fixture(scope="module")
def gpu(cupy):
    return cuda_kernels.kernel_set("cuda")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sim_cases.CASES, ids=[c[0] for c in sim_cases.CASES])
def test_gpu_matches_reference(gpu, cupy, case, dtype):
    sim_cases.check_case(gpu, cupy.asarray, cupy.asnumpy, case, dtype)


LARGE = 3 * cuda_launch.BLOCK * cuda_launch.MAX_GRID + 17  # > 3 full grids


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_grid_stride_loops_cover_large_arrays(gpu, cupy, dtype):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(LARGE).astype(dtype)
    t = rng.standard_normal(LARGE).astype(dtype)
    rtol = sim_cases.RTOL[dtype]
    np.testing.assert_allclose(cupy.asnumpy(gpu.sigmoid_forward(cupy.asarray(x))),
                               reference.sigmoid_forward(x), rtol=rtol, atol=rtol)
    for reduction in ("sum", "mean"):
        got = gpu.mse_forward(cupy.asarray(x), cupy.asarray(t), reduction)
        want = reference.mse_forward(x, t, reduction)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=10 * rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_batch_norm_of_a_dcgan_sized_batch(gpu, cupy, dtype):
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((64, 5, 33 * 31)) * 3 + 1).astype(dtype)
    weight, bias = rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)
    got = gpu.batch_norm_forward_train(*(cupy.asarray(a) for a in (x, weight, bias)), 1e-5)
    want = reference.batch_norm_forward_train(x, weight, bias, 1e-5)
    for g, w in zip(got, want):
        rtol = sim_cases.RTOL[dtype]
        np.testing.assert_allclose(cupy.asnumpy(g), w, rtol=10 * rtol, atol=10 * rtol)


@pytest.mark.parametrize("model", ["gan", "dcgan", "ae", "convae", "vae", "convvae"])
def test_gpu_short_training_run_of_each_model_family_matches_cpu(cupy, tmp_path, model):
    """A few steps of each model family on 'cuda' end with the weights the same run gets on 'cpu'."""
    from minigan.checkpoint import load_checkpoint
    from minigan.train.runner import make_config, run_training

    def run(device):
        out = tmp_path / device
        run_training(make_config(model, steps=3, batch_size=8, image_size=16, ngf=4, ndf=4, nf=4, hidden=[16], nz=4,
                                 latent_dim=3, n_eval=16, sample_every=3, checkpoint_every=3, out=str(out),
                                 progress=False, device=device))
        return load_checkpoint(str(out / "checkpoint.npz"))["model"]

    cpu, gpu = run("cpu"), run("cuda")
    for name, value in cpu.items():
        assert np.all(np.isfinite(gpu[name])), name
        np.testing.assert_allclose(gpu[name], value, rtol=1e-3, atol=1e-5, err_msg=name)
