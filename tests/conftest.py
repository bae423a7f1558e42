"""Fixtures shared by the test modules: a seeded random generator, the devices, the skips for
PyTorch and for CuPy with a GPU, and broken checkpoint files (pytest finds fixtures here by name,
no import needed). Every test caches decoded image folders in a folder of its own, never in
~/.cache/minigan."""

import numpy as np
import pytest

from minigan.checkpoint import save_checkpoint


@pytest.fixture(autouse=True)
def _image_cache_in_tmp(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path_factory.mktemp("minigan-cache")))


@pytest.fixture
def rng():
    """A NumPy Generator seeded with 0, fresh for each test."""
    return np.random.default_rng(0)


def _cuda_device_count(cupy):
    try:
        return cupy.cuda.runtime.getDeviceCount()
    except Exception:  # CuPy installed, but no driver or no device
        return 0


@pytest.fixture(scope="session")
def cupy():
    """CuPy with at least one usable CUDA device; skips the test otherwise."""
    cupy = pytest.importorskip("cupy", reason="needs CuPy")
    if _cuda_device_count(cupy) < 1:
        pytest.skip("needs a usable CUDA device")
    return cupy


@pytest.fixture(scope="session")
def no_cuda_device():
    """Skips the test when CuPy sees a CUDA device (for the error paths of a machine without one)."""
    try:
        import cupy
    except ImportError:
        return
    if _cuda_device_count(cupy) > 0:
        pytest.skip("a CUDA device is present; the no-GPU error path cannot be exercised")


@pytest.fixture(scope="session")
def torch():
    """PyTorch; skips the test when it is not installed."""
    return pytest.importorskip("torch", reason="needs PyTorch")


@pytest.fixture(params=["cpu", "cuda-sim", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    """Each device: 'cpu', 'cuda-sim' (the CUDA kernels run on the CPU) and, with a GPU, 'cuda'."""
    if request.param == "cuda":
        request.getfixturevalue("cupy")
    return request.param


@pytest.fixture
def bad_checkpoints(tmp_path):
    """``{kind: (path, what load_checkpoint says about it)}`` for files that are not checkpoints: an empty
    file, a checkpoint cut in half, a text file, a .npy array, an npz written by another tool."""
    good = str(tmp_path / "good.npz")
    save_checkpoint(good, {"w": np.arange(100.0)})
    with open(good, "rb") as file:
        data = file.read()
    contents = {"empty": b"", "truncated": data[:len(data) // 2], "text": b"step 12\n"}
    reasons = {"empty": "is empty", "truncated": "is truncated or damaged", "text": "not an .npz archive",
               "npy": "a single NumPy array", "foreign": "no __meta__ entry"}
    paths = {kind: str(tmp_path / f"{kind}.npz") for kind in reasons}
    for kind, content in contents.items():
        with open(paths[kind], "wb") as file:
            file.write(content)
    with open(paths["npy"], "wb") as file:
        np.save(file, np.zeros(3))
    np.savez(paths["foreign"], a=np.zeros(1))
    return {kind: (paths[kind], reason) for kind, reason in reasons.items()}
