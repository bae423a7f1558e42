"""What both benchmarks share: one timing helper, the machine's ceilings, the environment report,
and one writer for tables (markdown on stdout, JSON, CSV) and bar charts (PNG)."""

import csv
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results"


# ----------------------------------------------------------------------------- timing

@dataclass
class Timing:
    """Seconds per call: the median and the best sample, every sample, and the calls per sample."""

    median: float
    best: float
    samples: list
    number: int


def measure(fn, repeats=5, warmup=1, min_sample=0.0, budget=None, sync=None):
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` samples of ``number`` calls each,
    ``number`` chosen so that one sample lasts at least ``min_sample`` seconds (short ops are
    looped so the clock's resolution and the call overhead don't dominate). With a ``budget``
    (seconds), slow functions get fewer samples (at least one). ``sync`` (e.g. a CUDA stream
    synchronize) runs before the clock is read."""
    sync = sync or (lambda: None)

    def sample(number):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        sync()
        return (time.perf_counter() - start) / number

    for _ in range(warmup):
        fn()
    sync()
    first = sample(1)
    if budget is not None:
        repeats = max(1, min(repeats, int(budget / max(first, 1e-9))))
    number = 1 if first >= min_sample else min(1000, math.ceil(min_sample / max(first, 1e-9)))
    samples = [first] if number == 1 else []
    samples += [sample(number) for _ in range(repeats - len(samples))]
    return Timing(statistics.median(samples), min(samples), samples, number)


# ----------------------------------------------------------------------------- machine ceilings

def gemm_gflops(n=2048, repeats=3):
    """Best float32 GEMM rate of NumPy's BLAS on (n, n) @ (n, n), in GFLOP/s (2·n³ flops)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c = np.empty_like(a)
    return 2.0 * n ** 3 / measure(lambda: np.matmul(a, b, out=c), repeats).best / 1e9


def copy_gbs(megabytes=128, repeats=5):
    """Best memory copy rate in GB/s (bytes read + bytes written) on a float32 array of ``megabytes``."""
    src = np.ones(megabytes * 2 ** 20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    return 2.0 * src.nbytes / measure(lambda: np.copyto(dst, src), repeats).best / 1e9


def gpu_ceilings(cupy, quick=False):
    """The GPU's float32 GEMM rate (cuBLAS through CuPy, no TF32) and device-to-device copy rate,
    measured now: the denominators of the CUDA rows' '% of ceiling'."""
    n, megabytes = (1024, 64) if quick else (8192, 1024)
    sync = cupy.cuda.get_current_stream().synchronize
    a, b = (cupy.asarray(np.random.default_rng(i).standard_normal((n, n), dtype=np.float32)) for i in range(2))
    c = cupy.empty_like(a)
    gemm = 2.0 * n ** 3 / measure(lambda: cupy.matmul(a, b, out=c), 3, sync=sync).best / 1e9
    src = cupy.ones(megabytes * 2 ** 20 // 4, dtype=cupy.float32)
    dst = cupy.empty_like(src)
    copy = 2.0 * src.nbytes / measure(lambda: cupy.copyto(dst, src), 5, sync=sync).best / 1e9
    name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    return {"device": name.decode() if isinstance(name, bytes) else str(name), "gemm_n": n, "gemm_gflops": gemm,
            "copy_mb": megabytes, "copy_gbs": copy}


def openblas_environment():
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("OPENBLAS")}


def machine_ceilings(quick=False):
    """The float32 GEMM and copy rates measured now, the denominators of every '% of ceiling'.

    When OPENBLAS_* variables are set, the GEMM rate is also measured in a subprocess without
    them, and both are reported (the benchmark never changes them in this process)."""
    n, megabytes = (512, 16) if quick else (2048, 128)
    ceilings = {"gemm_n": n, "gemm_gflops": gemm_gflops(n), "copy_mb": megabytes, "copy_gbs": copy_gbs(megabytes)}
    if openblas_environment():
        clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS")}
        code = f"from benchmarks.common import gemm_gflops; print(gemm_gflops({n}))"
        result = subprocess.run([sys.executable, "-c", code], env=clean, cwd=REPO_ROOT, capture_output=True,
                                text=True, check=True)
        ceilings["gemm_gflops_without_openblas_env"] = float(result.stdout.strip())
    return ceilings


# ----------------------------------------------------------------------------- environment

def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _blas_libraries():
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries (NumPy's BLAS is loaded by then)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl not installed"}]
    keys = ("user_api", "internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: lib.get(k) for k in keys} | {"library": os.path.basename(lib.get("filepath", ""))}
            for lib in threadpool_info()]


def _numba_threading_layer():
    """The layer Numba's parallel loops run on (omp, tbb, workqueue): known once its pool has started,
    so one parallel-sized pass starts it."""
    import numba

    from minigan.kernels import relu_forward
    from minigan.kernels.parallel import PARALLEL_MIN_ELEMENTS

    relu_forward(np.ones(PARALLEL_MIN_ELEMENTS, np.float32))
    return numba.threading_layer()


def environment():
    """Everything that decides the numbers: CPU, thread counts, BLAS and its core type, versions."""
    import numba

    import minigan  # noqa: F401  (sets OMP_WAIT_POLICY / GOMP_SPINCOUNT unless the user chose them)

    env = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "blas": _blas_libraries(),
        "openblas_env": openblas_environment(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"),
        "numba_threading_layer": _numba_threading_layer(),
        "git_commit": _git_commit(),
    }
    try:
        import torch
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    except ImportError:
        env["torch"] = None
    return env


def _describe_library(lib):
    if "note" in lib:
        return lib["note"]
    details = [lib["user_api"]] + [f"{label} {lib[key]}" for key, label in
                                   (("architecture", "core type"), ("num_threads", "threads"),
                                    ("threading_layer", "threading")) if lib.get(key) is not None]
    return f"{lib['internal_api']} {lib.get('version') or ''} ({', '.join(details)}; {lib['library']})"


def environment_markdown(env, ceilings):
    """The report header: one bullet per fact a reader needs to interpret the numbers."""
    blas = "; ".join(_describe_library(b) for b in env["blas"]) or "none found by threadpoolctl"
    openblas = ", ".join(f"{k}={v}" for k, v in env["openblas_env"].items()) or "none set"
    gemm = f"{ceilings['gemm_gflops']:.1f} GFLOP/s (float32 {ceilings['gemm_n']}³ NumPy matmul)"
    if "gemm_gflops_without_openblas_env" in ceilings:
        gemm += f"; {ceilings['gemm_gflops_without_openblas_env']:.1f} GFLOP/s without the OPENBLAS_* variables"
    lines = [
        f"- date: {env['date_utc']}, commit {env['git_commit']}",
        f"- CPU: {env['cpu_model']}, {env['usable_cpus']} usable of {env['logical_cpus']} logical CPUs, "
        f"1-min load average at start {env['load_average_1m']}",
        f"- BLAS: {blas}",
        f"- OPENBLAS_* environment: {openblas}",
        f"- threads: numba {env['numba_threads']} ({env.get('numba_threading_layer')} layer), torch "
        f"{env.get('torch_threads', '—')}; OMP_WAIT_POLICY={env['omp_wait_policy']}, GOMP_SPINCOUNT="
        f"{env.get('gomp_spincount')} (set by `import minigan` unless already set; torch's OpenMP, loaded "
        "after it here, runs with them too)",
        f"- versions: python {env['python']}, numpy {env['numpy']}, numba {env['numba']}, torch {env['torch']}",
        f"- ceilings measured at the start of this run: GEMM {gemm}; copy {ceilings['copy_gbs']:.1f} GB/s "
        f"(read + write, {ceilings['copy_mb']} MB)",
    ]
    if "cuda" in ceilings:
        gpu = ceilings["cuda"]
        lines.append(f"- GPU: {gpu['device']}; ceilings of the CUDA rows, measured at the start of this run: GEMM "
                     f"{gpu['gemm_gflops']:.1f} GFLOP/s (float32 {gpu['gemm_n']}³ cuBLAS through CuPy, no TF32); "
                     f"copy {gpu['copy_gbs']:.1f} GB/s (device to device, read + write, {gpu['copy_mb']} MB)")
    if env["load_average_1m"] and env["load_average_1m"] > 0.5 * env["usable_cpus"]:
        lines.append("- **the machine was shared and loaded while this ran: absolute numbers are noisy; "
                     "ratios measured side by side are the meaningful part**")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- writers

@dataclass
class Column:
    """One table column: the row key, its header, and the format of its values."""

    key: str
    header: str
    fmt: str = "{}"

    def cell(self, row):
        value = row.get(self.key)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "—"
        return self.fmt.format(value)


def markdown_table(rows, columns):
    lines = ["| " + " | ".join(c.header for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(c.cell(row) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_report(out_dir, stem, title, env, ceilings, rows, columns, notes=(), extra=None):
    """Print the markdown report and write ``stem``.md/.json/.csv under ``out_dir``; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = "\n\n".join([f"## {title}", environment_markdown(env, ceilings), markdown_table(rows, columns),
                            *notes]) + "\n"
    print(markdown)
    paths = {"md": out_dir / f"{stem}.md", "json": out_dir / f"{stem}.json", "csv": out_dir / f"{stem}.csv"}
    paths["md"].write_text(markdown)
    report = {"title": title, "environment": env, "ceilings": ceilings, "rows": rows, "notes": list(notes)}
    paths["json"].write_text(json.dumps(report | (extra or {}), indent=1, default=_jsonable))
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    return paths


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def bar_chart(path, groups, series, xlabel, title, log=False):
    """Horizontal grouped bars: ``series`` maps a name to one value per group (None: no bar)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(series)
    height = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.22 * len(groups) * max(1, len(names)) ** 0.7))
    for k, name in enumerate(names):
        ys = [i + (k - (len(names) - 1) / 2) * height for i in range(len(groups))]
        values = [np.nan if v is None else v for v in series[name]]
        ax.barh(ys, values, height=height, label=name)
    ax.set_yticks(range(len(groups)))
    ax.set_yticklabels(groups, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    if log:
        ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
