"""The CUDA host harness: unchanged CUDA C kernels (tests/cuda_host/*.cu) compiled with g++
and run on the CPU, checked against NumPy."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigan.cuda_host import CudaHostError, RawModule, build_count, loader

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")

KERNELS = Path(__file__).parent / "cuda_host"


def module(name: str) -> RawModule:
    return RawModule(path=KERNELS / name)


@pytest.fixture(params=["forward", "reverse", "random:5"])
def any_order(request, monkeypatch):
    """Run the test with each order in which the harness may schedule a block's fibers."""
    monkeypatch.setenv("MINIGAN_CUDA_HOST_ORDER", request.param)
    return request.param


def marker_line(name: str, marker: str) -> int:
    """The 1-based line of KERNELS/name that contains `marker`."""
    lines = (KERNELS / name).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc")
def test_test_kernels_are_valid_cuda(tmp_path):
    """The harness runs real CUDA C: nvcc compiles every test kernel as it is."""
    sources = sorted(str(p) for p in KERNELS.glob("*.cu"))
    result = subprocess.run(["nvcc", "-ptx", "-std=c++17", *sources], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("*.ptx"))) == len(sources)


# ---------------------------------------------------------------------------------------
# Elementwise, reductions, shuffles, votes, atomics, indices
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, suffix", [(np.float32, "f32"), (np.float64, "f64")])
def test_grid_stride_axpy(dtype, suffix, rng):
    n = 3001  # odd; 3 blocks of 128 threads cover it only by striding
    x = rng.standard_normal(n).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    expected = dtype(1.5) * x + y
    module("elementwise.cu").get_function(f"axpy_{suffix}")(3, 128, (x, y, dtype(1.5), np.int32(n)))
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert y.dtype == dtype


@pytest.mark.parametrize("variant, block, shared_mem", [
    ("static", 128, 0),
    ("dynamic", 100, 100 * 8),  # not a power of two; 8 bytes/thread covers float and double
    ("shuffle", 96, 0),
])
@pytest.mark.parametrize("dtype, suffix", [(np.float32, "f32"), (np.float64, "f64")])
def test_block_sums(variant, block, shared_mem, dtype, suffix, any_order):
    rng = np.random.default_rng(1)
    n, grid = 5003, 7
    x = rng.standard_normal(n).astype(dtype)
    partial = np.full(grid, np.nan, dtype)
    kernel = module("reductions.cu").get_function(f"block_sum_{variant}_{suffix}")
    kernel((grid,), (block,), (x, partial, np.int32(n)), shared_mem=shared_mem)
    # Block b owns the grid-stride chunks b, b + grid, ... of `block` elements each.
    chunks = np.pad(x.astype(np.float64), (0, -n % (grid * block))).reshape(-1, grid, block)
    np.testing.assert_allclose(partial, chunks.sum(axis=(0, 2)), rtol=1e-5, atol=1e-5)


def test_extern_shared_float_array_at_namespace_scope():
    x = np.arange(5 * 48, dtype=np.float32)
    y = np.zeros_like(x)
    module("reductions.cu").get_function("reverse_blocks_f32")(5, 48, (x, y), shared_mem=48 * 4)
    np.testing.assert_array_equal(y, x.reshape(5, 48)[:, ::-1].ravel())


def test_channel_mean_var_like_batch_norm(any_order):
    rng = np.random.default_rng(2)
    N, C, L = 5, 7, 33
    x = (rng.standard_normal((N, C, L)) * 2 + 3).astype(np.float32)
    mean = np.zeros(C, np.float32)
    var = np.zeros(C, np.float32)
    module("reductions.cu").get_function("channel_mean_var_f32")(
        C, 256, (x, mean, var, np.int32(N), np.int32(C), np.int32(L)))
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(var, x.var(axis=(0, 2)), rtol=1e-4)


def shuffle_sources(lanes: np.ndarray, width: int, src: int, delta: int, lane_mask: int):
    """CUDA's source lane for each shuffle variant (the own lane when out of the segment)."""
    segment = lanes // width * width
    pos = lanes - segment
    idx = segment + src % width
    up = np.where(pos >= delta, lanes - delta, lanes)
    down = np.where(pos + delta < width, lanes + delta, lanes)
    target = lanes ^ lane_mask
    xor = np.where(target < segment + width, target, lanes)
    return idx, up, down, xor


@pytest.mark.parametrize("width, src, delta, lane_mask", [(32, 5, 3, 7), (8, 11, 2, 12), (16, 0, 1, 1)])
def test_shuffle_variants(width, src, delta, lane_mask, any_order):
    grid, block = 2, 64
    x = np.random.default_rng(3).standard_normal(grid * block).astype(np.float32)
    outs = [np.full_like(x, np.nan) for _ in range(4)]
    module("warp_ops.cu").get_function("shuffles")(
        grid, block, (x, *(np.int32(v) for v in (src, delta, lane_mask, width)), *outs))
    t = np.arange(grid * block)
    warp_base = t // 32 * 32
    for name, out, source in zip(("idx", "up", "down", "xor"), outs,
                                 shuffle_sources(t % 32, width, src, delta, lane_mask)):
        np.testing.assert_array_equal(out, x[warp_base + source], err_msg=name)


def test_shuffle_double_keeps_all_64_bits():
    x = np.random.default_rng(4).standard_normal(64)  # float64: low bits must survive
    y = np.zeros_like(x)
    module("warp_ops.cu").get_function("rotate_f64")(1, 64, (x, y))
    lanes = np.arange(64)
    np.testing.assert_array_equal(y, x[lanes // 32 * 32 + (lanes % 32 + 1) % 32])


def test_shuffles_with_partial_masks_form_separate_groups():
    x = np.random.default_rng(8).standard_normal(64).astype(np.float32)
    out = np.zeros_like(x)
    module("warp_ops.cu").get_function("half_warp_groups")(1, 64, (x, out))
    t = np.arange(64)
    np.testing.assert_array_equal(out, x[t ^ 1] + np.where(t % 32 < 16, 0, 100).astype(np.float32))


def test_block_votes_count_and_or(any_order):
    x = np.random.default_rng(9).standard_normal(4 * 40).astype(np.float32)
    x[40:80] = 1.0   # block 1: all positive
    x[80:120] = -1.0  # block 2: none
    counts, and_or = np.zeros(4, np.int32), np.zeros(8, np.int32)
    module("warp_ops.cu").get_function("block_votes")(4, 40, (x, counts, and_or))
    pred = x.reshape(4, 40) > 0
    np.testing.assert_array_equal(counts, pred.sum(axis=1))
    np.testing.assert_array_equal(and_or.reshape(4, 2), np.column_stack([pred.all(1), pred.any(1)]))


def test_shuffle_width_must_be_a_power_of_two():
    x = np.zeros(32, np.float32)
    with pytest.raises(CudaHostError, match=r"__shfl_sync \(.*warp_ops.cu:\d+\): width 6 is not"):
        module("warp_ops.cu").get_function("shuffles")(
            1, 32, (x, *(np.int32(v) for v in (0, 1, 1, 6)), x, x, x, x))


@pytest.mark.parametrize("block", [96, 80])  # 80: the last warp of each block has 16 lanes
def test_votes(block, any_order):
    grid = 2
    x = np.random.default_rng(5).standard_normal(grid * block).astype(np.float32)
    x[32:64] = np.abs(x[32:64]) + 0.5   # warp 1 of block 0: all positive
    x[64:block] = -np.abs(x[64:block]) - 0.5  # warp 2 of block 0: all negative
    ballot = np.zeros(x.size, np.uint32)
    all_, any_ = np.zeros(x.size, np.int32), np.zeros(x.size, np.int32)
    module("warp_ops.cu").get_function("votes")(grid, block, (x, ballot, all_, any_))
    for b in range(grid):
        for w in range(0, block, 32):  # a warp: the (up to) 32 threads of a block from w
            t = np.arange(b * block + w, b * block + min(w + 32, block))
            pred = x[t] > 0
            bits = sum(1 << lane for lane in np.flatnonzero(pred))
            assert (ballot[t] == bits).all() and (all_[t] == pred.all()).all()
            assert (any_[t] == pred.any()).all()
    assert all_[32] == 1 and any_[64] == 0  # the constructed warps hit both outcomes


def test_atomic_adds_from_many_blocks():
    rng = np.random.default_rng(6)
    n = 4099
    xf = rng.standard_normal(n).astype(np.float32)
    xd = rng.standard_normal(n)
    xi = rng.integers(-1000, 1000, n).astype(np.int32)
    sum_f, sum_d = np.zeros(1, np.float32), np.zeros(1, np.float64)
    sum_i, count = np.zeros(1, np.int32), np.zeros(1, np.uint32)
    module("atomics.cu").get_function("atomic_sums")(
        13, 64, (xf, xd, xi, np.int32(n), sum_f, sum_d, sum_i, count))
    np.testing.assert_allclose(sum_f[0], xf.astype(np.float64).sum(), rtol=1e-4)
    np.testing.assert_allclose(sum_d[0], xd.sum(), rtol=1e-12)
    assert sum_i[0] == xi.sum() and count[0] == n


def test_atomic_max_min_cas_exch():
    rng = np.random.default_rng(7)
    n, m = 777, 11
    xi = rng.integers(-10**6, 10**6, n).astype(np.int32)
    extremes = np.array([np.iinfo(np.int32).min, np.iinfo(np.int32).max], np.int32)
    claimed, slot = np.zeros(m, np.int32), np.full(1, -1, np.int32)
    last_seen = np.zeros(n, np.int32)
    module("atomics.cu").get_function("atomic_misc")(
        5, 32, (xi, np.int32(n), np.int32(m), extremes, claimed, slot, last_seen))
    assert extremes.tolist() == [xi.max(), xi.min()]
    for k in range(m):  # some thread with xi % m == k claimed slot k (blocks run in order)
        owners = np.flatnonzero(xi % m == k)
        assert (claimed[k] - 1 in owners) if owners.size else claimed[k] == 0
    # atomicExch hands the slot along a chain: every index is seen exactly once, -1 first.
    assert sorted(last_seen.tolist()) == sorted([-1] + [i for i in range(n) if i != slot[0]])


@pytest.mark.parametrize("grid, block", [((3, 2, 2), (5, 3, 2)), ((2, 5), (7, 4)), (4, 33)])
def test_grid_and_block_indices(grid, block):
    g = (grid,) if isinstance(grid, int) else grid
    b = (block,) if isinstance(block, int) else block
    g, b = g + (1,) * (3 - len(g)), b + (1,) * (3 - len(b))
    out = np.full((np.prod(g) * np.prod(b), 12), -1, np.int32)
    module("indices.cu").get_function("coordinates")(grid, block, (out,))
    # Expected: blocks and threads in linear order, x fastest.
    bz, by, bx = np.unravel_index(np.arange(np.prod(g)), g[::-1])
    tz, ty, tx = np.unravel_index(np.arange(np.prod(b)), b[::-1])
    nb, nt = np.prod(g), np.prod(b)
    expected = np.column_stack([
        np.repeat(bx, nt), np.repeat(by, nt), np.repeat(bz, nt),
        np.tile(tx, nb), np.tile(ty, nb), np.tile(tz, nb),
        *[np.full(nb * nt, d) for d in b + g]])
    np.testing.assert_array_equal(out, expected)


def test_kernels_found_in_macros_namespaces_and_extern_c_blocks():
    stamped = module("stamped.cu")
    assert sorted(stamped.kernel_names) == ["declared_first", "fill_f32", "fill_f64",
                                            "scale_in_block"]
    assert [p.name for p in stamped.get_function("fill_f64").params] == ["out", "value", "n"]
    out = np.zeros(37)
    stamped.get_function("fill_f64")(1, 8, (out, np.float64(2.5), np.int32(37)))
    np.testing.assert_array_equal(out, np.full(37, 2.5))
    x = np.arange(64, dtype=np.float32)
    stamped.get_function("scale_in_block")(1, 64, (x, np.float32(-2)))
    np.testing.assert_array_equal(x, -2 * np.arange(64, dtype=np.float32))
    ints = np.zeros(3, np.int32)
    stamped.get_function("declared_first")(1, 3, (ints,))
    np.testing.assert_array_equal(ints, [7, 7, 7])


def test_float_intrinsics():
    x = np.random.default_rng(10).uniform(0.05, 4.0, 301).astype(np.float32)
    out = np.zeros((x.size, 8), np.float32)
    module("intrinsics.cu").get_function("float_intrinsics")(2, 64, (x, out, np.int32(x.size)))
    xd = x.astype(np.float64)
    expected = np.column_stack([1 / np.sqrt(xd), np.exp(-xd), np.log(xd), xd ** 1.5, 1 / xd,
                                np.clip(xd - 1, 0, 1), xd + 1, 2 * xd])
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=1e-7)


def test_int_intrinsics():
    rng = np.random.default_rng(11)
    a = rng.integers(-2**31, 2**31, 203, dtype=np.int64).astype(np.int32)
    a[:3] = [0, -1, 1]
    b = rng.integers(-2**31, 2**31, 203, dtype=np.int64).astype(np.int32)
    out = np.zeros((a.size, 7), np.int64)
    module("intrinsics.cu").get_function("int_intrinsics")(3, 32, (a, b, out, np.int32(a.size)))
    bits = a.view(np.uint32).astype(np.int64)
    popcount = np.array([bin(v).count("1") for v in bits])
    clz = np.array([32 - v.bit_length() for v in bits.tolist()])
    ffs = np.array([(v & -v).bit_length() for v in bits.tolist()])  # 1 + lowest set bit; 0 for 0
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    expected = np.column_stack([np.maximum(a, b), np.minimum(a, b), np.maximum(a64, 5 * b64),
                                popcount, clz, ffs, b64 << 20])
    np.testing.assert_array_equal(out, expected)


# ---------------------------------------------------------------------------------------
# Errors the harness must report
# ---------------------------------------------------------------------------------------

def test_divergent_barrier_is_reported_and_the_harness_recovers():
    x = np.zeros(64, np.float32)
    errors = module("errors.cu")
    with pytest.raises(CudaHostError) as info:
        errors.get_function("early_exit_barrier")((2, 1, 1), 64, (x, np.int32(10)))
    message = str(info.value)
    line = marker_line("errors.cu", "BARRIER-LINE")
    for part in ("early_exit_barrier", "block (0, 0, 0)", "divergent barrier",
                 "10 of 64 threads", "54 have exited", f"errors.cu:{line}"):
        assert part in message, (part, message)
    # The next launch starts clean: all 64 threads reach the barrier.
    x[:] = 0
    errors.get_function("early_exit_barrier")(1, 64, (x, np.int32(64)))
    np.testing.assert_array_equal(x, np.full(64, 2, np.float32))


def test_scheduling_orders_expose_a_missing_barrier(monkeypatch):
    kernel = module("errors.cu").get_function("missing_barrier")
    x = np.arange(1, 65, dtype=np.float32)
    results = {}
    for order in ("forward", "reverse", "random:1", "random:2"):
        monkeypatch.setenv("MINIGAN_CUDA_HOST_ORDER", order)
        kernel(1, 64, (np.zeros(64, np.float32), np.zeros(64, np.float32)))  # shared := 0
        results[order] = np.zeros(64, np.float32)
        kernel(1, 64, (x, results[order]))
        # Threads run to completion one by one: some always read a slot not yet written.
        assert not np.array_equal(results[order], np.roll(x, -1)), order
    # forward: threads 0..62 read stale zeros; reverse: only thread 63 (reading slot 0) does.
    np.testing.assert_array_equal(results["forward"], np.r_[np.zeros(63), x[0]])
    np.testing.assert_array_equal(results["reverse"], np.r_[x[1:], 0])
    assert not np.array_equal(results["random:1"], results["random:2"])


def test_bad_scheduling_order_is_a_value_error(monkeypatch):
    monkeypatch.setenv("MINIGAN_CUDA_HOST_ORDER", "sideways")
    y = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="MINIGAN_CUDA_HOST_ORDER='sideways'"):
        module("elementwise.cu").get_function("axpy_f32")(1, 4, (y, y, np.float32(1), np.int32(4)))


def test_threads_at_different_barriers_are_reported():
    with pytest.raises(CudaHostError, match="different barriers"):
        module("errors.cu").get_function("split_barriers")(1, 8, (np.zeros(8, np.float32),))


def test_shuffle_with_an_exited_lane_is_reported():
    with pytest.raises(CudaHostError, match=r"__shfl_down_sync.*lane 0 has exited"):
        module("errors.cu").get_function("shuffle_missing_lane")(1, 32, (np.zeros(32, np.float32),))


def many_types_args():
    return [np.array([1.5], np.float32), np.zeros(1), np.array([2], np.int32),
            np.array([3], np.int64), np.array([4], np.uint8), np.int32(5), np.int64(6),
            np.float32(7.25), np.float64(8.5), np.uint32(9)]


def test_every_parameter_kind_reaches_the_kernel():
    args = many_types_args()
    module("errors.cu").get_function("many_types")(1, 1, tuple(args))
    assert args[1][0] == 1.5 + 2 + 3 + 4 + 5 + 6 + 7.25 + 8.5 + 9


@pytest.mark.parametrize("index, value, pattern", [
    (5, 5, r"'a' \(int\): expected numpy.int32, got Python int; pass np.int32"),
    (6, np.int32(6), r"'b' \(long long\): expected numpy.int64, got numpy.int32"),
    (7, np.float64(7.25), r"'c' \(float\): expected numpy.float32, got numpy.float64"),
    (8, 8.5, r"'e' \(double\): expected numpy.float64, got Python float"),
    (1, np.zeros(1, np.float32), r"'d' \(double\*\): expected a numpy.float64 array, got a numpy.float32 array"),
    (0, np.float32(1.5), r"'f' \(const float\*\): expected a numpy.float32 array, got numpy.float32"),
    (5, np.array(5, np.int32), r"'a' \(int\): expected numpy.int32, got a numpy.int32 array"),
])
def test_argument_type_mismatch_is_a_type_error(index, value, pattern):
    args = many_types_args()
    args[index] = value
    with pytest.raises(TypeError, match=r"kernel 'many_types', parameter " + pattern):
        module("errors.cu").get_function("many_types")(1, 1, tuple(args))


def test_wrong_argument_count_is_a_type_error():
    with pytest.raises(TypeError, match=r"'many_types' takes 10 arguments \(f, d, i, ll, bytes, a, b, c, e, u\), got 9"):
        module("errors.cu").get_function("many_types")(1, 1, tuple(many_types_args()[:9]))


@pytest.mark.parametrize("grid, block, shared_mem, pattern", [
    (1, (32, 33), 0, "1056 threads"),
    (1, 1025, 0, r"block\[0\] = 1025"),
    (1, (1, 1, 65), 0, r"block\[2\] = 65"),
    (0, 32, 0, r"grid\[0\] = 0"),
    ((1, 65536), 32, 0, r"grid\[1\] = 65536"),
    (1, 32, 10**7, "shared_mem"),
])
def test_bad_launch_configuration_is_a_value_error(grid, block, shared_mem, pattern):
    y = np.zeros(4, np.float32)
    kernel = module("elementwise.cu").get_function("axpy_f32")
    with pytest.raises(ValueError, match=pattern):
        kernel(grid, block, (y, y, np.float32(1), np.int32(4)), shared_mem=shared_mem)


def test_non_contiguous_array_is_a_value_error():
    y = np.zeros(8, np.float32)
    kernel = module("elementwise.cu").get_function("axpy_f32")
    with pytest.raises(ValueError, match="'x': the array must be contiguous"):
        kernel(1, 4, (y[::2], y[:4], np.float32(1), np.int32(4)))


def test_define_options_reach_the_compiler():
    code = ('#ifndef SCALE\n#define SCALE 1\n#endif\n'
            'extern "C" __global__ void scale(int* x) { x[threadIdx.x] *= SCALE; }\n')
    x = np.arange(5, dtype=np.int32)
    RawModule(code, options=("--std=c++14", "-DSCALE=3")).get_function("scale")(1, 5, (x,))
    RawModule(code).get_function("scale")(1, 5, (x,))
    np.testing.assert_array_equal(x, 3 * np.arange(5))


def test_unknown_kernel_and_compile_error_name_the_source():
    with pytest.raises(CudaHostError, match="no extern \"C\" __global__ kernel named 'axpy'"):
        module("elementwise.cu").get_function("axpy")
    code = 'extern "C" __global__ void broken(float* x) {\n    x[0] = undefined_name;\n}\n'
    with pytest.raises(CudaHostError, match=r"broken\.cu:2"):
        RawModule(code, source_name="broken.cu")


# ---------------------------------------------------------------------------------------
# Build cache
# ---------------------------------------------------------------------------------------

def test_build_cache_in_memory_and_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(loader, "_libraries", {})
    code = (KERNELS / "elementwise.cu").read_text() + f"// {tmp_path}\n"
    before = build_count()
    RawModule(code)
    assert build_count() == before + 1
    [library] = (tmp_path / "cuda_host").glob("*.so")
    mtime = library.stat().st_mtime_ns
    RawModule(code)  # same process: the in-memory cache
    monkeypatch.setattr(loader, "_libraries", {})
    y = np.zeros(5, np.float32)
    RawModule(code).get_function("axpy_f32")(1, 8, (np.ones(5, np.float32), y, np.float32(2), np.int32(5)))
    assert build_count() == before + 1 and library.stat().st_mtime_ns == mtime  # from disk
    np.testing.assert_array_equal(y, np.full(5, 2, np.float32))
    RawModule(code, options=("-DUNUSED_FLAG=1", "--use_fast_math"))  # new options: new build
    assert build_count() == before + 2
    assert not list((tmp_path / "cuda_host").glob(".*.tmp"))  # temporaries renamed away


def test_parallel_processes_build_the_same_module_safely(tmp_path):
    script = (
        "import numpy as np\n"
        "from minigan.cuda_host import RawModule\n"
        f"kernel = RawModule(path={str(KERNELS / 'elementwise.cu')!r}).get_function('axpy_f64')\n"
        "y = np.zeros(9)\n"
        "kernel(1, 4, (np.ones(9), y, np.float64(3), np.int32(9)))\n"
        "assert (y == 3).all()\n")
    env = dict(os.environ, MINIGAN_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert len(list((tmp_path / "cuda_host").glob("*.so"))) == 1
    assert not list((tmp_path / "cuda_host").glob(".*.tmp"))


# ---------------------------------------------------------------------------------------
# AddressSanitizer
# ---------------------------------------------------------------------------------------

def asan_preload():
    """LD_PRELOAD for the ASan recipe of docs/cuda_host.md, or None without libasan."""
    paths = [subprocess.run(["g++", f"-print-file-name={lib}"], capture_output=True,
                            text=True).stdout.strip() for lib in ("libasan.so", "libstdc++.so")]
    return " ".join(paths) if all(os.path.isabs(p) and os.path.exists(p) for p in paths) else None


@pytest.mark.skipif(asan_preload() is None, reason="g++ has no libasan")
@pytest.mark.parametrize("kernel, launch, marker, error, where", [
    # Thread 1000 of the grid (block 7 of 128 threads, thread 104) writes y[1000].
    ("off_by_one", "(8, 128, (y, np.int32(y.size)))", "OOB-LINE", "heap-buffer-overflow",
     "block (7, 0, 0), thread (104, 0, 0)"),
    # Dynamic shared memory past the launch's shared_mem is poisoned.
    ("shared_off_by_one", "(1, 64, (y,), shared_mem=64 * 4)", "SMEM-LINE", "use-after-poison",
     "block (0, 0, 0), thread (63, 0, 0)"),
], ids=["heap", "dynamic-shared"])
def test_asan_reports_out_of_bounds_with_cu_file_and_line(kernel, launch, marker, error, where):
    script = (
        "import numpy as np\n"
        "from minigan.cuda_host import RawModule\n"
        f"kernel = RawModule(path={str(KERNELS / 'oob.cu')!r}).get_function({kernel!r})\n"
        "y = np.zeros(1000, np.float32)\n"
        f"kernel{launch}\n")
    env = dict(os.environ, LD_PRELOAD=asan_preload(), ASAN_OPTIONS="detect_leaks=0",
               MINIGAN_CUDA_HOST_SANITIZE="address")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=300)
    report = result.stderr
    assert result.returncode != 0
    assert error in report, report[-3000:]
    assert f"oob.cu:{marker_line('oob.cu', marker)}" in report, report[-3000:]
    assert f"kernel '{kernel}', {where}" in report, report[-3000:]
    assert "swapcontext" not in report  # no false-positive warnings about the fibers


def test_sanitizer_without_runtime_explains_the_recipe(monkeypatch):
    if loader._asan_loaded():
        pytest.skip("this process has the ASan runtime")
    monkeypatch.setenv("MINIGAN_CUDA_HOST_SANITIZE", "address")
    with pytest.raises(CudaHostError, match=r'LD_PRELOAD="\$\(g\+\+ -print-file-name=libasan.so\)'):
        RawModule('extern "C" __global__ void nothing() {}\n')
    monkeypatch.setenv("MINIGAN_CUDA_HOST_SANITIZE", "thread")
    with pytest.raises(ValueError, match="MINIGAN_CUDA_HOST_SANITIZE"):
        RawModule('extern "C" __global__ void nothing() {}\n')
