"""Per-kernel benchmark: every op and direction, every implementation, side by side.

    python -m benchmarks.bench_kernels [--quick] [--op conv2d,batch_norm] [--impl numba,torch-cpu] [--out DIR]

For each case (op, direction, shape) and each implementation available here -- the NumPy
reference, the Numba kernels (the default, which is Winograd for kernels of twice the stride and
im2col+GEMM otherwise; for convolutions also the direct loops and the im2col path alone), the
CUDA RawKernels (CuPy + GPU), ``cuda-sim`` (``--cuda-sim``: correctness only) and PyTorch (CPU,
and CUDA when present) -- the output is first checked against the reference; a failed check is
reported on stderr, excluded from the table, and makes the exit status 1. Then the median time
of repeated calls after a warm-up is reported, with the rate (GFLOP/s for convolutions,
2·N·O·C·kH·kW·Ho·Wo flops per direction; GB/s of bytes read + written otherwise), the ratio to
PyTorch on the same device and the fraction of the ceiling measured at the start of the run.
"""

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.common import (DEFAULT_OUT, Column, bar_chart, environment, gpu_ceilings, machine_ceilings,
                               measure, write_report)
from minigan import reference

CHECK_RTOL = 2e-4  # max |out - ref| / max |ref|, float32


# ----------------------------------------------------------------------------- cases

@dataclass
class Case:
    """One measurement: ``run(k, a)`` calls kernels through ``k(name)`` on the arrays ``a``;
    ``torch_run(tf, t)`` builds a zero-argument closure from torch tensors ``t`` (``tf`` is a
    ``TorchOps``). Work is ``flops`` (convolutions) or ``nbytes`` moved (everything else)."""

    op: str
    direction: str
    shape: str
    arrays: dict
    run: object
    torch_run: object
    flops: float = None
    nbytes: float = None
    small: bool = False

    @property
    def label(self):
        return f"{self.op} {self.direction} {self.shape}"


@dataclass
class ConvShape:
    """A conv2d layer: input (n, c, h, w), o output channels, square kernel k, stride s, padding p."""

    name: str
    n: int
    c: int
    h: int
    w: int
    o: int
    k: int
    s: int = 1
    p: int = 0
    small: bool = False

    @property
    def out_hw(self):
        return tuple((size + 2 * self.p - self.k) // self.s + 1 for size in (self.h, self.w))

    @property
    def geometry(self):
        return dict(stride=(self.s, self.s), padding=(self.p, self.p), dilation=(1, 1))

    @property
    def flops(self):
        ho, wo = self.out_hw
        return 2.0 * self.n * self.o * self.c * self.k * self.k * ho * wo


# DCGAN discriminator layers on 64x64 and 32x32 images (batch 64), plus a small and a large case.
# The generator's transposed convolutions are the mirror: ConvT(C_in -> C_out) on h is the adjoint
# of Conv(C_out -> C_in) on 2h, so the same shapes serve both (see `transposed_cases`).
CONV_SHAPES = [
    ConvShape("D64-1 3→64 64²", 64, 3, 64, 64, 64, 4, 2, 1),
    ConvShape("D64-2 64→128 32²", 64, 64, 32, 32, 128, 4, 2, 1),
    ConvShape("D64-3 128→256 16²", 64, 128, 16, 16, 256, 4, 2, 1),
    ConvShape("D64-4 256→512 8²", 64, 256, 8, 8, 512, 4, 2, 1),
    ConvShape("D-last 512→1 4²", 64, 512, 4, 4, 1, 4, 1, 0),
    ConvShape("D32-1 3→64 32²", 64, 3, 32, 32, 64, 4, 2, 1),
    ConvShape("small 8→16 12x10 k3", 4, 8, 12, 10, 16, 3, 1, 1, small=True),
    ConvShape("large 128→128 32² k3", 32, 128, 32, 32, 128, 3, 1, 1),
]
# G's layers as ConvTranspose2d(C_in, C_out) on an h x h input: weight (C_in, C_out, k, k).
CONVT_SHAPES = [
    ConvShape("G64-1 100→512 1²", 64, 100, 1, 1, 512, 4, 1, 0),
    ConvShape("G64-2 512→256 4²", 64, 512, 4, 4, 256, 4, 2, 1),
    ConvShape("G64-3 256→128 8²", 64, 256, 8, 8, 128, 4, 2, 1),
    ConvShape("G64-4 128→64 16²", 64, 128, 16, 16, 64, 4, 2, 1),
    ConvShape("G64-5 64→3 32²", 64, 64, 32, 32, 3, 4, 2, 1),
    ConvShape("small 8→16 6x5 k3", 4, 8, 6, 5, 16, 3, 2, 1, small=True),
]
QUICK_CONV_SHAPES = [ConvShape("tiny 3→8 16² s2", 2, 3, 16, 16, 8, 4, 2, 1, small=True),
                     ConvShape("tiny 8→6 9x11 s2", 2, 8, 9, 11, 6, 4, 2, 1, small=True),   # Winograd by default
                     ConvShape("tiny 8→4 7x9 k3", 2, 8, 7, 9, 4, 3, 1, 1, small=True)]
QUICK_CONVT_SHAPES = [ConvShape("tiny 8→3 8² s2", 2, 8, 8, 8, 3, 4, 2, 1, small=True)]

# Elementwise and per-channel shapes: (name, shape, small).
ACTIVATION_SHAPES = [("D64-1 out (64,64,32,32)", (64, 64, 32, 32), False), ("small (4,8,12,10)", (4, 8, 12, 10), True)]
BN_SHAPES = [("D64-2 (64,128,16,16)", (64, 128, 256), False), ("G64-1 (64,512,4,4)", (64, 512, 16), False),
             ("small (4,8,6,5)", (4, 8, 30), True)]
LOSS_SHAPES = [("GAN logits (64,1)", (64, 1), True), ("AE 64x64 RGB (64,12288)", (64, 3 * 64 * 64), False)]
KL_SHAPES = [("z (64,100)", (64, 100), True)]
ADAM_SIZES = [("DCGAN64 D 2.77M", 2_765_568, False), ("small 4096", 4096, True)]
QUICK_ELEMENT_SHAPES = [("tiny (2,3,5,4)", (2, 3, 5, 4), True)]
QUICK_BN_SHAPES = [("tiny (2,3,20)", (2, 3, 20), True)]
QUICK_ADAM_SIZES = [("tiny 100", 100, True)]


def _randn(rng, shape):
    return rng.standard_normal(shape, dtype=np.float32)


def _bytes(*arrays):
    return float(sum(a.nbytes for a in arrays))


def conv_cases(shape, rng):
    """conv2d forward, backward-data and backward-weight on one layer shape."""
    geo, hw, khw = shape.geometry, (shape.h, shape.w), (shape.k, shape.k)
    a = dict(x=_randn(rng, (shape.n, shape.c, shape.h, shape.w)), w=_randn(rng, (shape.o, shape.c, shape.k, shape.k)),
             g=_randn(rng, (shape.n, shape.o) + shape.out_hw))
    a["b"] = _randn(rng, (shape.o,))
    common = dict(op="conv2d", shape=shape.name, arrays=a, flops=shape.flops, small=shape.small)
    return [
        Case(direction="forward", **common,
             run=lambda k, a: k("conv2d_forward")(a["x"], a["w"], a["b"], **geo),
             torch_run=lambda tf, t: lambda: tf.F.conv2d(t["x"], t["w"], t["b"], **geo)),
        Case(direction="backward-data", **common,
             run=lambda k, a: k("conv2d_backward_data")(a["g"], a["w"], hw, **geo),
             torch_run=lambda tf, t: tf.grad(lambda x, w: tf.F.conv2d(x, w, None, **geo), t, ["x"], "g", ["w"])),
        Case(direction="backward-weight", **common,
             run=lambda k, a: k("conv2d_backward_weight")(a["g"], a["x"], khw, **geo),
             torch_run=lambda tf, t: tf.grad(lambda x, w: tf.F.conv2d(x, w, None, **geo), t, ["w"], "g", ["x"])),
    ]


def conv_transpose_cases(shape, rng):
    """conv_transpose2d through the adjoint mapping of ``minigan.functional``: its forward is
    conv2d_backward_data, its backward-data conv2d_forward, its backward-weight
    conv2d_backward_weight(grad_y=x, x=grad_out)."""
    geo, khw = shape.geometry, (shape.k, shape.k)
    out_hw = tuple((size - 1) * shape.s - 2 * shape.p + shape.k for size in (shape.h, shape.w))
    a = dict(x=_randn(rng, (shape.n, shape.c, shape.h, shape.w)), w=_randn(rng, (shape.c, shape.o, shape.k, shape.k)),
             g=_randn(rng, (shape.n, shape.o) + out_hw))
    flops = 2.0 * shape.n * shape.c * shape.o * shape.k * shape.k * shape.h * shape.w
    common = dict(op="conv_transpose2d", shape=shape.name, arrays=a, flops=flops, small=shape.small)

    def forward(tf, x, w):
        return tf.F.conv_transpose2d(x, w, None, stride=shape.s, padding=shape.p)

    return [
        Case(direction="forward", **common,
             run=lambda k, a: k("conv2d_backward_data")(a["x"], a["w"], out_hw, **geo),
             torch_run=lambda tf, t: lambda: forward(tf, t["x"], t["w"])),
        Case(direction="backward-data", **common,
             run=lambda k, a: k("conv2d_forward")(a["g"], a["w"], None, **geo),
             torch_run=lambda tf, t: tf.grad(lambda x, w: forward(tf, x, w), t, ["x"], "g", ["w"])),
        Case(direction="backward-weight", **common,
             run=lambda k, a: k("conv2d_backward_weight")(a["x"], a["g"], khw, **geo),
             torch_run=lambda tf, t: tf.grad(lambda x, w: forward(tf, x, w), t, ["w"], "g", ["x"])),
    ]


def batch_norm_cases(name, shape, small, rng):
    """Training-mode batch norm on x viewed as (N, C, L)."""
    eps = 1e-5
    x = _randn(rng, shape) * 2 + 0.5
    c = shape[1]
    a = dict(x=x, w=1 + 0.1 * _randn(rng, (c,)), b=0.1 * _randn(rng, (c,)), g=_randn(rng, shape),
             mean=x.mean(axis=(0, 2)), var=x.var(axis=(0, 2)))

    def forward(tf, x, w, b):
        return tf.F.batch_norm(x, None, None, w, b, training=True, eps=eps)

    common = dict(op="batch_norm", shape=name, arrays=a, small=small)
    return [
        Case(direction="forward", nbytes=2 * _bytes(x), **common,
             run=lambda k, a: k("batch_norm_forward_train")(a["x"], a["w"], a["b"], eps),
             torch_run=lambda tf, t: lambda: forward(tf, t["x"], t["w"], t["b"])),
        Case(direction="backward", nbytes=3 * _bytes(x), **common,
             run=lambda k, a: k("batch_norm_backward_train")(a["g"], a["x"], a["mean"], a["var"], a["w"], eps),
             torch_run=lambda tf, t: tf.grad(lambda x, w, b: forward(tf, x, w, b), t, ["x", "w", "b"], "g")),
    ]


# name -> (kernel prefix, torch function, extra argument, backward takes the output y instead of x)
ACTIVATIONS = {
    "relu": ("relu", lambda F, x: F.relu(x), (), False),
    "leaky_relu": ("leaky_relu", lambda F, x: F.leaky_relu(x, 0.2), (0.2,), False),
    "tanh": ("tanh", lambda F, x: F.tanh(x), (), True),
    "sigmoid": ("sigmoid", lambda F, x: F.sigmoid(x), (), True),
}


def activation_cases(name, shape, small, rng):
    cases = []
    for op, (prefix, torch_fn, extra, uses_output) in ACTIVATIONS.items():
        x = _randn(rng, shape)
        a = dict(x=x, g=_randn(rng, shape))
        a["y"] = getattr(reference, f"{prefix}_forward")(x, *extra)
        saved = "y" if uses_output else "x"
        common = dict(op=op, shape=name, arrays=a, small=small)
        cases += [
            Case(direction="forward", nbytes=2 * _bytes(x), **common,
                 run=lambda k, a, p=prefix, e=extra: k(f"{p}_forward")(a["x"], *e),
                 torch_run=lambda tf, t, f=torch_fn: lambda: f(tf.F, t["x"])),
            Case(direction="backward", nbytes=3 * _bytes(x), **common,
                 run=lambda k, a, p=prefix, e=extra, s=saved: k(f"{p}_backward")(a["g"], a[s], *e),
                 torch_run=lambda tf, t, f=torch_fn: tf.grad(lambda x: f(tf.F, x), t, ["x"], "g")),
        ]
    return cases


def _kl(F, mu, logvar):
    return -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()


# name -> (kernel prefix, torch loss of (F, input, target), how to draw the input, reduction)
LOSSES = {
    "bce": ("bce", lambda F, p, t: F.binary_cross_entropy(p, t), "probability", "mean"),
    "bce_with_logits": ("bce_with_logits", lambda F, z, t: F.binary_cross_entropy_with_logits(z, t), "normal", "mean"),
    "mse": ("mse", lambda F, x, t: F.mse_loss(x, t), "normal", "mean"),
    "kl_normal": ("kl_normal", _kl, "normal", "sum"),
}


def loss_cases(name, shape, small, rng, ops):
    cases = []
    for op in ops:
        prefix, torch_fn, draw, reduction = LOSSES[op]
        x = _randn(rng, shape)
        if draw == "probability":
            x = (1 / (1 + np.exp(-x))).astype(np.float32)
        target = rng.uniform(0, 1, shape).astype(np.float32) if op != "kl_normal" else _randn(rng, shape)
        a = dict(x=x, target=target, g=np.array(1.0, dtype=np.float32))
        wrt = ["x", "target"] if op == "kl_normal" else ["x"]  # KL's second input is logvar, also differentiated
        common = dict(op=op, shape=name, arrays=a, small=small)
        cases += [
            Case(direction="forward", nbytes=2 * _bytes(x), **common,
                 run=lambda k, a, p=prefix, r=reduction: k(f"{p}_forward")(a["x"], a["target"], r),
                 torch_run=lambda tf, t, f=torch_fn: lambda: f(tf.F, t["x"], t["target"])),
            Case(direction="backward", nbytes=(2 + len(wrt)) * _bytes(x), **common,
                 run=lambda k, a, p=prefix, r=reduction: k(f"{p}_backward")(a["g"], a["x"], a["target"], r),
                 torch_run=lambda tf, t, f=torch_fn, w=wrt: tf.grad(lambda x, target: f(tf.F, x, target), t, w, "g",
                                                                   [n for n in ("x", "target") if n not in w])),
        ]
    return cases


def adam_cases(name, size, small, rng):
    """One Adam update, in place, at step 10 (weight decay 0): reads p, g, m, v; writes p, m, v."""
    a = dict(p=_randn(rng, (size,)), g=_randn(rng, (size,)), m=0.1 * _randn(rng, (size,)),
             v=rng.uniform(0.01, 1, size).astype(np.float32))
    hyper = dict(lr=1e-3, beta1=0.5, beta2=0.999, eps=1e-8, weight_decay=0.0)

    def run(k, a):
        k("adam_step")(a["p"], a["g"], a["m"], a["v"], 10, **hyper)
        return a["p"]

    return [Case(op="adam", direction="step", shape=name, arrays=a, small=small, nbytes=7 * _bytes(a["p"]),
                 run=run, torch_run=lambda tf, t: tf.adam(t, step=10, **hyper))]


def build_cases(quick, ops=None):
    rng = np.random.default_rng(0)
    conv = QUICK_CONV_SHAPES if quick else CONV_SHAPES
    convt = QUICK_CONVT_SHAPES if quick else CONVT_SHAPES
    elementwise = QUICK_ELEMENT_SHAPES if quick else ACTIVATION_SHAPES
    bn = QUICK_BN_SHAPES if quick else BN_SHAPES
    losses = QUICK_ELEMENT_SHAPES if quick else LOSS_SHAPES
    kl = QUICK_ELEMENT_SHAPES if quick else KL_SHAPES
    adam = QUICK_ADAM_SIZES if quick else ADAM_SIZES
    cases = [c for s in conv for c in conv_cases(s, rng)]
    cases += [c for s in convt for c in conv_transpose_cases(s, rng)]
    cases += [c for s in bn for c in batch_norm_cases(*s, rng)]
    cases += [c for s in elementwise for c in activation_cases(*s, rng)]
    cases += [c for s in losses for c in loss_cases(*s, rng, ["bce", "bce_with_logits", "mse"])]
    cases += [c for s in kl for c in loss_cases(*s, rng, ["kl_normal"])]
    cases += [c for s in adam for c in adam_cases(*s, rng)]
    return [c for c in cases if ops is None or c.op in ops]


# ----------------------------------------------------------------------------- implementations

class TorchOps:
    """What the torch side of a case needs: ``F``, autograd-based backward closures, Adam."""

    def __init__(self, torch):
        self.torch = torch
        self.F = torch.nn.functional

    def grad(self, forward, tensors, wrt, grad_name, others=()):
        """A closure returning d(forward)/d(wrt) · tensors[grad_name] by autograd on one recorded
        graph (``retain_graph``), so only the backward is timed. Inputs named in ``wrt`` require
        gradients, ``others`` don't (torch then skips their gradient, as minigan's kernels do)."""
        leaves = {n: tensors[n].detach().requires_grad_(n in wrt) for n in list(wrt) + list(others)}
        out = forward(**leaves)
        inputs, grad = [leaves[n] for n in wrt], tensors[grad_name]
        return lambda: self.torch.autograd.grad(out, inputs, grad, retain_graph=True)

    def adam(self, t, step, lr, beta1, beta2, eps, weight_decay):
        """torch's functional Adam (what ``torch.optim.Adam`` runs, default implementation) on one parameter."""
        from torch.optim.adam import adam
        steps = [self.torch.tensor(float(step - 1))]

        def run():
            steps[0].fill_(step - 1)
            adam([t["p"]], [t["g"]], [t["m"]], [t["v"]], [], steps, amsgrad=False, beta1=beta1, beta2=beta2,
                 lr=lr, weight_decay=weight_decay, eps=eps, maximize=False)
            return t["p"]
        return run


@dataclass
class Impl:
    """An implementation: a minigan kernel set (``kernels``, name suffix) or torch on a device."""

    name: str
    device: str
    kernels: object = None
    suffix: str = ""
    torch: object = None
    correctness_only: bool = False
    to_array: object = np.copy
    to_numpy: object = np.asarray
    sync: object = None
    missing: set = field(default_factory=set)

    def prepare(self, case):
        """A zero-argument closure running the case on fresh copies of its inputs. Calling it
        raises ``NoKernel`` when this kernel set lacks a kernel the case needs."""
        arrays = {k: self.to_array(v) for k, v in case.arrays.items()}
        if self.torch is not None:
            return case.torch_run(TorchOps(self.torch), arrays)
        return lambda: case.run(self.kernel, arrays)

    def kernel(self, name):
        """The kernel ``name`` (+ suffix) of this set; ``NoKernel`` says whether it is simply not
        offered in this variant (a direct loop exists only for the convolutions) or missing."""
        found = getattr(self.kernels, name + self.suffix, None)
        if found is None:
            raise NoKernel(name + self.suffix, missing=not self.suffix or not hasattr(self.kernels, name))
        return found


class NoKernel(Exception):
    def __init__(self, name, missing):
        super().__init__(name)
        self.name, self.missing = name, missing


def available_impls(names, cuda_sim):
    """Every implementation this machine can run, filtered by ``names`` (None: all), and notes
    on the ones that are unavailable."""
    import minigan.kernels as numba_kernels

    impls, notes = [Impl("reference", "cpu", reference), Impl("numba-direct", "cpu", numba_kernels, "_direct"),
                    Impl("numba-im2col", "cpu", numba_kernels, "_im2col"), Impl("numba", "cpu", numba_kernels)], []
    try:
        from minigan.backend import require_cupy
        cupy = require_cupy()
        from minigan import cuda_kernels
        impls.append(Impl("cuda", "cuda", cuda_kernels.kernel_set("cuda"), to_array=cupy.asarray,
                          to_numpy=cupy.asnumpy, sync=cupy.cuda.get_current_stream().synchronize))
    except (ImportError, RuntimeError) as exc:
        notes.append(f"cuda: unavailable ({' '.join(str(exc).split())})")  # the whole reason, on one line
    if cuda_sim:
        try:
            from minigan import cuda_kernels
            impls.append(Impl("cuda-sim", "cpu", cuda_kernels.kernel_set("cuda-sim"), correctness_only=True))
        except (ImportError, RuntimeError) as exc:
            notes.append(f"cuda-sim: unavailable ({exc})")
    try:
        import torch
        impls.append(Impl("torch-cpu", "cpu", torch=torch, to_array=lambda a: torch.from_numpy(np.copy(a)),
                          to_numpy=_torch_numpy))
        if torch.cuda.is_available():
            # float32 as minigan's CUDA kernels compute it: PyTorch's cuDNN convolutions default to TF32
            # on Ampere and later (10-bit mantissas: relative errors ~3e-4, failing the check)
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            impls.append(Impl("torch-cuda", "cuda", torch=torch,
                              to_array=lambda a: torch.from_numpy(np.copy(a)).cuda(), to_numpy=_torch_numpy,
                              sync=torch.cuda.synchronize))
    except ImportError:
        notes.append("torch: not installed, no PyTorch comparison")
    return [i for i in impls if names is None or i.name in names], notes


def _torch_numpy(t):
    return t.detach().cpu().numpy()


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def check(impl, out, expected):
    """The largest error relative to the reference's largest magnitude, over the outputs both give
    (torch's twin may return a prefix: e.g. batch norm's y without the batch statistics)."""
    out = [np.asarray(impl.to_numpy(o), dtype=np.float64) for o in _as_list(out)]
    if len(out) > len(expected):
        raise ValueError(f"{impl.name} returned {len(out)} outputs, the reference {len(expected)}")
    worst = 0.0
    for got, ref in zip(out, expected):
        if got.shape != ref.shape:
            return float("inf")
        scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-30)
        worst = max(worst, float(np.max(np.abs(got - ref))) / scale if ref.size else 0.0)
    return worst


# ----------------------------------------------------------------------------- the run

def run_benchmark(quick=False, ops=None, impl_names=None, cuda_sim=False, repeats=None, out_dir=DEFAULT_OUT,
                  plot=True):
    """Check and time every case with every implementation; write the report. Returns the report
    paths and the list of failed checks."""
    repeats = repeats or (2 if quick else 5)
    min_sample = 0.0 if quick else 0.05
    budget = None if quick else 4.0  # seconds per measurement: the slow loops get fewer samples
    env, ceilings = environment(), machine_ceilings(quick)
    impls, notes = available_impls(impl_names, cuda_sim)
    if any(impl.device == "cuda" for impl in impls):
        from minigan.backend import require_cupy
        ceilings["cuda"] = gpu_ceilings(require_cupy(), quick)
    rows, failures = [], []
    for case in build_cases(quick, ops):
        expected = [np.asarray(o, dtype=np.float64) for o in _as_list(Impl("ref", "cpu", reference).prepare(case)())]
        case_rows = []
        for impl in impls:
            if impl.correctness_only and not case.small:
                continue
            try:
                error = check(impl, impl.prepare(case)(), expected)
            except NoKernel as exc:
                if exc.missing:
                    impl.missing.add(exc.name)
                continue
            if not error <= CHECK_RTOL:
                failures.append(dict(case=case.label, impl=impl.name, relative_error=error))
                print(f"CHECK FAILED: {impl.name} on {case.label}: relative error {error:.3g} "
                      f"> {CHECK_RTOL}", file=sys.stderr)
                continue
            row = dict(op=case.op, direction=case.direction, shape=case.shape, impl=impl.name, device=impl.device,
                       check="pass", relative_error=error)
            if not impl.correctness_only:
                timing = measure(impl.prepare(case), repeats, warmup=0, min_sample=min_sample, budget=budget,
                                 sync=impl.sync)  # the check above was the warm-up (JIT, first-call setup)
                row.update(ms=timing.median * 1e3, best_ms=timing.best * 1e3, calls_per_sample=timing.number)
                row.update(_rates(case, timing.median, ceilings["cuda"] if impl.device == "cuda" else ceilings))
            case_rows.append(row)
        _add_torch_ratio(case_rows)
        rows += case_rows
        print(f"  {case.label}: " + ", ".join(f"{r['impl']} " + (f"{r['ms']:.3g} ms" if "ms" in r else "checked")
                                              for r in case_rows),
              file=sys.stderr, flush=True)
    for impl in impls:
        if impl.missing:
            notes.append(f"{impl.name}: no kernel named {', '.join(sorted(impl.missing))} (skipped)")
    notes = [f"- {n}" for n in notes]
    if failures:
        notes.append("**FAILED correctness checks (excluded above):** " +
                     "; ".join(f"{f['impl']} on {f['case']} (error {f['relative_error']:.3g})" for f in failures))
    title = "minigan kernels" + (" (quick smoke run: tiny shapes, not representative)" if quick else "")
    paths = write_report(out_dir, "bench_kernels", title, env, ceilings, rows, COLUMNS, notes,
                         extra=dict(failures=failures, check_rtol=CHECK_RTOL, quick=quick))
    if plot and rows:
        paths["png"] = plot_rows(rows, Path(out_dir) / "bench_kernels.png")
    return paths, failures


COLUMNS = [Column("op", "op"), Column("direction", "direction"), Column("shape", "shape"), Column("impl", "impl"),
           Column("ms", "median ms", "{:.3f}"), Column("gflops", "GFLOP/s", "{:.1f}"), Column("gbs", "GB/s", "{:.1f}"),
           Column("ceiling_pct", "% ceiling", "{:.1f}"), Column("vs_torch", "× torch time", "{:.2f}"),
           Column("check", "check")]


def _rates(case, seconds, ceilings):
    """GFLOP/s or GB/s, and its percentage of the ceiling of the device the implementation ran on."""
    if case.flops:
        rate = case.flops / seconds / 1e9
        return dict(gflops=rate, ceiling_pct=100 * rate / ceilings["gemm_gflops"])
    rate = case.nbytes / seconds / 1e9
    return dict(gbs=rate, ceiling_pct=100 * rate / ceilings["copy_gbs"])


def _add_torch_ratio(rows):
    """vs_torch = this time / torch's time on the same device (> 1: slower than torch)."""
    torch_ms = {r["device"]: r["ms"] for r in rows if r["impl"].startswith("torch") and "ms" in r}
    for r in rows:
        if "ms" in r and r["device"] in torch_ms:
            r["vs_torch"] = r["ms"] / torch_ms[r["device"]]


def plot_rows(rows, path):
    timed = [r for r in rows if "ms" in r]
    groups = list(dict.fromkeys(f"{r['op']} {r['direction']} {r['shape']}" for r in timed))
    impls = list(dict.fromkeys(r["impl"] for r in timed))
    value = {(f"{r['op']} {r['direction']} {r['shape']}", r["impl"]): r["ceiling_pct"] for r in timed}
    series = {i: [value.get((g, i)) for g in groups] for i in impls}
    return bar_chart(path, groups, series, "% of the machine's ceiling (GEMM GFLOP/s or copy GB/s), log scale",
                     "minigan kernels vs PyTorch", log=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_kernels", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return parser.parse_args(argv)


def add_arguments(parser):
    parser.add_argument("--quick", "--smoke", action="store_true", help="tiny shapes, 2 repeats: proves the harness")
    parser.add_argument("--op", help="comma-separated ops (conv2d, conv_transpose2d, batch_norm, relu, ..., adam)")
    parser.add_argument("--impl", help="comma-separated implementations (reference, numba-direct, numba-im2col, numba, "
                                       "cuda, cuda-sim, torch-cpu, torch-cuda)")
    parser.add_argument("--cuda-sim", action="store_true", help="also check the CUDA C kernels run on the CPU "
                                                                "(correctness only, small shapes)")
    parser.add_argument("--repeats", type=int, help="timed samples per measurement (default 5, quick 2)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="directory for the md/json/csv/png results")
    parser.add_argument("--no-plot", action="store_true")
    parser.set_defaults(run=main_from_args)


def main_from_args(args):
    split = lambda s: None if s is None else [p.strip() for p in s.split(",")]  # noqa: E731
    _, failures = run_benchmark(args.quick, split(args.op), split(args.impl), args.cuda_sim, args.repeats, args.out,
                                plot=not args.no_plot)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main_from_args(parse_args()))
