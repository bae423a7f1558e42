"""The CUDA C sources compile as the GPU will see them, on machines without a GPU.

(a) NVRTC, exactly as cupy.RawModule compiles them (same options, cubin for sm_70/80/90), via
    CuPy's low-level bindings (CuPy's high-level helpers query a device and fail without one).
    Needs CuPy and the NVRTC library: pip install 'minigan[cuda12]' (cupy-cuda12x and
    nvidia-cuda-nvrtc-cu12); skipped otherwise.
(b) nvcc -Werror all-warnings, a second opinion, where nvcc is on PATH.
(c) No #include: NVRTC has no system headers, and nvcc would hide the problem.

What is compiled is exactly what CuPy gets: cuda_launch.kernel_source(name), i.e.
kernels/common.cuh followed by `#line 1 "<path of kernels/<name>.cu>"` and the .cu file; the
#line directives must keep errors pointing at the right file and line (checked too).

Every kernel the kernel set launches (cuda_kernels.KERNELS) must be in the compiled code as
<name>_f32 and <name>_f64.
"""

import importlib.resources
import os
import re
import shlex
import shutil
import subprocess

import pytest

from minigan import cuda_kernels
from minigan.kernels import cuda_launch

ARCHS = ("70", "80", "90")
SOURCES = tuple(cuda_kernels.KERNELS)
COMMON = cuda_launch.COMMON_HEADER


def _package_file(name):
    return importlib.resources.files("minigan.kernels").joinpath(name)


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
    return list(cuda_launch.NVRTC_OPTIONS) + [f"-I{include}", "-ftz=true",
                                               f"--gpu-architecture=sm_{arch}"]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("source", SOURCES)
def test_nvrtc_compiles_every_kernel(nvrtc, source, arch):
    filename = f"{source}.cu"
    program = nvrtc.createProgram(cuda_launch.kernel_source(source), filename, [], [])
    try:
        try:
            nvrtc.compileProgram(program, _cupy_options(arch))
        except nvrtc.NVRTCError:
            pytest.fail(f"NVRTC rejects {filename} for sm_{arch}:\n{nvrtc.getProgramLog(program)}")
        log = nvrtc.getProgramLog(program)
        assert not re.search(rf"({re.escape(filename)}|{re.escape(COMMON)}).*warning", log), log
        cubin = nvrtc.getCUBIN(program)
    finally:
        nvrtc.destroyProgram(program)
    assert _missing_symbols(cubin, source) == []


@pytest.mark.parametrize("source", SOURCES)
def test_nvcc_compiles_without_warnings(source, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH")
    cu = tmp_path / f"{source}.cu"  # the text the kernel set hands to CuPy (common.cuh + .cu)
    cu.write_text(cuda_launch.kernel_source(source))
    cubin = tmp_path / f"{source}.cubin"
    result = subprocess.run([nvcc, "--cubin", "-arch=sm_80", "-Werror", "all-warnings",
                             "-o", str(cubin), str(cu)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert _missing_symbols(cubin.read_bytes(), source) == []


@pytest.mark.parametrize("source", SOURCES + (COMMON,))
def test_sources_include_nothing(source):
    if source == COMMON:
        text = _package_file(COMMON).read_text()
    else:
        text = cuda_launch.kernel_source(source)  # common.cuh + the .cu file
    assert not re.search(r"^\s*#\s*include\b", text, re.MULTILINE), \
        f"{source} has an #include; NVRTC has no system headers"


@pytest.mark.parametrize("source", SOURCES)
def test_kernel_source_is_common_header_then_the_file(source):
    """common.cuh, then `#line 1 "<.cu path>"` and the .cu text unchanged; the helpers
    live in common.cuh only."""
    common = _package_file(COMMON).read_text()
    own = cuda_launch.kernel_path(source).read_text()
    text = cuda_launch.kernel_source(source)
    directive = f'#line 1 "{cuda_launch.kernel_path(source)}"\n'
    assert text.endswith(directive + own)
    assert common.strip() in text[:-len(directive + own)]
    assert own.startswith("// Relies on kernels/common.cuh being prepended")
    for helper in ("#define MG_KERNEL_AS", "#define MG_FLOAT_KERNELS", "#define MG_GRID_STRIDE_LOOP",
                   "#define MG_BLOCK", "block_sum(T v"):
        assert helper in common and helper not in own, (source, helper)


def _with_error_at_end(source):
    """kernel_source(source) with a syntax error on the line after the .cu file's last line;
    returns the text and that line's number in the .cu file."""
    own = cuda_launch.kernel_path(source).read_text()
    return cuda_launch.kernel_source(source) + "this_is_not_cuda;\n", own.count("\n") + 1


def test_nvrtc_errors_name_the_cu_file_and_line(nvrtc):
    text, line = _with_error_at_end("optim")
    program = nvrtc.createProgram(text, "optim.cu", [], [])
    try:
        with pytest.raises(nvrtc.NVRTCError):
            nvrtc.compileProgram(program, _cupy_options("80"))
        log = nvrtc.getProgramLog(program)
    finally:
        nvrtc.destroyProgram(program)
    assert f"{cuda_launch.kernel_path('optim')}({line}): error" in log, log


def test_cuda_host_errors_name_the_cu_file_and_line():
    if shutil.which(shlex.split(os.environ.get("CXX", "g++"))[0]) is None:
        pytest.skip("no C++ compiler for the CUDA host harness")
    from minigan import cuda_host
    text, line = _with_error_at_end("optim")
    path = str(cuda_launch.kernel_path("optim"))
    with pytest.raises(cuda_host.CudaHostError, match=re.escape(f"{path}:{line}:")):
        cuda_host.RawModule(code=text, source_name=path, options=cuda_launch.NVRTC_OPTIONS)


def test_every_cu_file_is_a_kernel_source():
    files = {p.name for p in importlib.resources.files("minigan.kernels").iterdir()
             if p.name.endswith(".cu")}
    assert files == {f"{source}.cu" for source in SOURCES}
