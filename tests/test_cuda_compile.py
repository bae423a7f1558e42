"""The CUDA C sources compile as the GPU will see them, on machines without a GPU.

(a) NVRTC, exactly as cupy.RawModule compiles them (same options, cubin for sm_70/80/90), via
    CuPy's low-level bindings (CuPy's high-level helpers query a device and fail without one).
    Needs CuPy and the NVRTC library: pip install 'minigan[cuda12]' (cupy-cuda12x and
    nvidia-cuda-nvrtc-cu12); skipped otherwise.
(b) nvcc -Werror all-warnings, a second opinion, where nvcc is on PATH.
(c) No #include: NVRTC has no system headers, and nvcc would hide the problem.

Every kernel the kernel set launches (cuda_kernels.KERNELS) must be in the compiled code as
<name>_f32 and <name>_f64.
"""

import importlib.resources
import os
import re
import shutil
import subprocess

import pytest

from minigan import cuda_kernels

ARCHS = ("70", "80", "90")
SOURCES = tuple(cuda_kernels.KERNELS)


def _expected_symbols(source):
    return [f"{name}_{suffix}" for name in cuda_kernels.KERNELS[source] for suffix in ("f32", "f64")]


def _missing_symbols(cubin, source):
    """Expected kernel names absent from the cubin's (ELF) string tables."""
    return [name for name in _expected_symbols(source) if b"\0" + name.encode() + b"\0" not in cubin]


@pytest.fixture(scope="module")
def nvrtc():
    pytest.importorskip("cupy", reason="the NVRTC compile test needs CuPy (pip install 'minigan[cuda12]')")
    from cupy.cuda import nvrtc
    try:
        nvrtc.getVersion()
    except Exception as exc:  # CuPy is there but libnvrtc is not
        pytest.skip(f"NVRTC library not available ({type(exc).__name__}: {exc}); "
                    "pip install nvidia-cuda-nvrtc-cu12")
    return nvrtc


def _cupy_options(arch):
    """The options cupy.RawModule passes to NVRTC for our sources on a device of `arch`."""
    import cupy
    include = os.path.join(os.path.dirname(cupy.__file__), "_core", "include")
    return list(cuda_kernels.NVRTC_OPTIONS) + [f"-I{include}", "-ftz=true",
                                               f"--gpu-architecture=sm_{arch}"]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("source", SOURCES)
def test_nvrtc_compiles_every_kernel(nvrtc, source, arch):
    filename = f"{source}.cu"
    program = nvrtc.createProgram(cuda_kernels.kernel_source(source), filename, [], [])
    try:
        try:
            nvrtc.compileProgram(program, _cupy_options(arch))
        except nvrtc.NVRTCError:
            pytest.fail(f"NVRTC rejects {filename} for sm_{arch}:\n{nvrtc.getProgramLog(program)}")
        log = nvrtc.getProgramLog(program)
        assert not re.search(rf"{re.escape(filename)}.*warning", log), log
        cubin = nvrtc.getCUBIN(program)
    finally:
        nvrtc.destroyProgram(program)
    assert _missing_symbols(cubin, source) == []


@pytest.mark.parametrize("source", SOURCES)
def test_nvcc_compiles_without_warnings(source, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH")
    cu = tmp_path / f"{source}.cu"  # the text the kernel set reads from the package
    cu.write_text(cuda_kernels.kernel_source(source))
    cubin = tmp_path / f"{source}.cubin"
    result = subprocess.run([nvcc, "--cubin", "-arch=sm_80", "-Werror", "all-warnings",
                             "-o", str(cubin), str(cu)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert _missing_symbols(cubin.read_bytes(), source) == []


@pytest.mark.parametrize("source", SOURCES)
def test_sources_include_nothing(source):
    text = cuda_kernels.kernel_source(source)
    assert not re.search(r"^\s*#\s*include\b", text, re.MULTILINE), \
        f"{source}.cu has an #include; NVRTC has no system headers"


def test_every_cu_file_is_a_kernel_source():
    files = {p.name for p in importlib.resources.files("minigan.kernels").iterdir()
             if p.name.endswith(".cu")}
    assert files == {f"{source}.cu" for source in SOURCES}
