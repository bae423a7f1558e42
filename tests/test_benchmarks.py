"""The benchmarks in their tiny smoke modes: the harness runs, the correctness cross-check passes
(and catches a wrong kernel), the numbers written are positive and finite. No timing is asserted."""

import json
import math
import types

import numpy as np
import pytest

import minigan as mg
from benchmarks import bench_kernels, bench_train
from benchmarks.profiler import op_profile
from minigan import backend, reference


def _positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def kernel_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_kernels")
    paths, failures = bench_kernels.run_benchmark(quick=True, repeats=1, out_dir=out)
    return paths, failures, json.loads(paths["json"].read_text())


def test_kernel_benchmark_writes_every_format(kernel_report):
    paths, _, report = kernel_report
    for kind in ("md", "json", "csv", "png"):
        assert paths[kind].stat().st_size > 0, kind
    assert report["ceilings"]["gemm_gflops"] > 0 and report["ceilings"]["copy_gbs"] > 0
    assert report["environment"]["numpy"] == np.__version__
    assert "| op | direction |" in paths["md"].read_text()


def test_kernel_benchmark_every_implementation_passes_its_check(kernel_report):
    _, failures, report = kernel_report
    assert failures == [] and report["failures"] == []
    impls = {r["impl"] for r in report["rows"]}
    assert {"reference", "numba", "numba-direct", "numba-im2col"} <= impls
    winograd_case = {r["impl"] for r in report["rows"] if r["shape"] == "tiny 8→6 9x11 s2"}
    assert {"numba", "numba-im2col", "reference"} <= winograd_case   # the Winograd path passed its check too
    for row in report["rows"]:
        assert row["check"] == "pass" and row["relative_error"] <= bench_kernels.CHECK_RTOL, row


def test_kernel_benchmark_covers_every_op_and_direction(kernel_report):
    _, _, report = kernel_report
    cases = {(r["op"], r["direction"]) for r in report["rows"] if r["impl"] == "numba"}
    for op in ("conv2d", "conv_transpose2d"):
        assert {(op, d) for d in ("forward", "backward-data", "backward-weight")} <= cases
    for op in ("batch_norm", "relu", "leaky_relu", "tanh", "sigmoid", "bce", "bce_with_logits", "mse", "kl_normal"):
        assert {(op, "forward"), (op, "backward")} <= cases
    assert ("adam", "step") in cases


def test_kernel_benchmark_numbers_are_positive_and_finite(kernel_report):
    _, _, report = kernel_report
    for row in report["rows"]:
        assert _positive(row["ms"]) and _positive(row["ceiling_pct"]), row
        assert _positive(row.get("gflops") or row.get("gbs")), row


def test_kernel_benchmark_compares_with_torch(kernel_report, torch):
    _, _, report = kernel_report
    torch_rows = [r for r in report["rows"] if r["impl"] == "torch-cpu"]
    assert len(torch_rows) == len([r for r in report["rows"] if r["impl"] == "numba"])
    assert all(r["vs_torch"] == 1.0 for r in torch_rows)
    assert all(_positive(r["vs_torch"]) for r in report["rows"] if r["impl"] == "numba")


def test_unavailable_cuda_note_keeps_the_whole_reason_on_one_line(monkeypatch):
    def no_gpu():
        raise RuntimeError("device 'cuda' needs CuPy and a CUDA GPU: " + "word " * 40 + "\nsecond line (the end)")

    monkeypatch.setattr(backend, "require_cupy", no_gpu)
    _, notes = bench_kernels.available_impls(["reference"], cuda_sim=False)
    note = [n for n in notes if n.startswith("cuda: ")][0]
    assert note.startswith("cuda: unavailable (device 'cuda' needs CuPy") and note.endswith("second line (the end))")
    assert "\n" not in note and note.count("word") == 40


def test_kernel_benchmark_reports_and_excludes_a_wrong_kernel(monkeypatch, tmp_path, capsys):
    def off_by_one_percent(x, weight, bias, stride, padding, dilation):
        return reference.conv2d_forward(x, weight, bias, stride, padding, dilation) * 1.01

    broken = bench_kernels.Impl("broken", "cpu", types.SimpleNamespace(conv2d_forward=off_by_one_percent))
    monkeypatch.setattr(bench_kernels, "available_impls", lambda names, cuda_sim: ([broken], []))
    args = bench_kernels.parse_args(["--quick", "--op", "conv2d", "--repeats", "1", "--out", str(tmp_path), "--no-plot"])
    assert bench_kernels.main_from_args(args) == 1
    report = json.loads((tmp_path / "bench_kernels.json").read_text())
    assert report["rows"] == []
    assert {f["impl"] for f in report["failures"]} == {"broken"}
    assert len(report["failures"]) == len(bench_kernels.QUICK_CONV_SHAPES)  # every forward case, nothing else
    assert "CHECK FAILED" in capsys.readouterr().err
    assert any("conv2d_backward_data" in note for note in report["notes"])  # the missing kernels are listed


def test_train_benchmark_minigan_alone(tmp_path):
    paths = bench_train.run_benchmark(["dcgan32", "vae"], quick=True, rounds=1, with_torch=False, out_dir=tmp_path,
                                      plot=False)
    rows = json.loads(paths["json"].read_text())["rows"]
    assert [(r["model"], r["framework"]) for r in rows] == [("dcgan32", "minigan"), ("vae", "minigan")]
    for row in rows:
        assert _positive(row["s_per_step"]) and _positive(row["images_per_s"])


def test_train_benchmark_isolated_runs_each_framework_in_its_own_processes(tmp_path, torch):
    paths = bench_train.run_benchmark(["mlp_gan"], quick=True, rounds=2, out_dir=tmp_path, plot=False, isolated=True)
    report = json.loads(paths["json"].read_text())
    rows = {r["framework"]: r for r in report["rows"]}
    assert set(rows) == {"minigan", "torch"} and report["isolated"] is True
    assert rows["minigan"]["steps"] == rows["torch"]["steps"] == 2 * 3  # 2 processes x 3 timed steps
    assert _positive(rows["minigan"]["vs_torch"]) and _positive(rows["torch"]["s_per_step"])


def test_train_benchmark_against_torch(tmp_path, torch):
    paths = bench_train.run_benchmark(None, quick=True, rounds=1, out_dir=tmp_path)
    rows = json.loads(paths["json"].read_text())["rows"]
    assert {(r["model"], r["framework"]) for r in rows} == {
        (m, f) for m in ("mlp_gan", "dcgan32", "dcgan64", "wgan_gp64", "conv_ae", "vae") for f in ("minigan", "torch")}
    assert all(_positive(r["vs_torch"]) for r in rows if r["framework"] == "minigan")
    assert paths["png"].stat().st_size > 0


@pytest.mark.parametrize("model", ["mlp_gan", "dcgan32", "wgan_gp64", "conv_ae", "vae"])
def test_torch_twin_takes_the_same_steps(model, torch):
    trainers = bench_train.make_trainers(bench_train._specs(quick=True)[model])
    for _ in range(2):  # the second step starts from weights both optimizers updated
        ours, theirs = trainers["minigan"].step(), trainers["torch"].step()
        np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=1e-5)


def test_profile_attributes_time_to_ops_and_restores_them():
    forward = bench_train.F._Conv2d.__dict__["forward"]
    rows = bench_train.profile("dcgan32", quick=True, steps=1)
    ops = {r["name"]: r for r in rows if r["section"] == "op"}
    assert ops["conv2d"]["forward_ms"] > 0 and ops["conv2d"]["backward_ms"] > 0
    assert ops["conv_transpose2d"]["calls"] > 0
    assert {"conv2d_forward", "adam_step"} <= {r["name"] for r in rows if r["section"] == "kernel"}
    assert bench_train.F._Conv2d.__dict__["forward"] is forward


def test_profile_context_restores_on_error():
    original = mg.autograd.backward
    with pytest.raises(ZeroDivisionError), op_profile():
        1 / 0
    assert mg.autograd.backward is original


def test_memory_is_flat_over_steps():
    leak = bench_train.leak_check("dcgan32", quick=True, steps=12)
    assert leak["steps"] == 12 and leak["flat"], leak


def test_memory_child_reports_growth():
    result = bench_train.memory_child("minigan", "dcgan32", quick=True, steps=1)
    assert result["peak_growth_mb"] >= 0 and math.isfinite(result["end_growth_mb"])


def test_minigan_bench_command_runs_the_kernel_benchmark(tmp_path):
    import argparse

    from minigan.bench import register

    parser = argparse.ArgumentParser(prog="minigan")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "kernels", "--quick", "--op", "relu", "--impl", "reference,numba",
                              "--repeats", "1", "--out", str(tmp_path), "--no-plot"])
    assert args.run(args) == 0
    rows = json.loads((tmp_path / "bench_kernels.json").read_text())["rows"]
    assert {(r["impl"], r["direction"]) for r in rows} == {
        (i, d) for i in ("reference", "numba") for d in ("forward", "backward")}


# ----------------------------------------------------------------------------- the fast CPU path's chunk scheduler

@pytest.mark.parametrize("threads", [1, 2])
def test_conv_chunks_cover_the_batch_in_order(monkeypatch, threads):
    import numba
    from minigan.kernels import chunks

    monkeypatch.setattr(chunks, "CHUNK_BYTES", 100)  # 2 images of 40 bytes per chunk
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        assert chunks.over_image_chunks(7, 40, lambda n0, n1: (n0, n1)) == [(0, 2), (2, 4), (4, 6), (6, 7)]
    finally:
        numba.set_num_threads(previous)


def test_conv_chunk_errors_reach_the_caller_and_blas_threads_are_restored():
    from threadpoolctl import threadpool_info

    from minigan.kernels import chunks

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()

    def fail(n0, n1):
        raise ValueError(f"chunk {n0}:{n1} failed")

    with pytest.raises(ValueError, match="chunk .* failed"):
        chunks.over_image_chunks(64, 2 ** 20, fail)
    assert blas_threads() == before


@pytest.mark.gpu
def test_cuda_rows_are_measured_against_the_gpu_ceilings(tmp_path, cupy):
    paths, failures = bench_kernels.run_benchmark(quick=True, ops=["relu", "conv2d"], impl_names=["cuda", "numba"],
                                                  repeats=1, out_dir=tmp_path, plot=False)
    report = json.loads(paths["json"].read_text())
    gpu = report["ceilings"]["cuda"]
    assert failures == [] and gpu["gemm_gflops"] > 0 and gpu["copy_gbs"] > 0
    for row in report["rows"]:
        ceiling = gpu if row["device"] == "cuda" else report["ceilings"]
        rate, peak = (row["gflops"], ceiling["gemm_gflops"]) if "gflops" in row else (row["gbs"], ceiling["copy_gbs"])
        assert row["ceiling_pct"] == pytest.approx(100 * rate / peak), row
    assert {r["device"] for r in report["rows"]} == {"cpu", "cuda"}


@pytest.mark.gpu
def test_training_benchmark_on_the_gpu(tmp_path, cupy):
    paths = bench_train.run_benchmark(["dcgan32", "vae"], quick=True, with_torch=False, out_dir=tmp_path, plot=False,
                                      device="cuda")
    report = json.loads(paths["json"].read_text())
    assert report["device"] == "cuda" and report["ceilings"]["cuda"]["gemm_gflops"] > 0
    assert {r["model"] for r in report["rows"]} == {"dcgan32", "vae"}
    assert all(r["s_per_step"] > 0 for r in report["rows"])


def test_training_benchmark_profiles_only_the_cpu():
    import argparse

    parser = argparse.ArgumentParser()
    bench_train.add_arguments(parser)
    with pytest.raises(SystemExit, match="measure the CPU step"):
        bench_train.main_from_args(parser.parse_args(["--device", "cuda", "--profile", "--quick"]))


def test_cuda_sim_is_checked_not_timed(tmp_path):
    paths, failures = bench_kernels.run_benchmark(quick=True, ops=["relu", "conv2d"], impl_names=["cuda-sim"],
                                                  cuda_sim=True, repeats=1, out_dir=tmp_path, plot=False)
    report = json.loads(paths["json"].read_text())
    if not report["rows"]:
        pytest.skip("cuda-sim unavailable here: " + "; ".join(report["notes"]))
    assert failures == []
    assert {r["impl"] for r in report["rows"]} == {"cuda-sim"}
    assert all(r["check"] == "pass" and "ms" not in r for r in report["rows"])
