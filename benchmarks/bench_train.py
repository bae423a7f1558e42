"""Training-step benchmark: minigan vs the same model in PyTorch, side by side.

    python -m benchmarks.bench_train [--quick] [--model dcgan64,vae] [--steps 5] [--profile] [--memory]

For each model, minigan's model is built, its PyTorch twin gets the same weights
(``benchmarks.torch_models``), and both run the same step on the same batch with Adam. A GAN
step is a discriminator update on real + fake images followed by a generator update; a WGAN-GP
critic step is one update of a critic without batch norm on ``E[D(x̃)] - E[D(x)] + λ·GP``, the
gradient penalty taken with ``grad(..., create_graph=True)`` (a gradient of a gradient); an AE step
minimises MSE(x̂, x); a VAE step minimises BCE(x̂, x) + KL, both summed per image. The two
frameworks alternate step by step (A/B/A/B, the order flipping every round) in one process, so
a change in machine load hits both; the ratio is the median of the per-round ratios.

``--device cuda`` runs both frameworks on the GPU (CuPy RawKernels and cuBLAS against PyTorch's
CUDA kernels, TF32 off); the report adds the GPU's GEMM and copy ceilings.

``--profile`` shows where minigan's step time goes (per op, forward vs backward, per kernel).
``--memory`` measures the peak memory of a DCGAN step (tracemalloc for minigan; the growth of
the resident set in a fresh subprocess per framework, since torch's allocator is invisible to
tracemalloc) and checks that minigan's memory stays flat over many steps.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import (DEFAULT_OUT, REPO_ROOT, Column, bar_chart, environment, gpu_ceilings,
                               machine_ceilings, markdown_table, write_report)

import minigan as mg
from minigan import functional as F
from minigan import models, optim


# ----------------------------------------------------------------------------- models and steps

@dataclass
class ModelSpec:
    """A benchmarked model: how to build it, what its step trains, its batch and image shape."""

    name: str
    kind: str  # 'gan' | 'wgan_gp' | 'ae' | 'vae'
    build: object
    batch: int
    image: tuple


def _specs(quick):
    batch = 8 if quick else 64
    size, width = (16, 8) if quick else (64, 64)
    return {
        "mlp_gan": ModelSpec("mlp_gan", "gan", lambda: models.MLPGAN(image_shape=(1, 32, 32), nz=64), batch, (1, 32, 32)),
        "dcgan32": ModelSpec("dcgan32", "gan", lambda: models.DCGAN(image_size=min(size, 32), channels=3, nz=100,
                                                                    ngf=width, ndf=width), batch,
                             (3, min(size, 32), min(size, 32))),
        "dcgan64": ModelSpec("dcgan64", "gan", lambda: models.DCGAN(image_size=size, channels=3, nz=100, ngf=width,
                                                                    ndf=width), batch, (3, size, size)),
        "wgan_gp64": ModelSpec("wgan_gp64", "wgan_gp", lambda: models.DCGAN(image_size=size, channels=3, nz=100,
                                                                          ngf=width, ndf=width, d_norm="none"),
                               batch, (3, size, size)),
        "conv_ae": ModelSpec("conv_ae", "ae", lambda: models.ConvAE(image_size=32, channels=1, latent_dim=32,
                                                                    nf=32 if not quick else 8), batch, (1, 32, 32)),
        "vae": ModelSpec("vae", "vae", lambda: models.VAE(image_shape=(1, 32, 32), latent_dim=16), batch, (1, 32, 32)),
    }


class Framework:
    """The handful of calls a step makes, for minigan or torch (their APIs mirror each other), on
    ``device`` ('cpu' or 'cuda')."""

    def __init__(self, name, device="cpu"):
        self.name, self.device = name, device
        if name == "minigan":
            self.F, self.Adam, self.grad = F, optim.Adam, mg.autograd.grad
            self.tensor = lambda array: mg.tensor(array, device=device)
            self.kl = F.kl_normal
        else:
            import torch
            self.F, self.Adam, self.grad = torch.nn.functional, torch.optim.Adam, torch.autograd.grad
            self.tensor = lambda array: torch.from_numpy(array).to(device)
            self.kl = lambda mu, logvar: -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()


class Trainer:
    """One framework's model, optimizers and fixed batch; ``step()`` runs one training step."""

    def __init__(self, fw, spec, model, rng):
        self.fw, self.spec, self.model = fw, spec, model
        n = spec.batch
        if spec.kind == "gan":
            lr, betas = 2e-4, (0.5, 0.999)
            self.opt_d = fw.Adam(model.discriminator.parameters(), lr=lr, betas=betas)
            self.opt_g = fw.Adam(model.generator.parameters(), lr=lr, betas=betas)
            real = rng.uniform(-1, 1, (n, *spec.image)).astype(np.float32)
            self.inputs = dict(real=real, z=rng.standard_normal((n, model.nz), dtype=np.float32),
                               ones=np.ones((n, 1), np.float32), zeros=np.zeros((n, 1), np.float32))
        elif spec.kind == "wgan_gp":  # Gulrajani et al.'s Adam; fakes as a fixed batch (a critic step does not run G)
            self.opt_d = fw.Adam(model.discriminator.parameters(), lr=1e-4, betas=(0.0, 0.9))
            self.inputs = dict(real=rng.uniform(-1, 1, (n, *spec.image)).astype(np.float32),
                               fake=rng.uniform(-1, 1, (n, *spec.image)).astype(np.float32),
                               eps=rng.uniform(0, 1, (n, 1, 1, 1)).astype(np.float32))
        else:
            self.opt = fw.Adam(model.parameters(), lr=1e-3)
            self.inputs = dict(x=rng.uniform(0, 1, (n, *spec.image)).astype(np.float32))
            if spec.kind == "vae":
                self.inputs["eps"] = rng.standard_normal((n, model.latent_dim), dtype=np.float32)
        self.inputs = {k: fw.tensor(v) for k, v in self.inputs.items()}

    def step(self):
        """One training step; returns its loss values as floats."""
        return getattr(self, f"_{self.spec.kind}_step")(**self.inputs)

    def _gan_step(self, real, z, ones, zeros):
        bce, gen, disc = self.fw.F.binary_cross_entropy_with_logits, self.model.generator, self.model.discriminator
        fake = gen(z)
        loss_d = bce(disc(real), ones) + bce(disc(fake.detach()), zeros)
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        loss_g = bce(disc(fake), ones)
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        return loss_d.item(), loss_g.item()

    def _wgan_gp_step(self, real, fake, eps, gp_lambda=10.0):
        """One Adam step on ``E[D(fake)] - E[D(real)] + λ·mean((‖∇D(x̂)‖₂ - 1)²)``,
        ``x̂ = eps·real + (1 - eps)·fake``."""
        critic = self.model.discriminator
        x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_()
        g = self.fw.grad(critic(x_hat).sum(), x_hat, create_graph=True)[0]
        penalty = ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss = critic(fake).mean() - critic(real).mean() + gp_lambda * penalty
        self.opt_d.zero_grad()
        loss.backward()
        self.opt_d.step()
        return loss.item(), penalty.item()

    def _ae_step(self, x):
        loss = self.fw.F.mse_loss(self.model.decoder(self.model.encoder(x)), x)
        return self._update(loss)

    def _vae_step(self, x, eps):
        latent = self.model.latent_dim
        h = self.model.encoder(x)
        mu, logvar = h[:, :latent], h[:, latent:]
        x_hat = self.model.decoder(mu + (logvar * 0.5).exp() * eps)
        loss = (self.fw.F.binary_cross_entropy(x_hat, x, reduction="sum") + self.fw.kl(mu, logvar)) * (1 / x.shape[0])
        return self._update(loss)

    def _update(self, loss):
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return (loss.item(),)


def make_trainers(spec, with_torch=True, seed=0, device="cpu"):
    """minigan's trainer and, if asked, the torch twin's, from the same weights and the same batch,
    on ``device``. The twins are compared on the CPU before they move. On 'cuda' both read a loss
    back at the end of every step (``.item()``), which waits for the step's GPU work to finish, and
    PyTorch runs without TF32 (as minigan's float32 kernels)."""
    mg.manual_seed(seed)
    model = spec.build()
    twin = None
    if with_torch:
        from benchmarks.torch_models import max_output_difference, to_torch
        twin = to_torch(model)
        probe = next(m for m in (getattr(model, "discriminator", None), getattr(model, "encoder", None)) if m)
        sample = np.random.default_rng(1).uniform(-1, 1, (4, *spec.image)).astype(np.float32)
        difference = max_output_difference(probe, getattr(twin, "discriminator", None) or twin.encoder, sample)
        if not difference < 1e-4:
            raise RuntimeError(f"{spec.name}: the torch twin differs from the minigan model (relative {difference:.3g})")
    trainers = {"minigan": Trainer(Framework("minigan", device), spec, model.to(device), np.random.default_rng(seed))}
    if twin is not None:
        if device == "cuda":
            import torch
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        trainers["torch"] = Trainer(Framework("torch", device), spec, twin.to(device), np.random.default_rng(seed))
    return trainers


# ----------------------------------------------------------------------------- timing

def time_interleaved(trainers, rounds, warmup=1):
    """Seconds per step of each trainer, alternating A/B/A/B (order flipped every round), and
    the per-round ratios minigan / torch."""
    names = list(trainers)
    for _ in range(warmup):
        for name in names:
            trainers[name].step()
    seconds = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            trainers[name].step()
            seconds[name].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(seconds["minigan"], seconds.get("torch", []))]
    return seconds, ratios


def time_child(framework, model_name, quick, steps, device="cpu"):
    """In a child process: seconds of ``steps`` steps of one framework alone (after 1 warm-up step)."""
    trainers = make_trainers(_specs(quick)[model_name], with_torch=framework == "torch", device=device)
    trainer = trainers[framework]
    trainer.step()
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.step()
        seconds.append(time.perf_counter() - start)
    return seconds


def time_isolated(model_name, quick, rounds, with_torch, device="cpu"):
    """Like ``time_interleaved``, but each framework runs in fresh processes of its own, A/B/A/B
    (order flipped every round, ``rounds`` processes each), so neither framework's thread pools
    (both use OpenMP, and torch ships its own libgomp) run in the other's process. Each process
    times 3 steps after a warm-up step; the per-round ratio compares the two processes' medians."""
    names = ["minigan", "torch"] if with_torch else ["minigan"]
    seconds, medians = {name: [] for name in names}, {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            command = [sys.executable, "-m", "benchmarks.bench_train", "--child", name, "--model", model_name,
                       "--steps", "3", "--device", device] + (["--quick"] if quick else [])
            result = subprocess.run(command, capture_output=True, text=True, check=True,
                                    cwd=REPO_ROOT)
            samples = json.loads(result.stdout.strip().splitlines()[-1])
            seconds[name].extend(samples)
            medians[name].append(statistics.median(samples))
    ratios = [a / b for a, b in zip(medians["minigan"], medians.get("torch", []))]
    return seconds, ratios


def run_benchmark(model_names=None, quick=False, rounds=None, with_torch=True, out_dir=DEFAULT_OUT, plot=True,
                  isolated=False, device="cpu"):
    rounds = rounds or (2 if quick else 5)
    specs = _specs(quick)
    env, ceilings = environment(), machine_ceilings(quick)
    if device == "cuda":
        from minigan.backend import require_cupy
        ceilings["cuda"] = gpu_ceilings(require_cupy(), quick)
    rows = []
    for name in model_names or list(specs):
        spec = specs[name]
        if isolated:
            seconds, ratios = time_isolated(name, quick, rounds, with_torch, device)
        else:
            seconds, ratios = time_interleaved(make_trainers(spec, with_torch, device=device), rounds)
        for fw, samples in seconds.items():
            median = statistics.median(samples)
            rows.append(dict(model=name, batch=spec.batch, framework=fw, s_per_step=median, best_s=min(samples),
                             images_per_s=spec.batch / median, steps=len(samples),
                             vs_torch=statistics.median(ratios) if fw == "minigan" and ratios else None))
        print(f"  {name}: " + ", ".join(f"{r['framework']} {r['s_per_step']:.3g} s/step" for r in rows[-len(seconds):]),
              file=sys.stderr, flush=True)
    title = (f"minigan training steps vs PyTorch, on {device}"
             + (" (quick smoke run: tiny models)" if quick else ""))
    if isolated:
        notes = [f"- each framework in its own fresh processes, alternated A/B/A/B: {rounds} processes per "
                 "framework, 3 timed steps each after 1 warm-up step; × torch = median of the per-round ratios "
                 "of the processes' medians, minigan / torch (> 1: minigan slower)."]
    else:
        notes = [f"- {rounds} timed steps per framework after 1 warm-up step, interleaved in one process; × torch "
                 "= median of the per-round ratios minigan / torch (> 1: minigan slower)."]
    paths = write_report(out_dir, "bench_train", title, env, ceilings, rows, COLUMNS, notes,
                         extra=dict(quick=quick, rounds=rounds, isolated=isolated, device=device))
    if plot:
        groups = list(dict.fromkeys(r["model"] for r in rows))
        frameworks = list(dict.fromkeys(r["framework"] for r in rows))
        value = {(r["model"], r["framework"]): r["images_per_s"] for r in rows}
        paths["png"] = bar_chart(Path(out_dir) / "bench_train.png", groups,
                                 {f: [value.get((g, f)) for g in groups] for f in frameworks},
                                 "images per second (higher is better)", "training step throughput")
    return paths


COLUMNS = [Column("model", "model"), Column("batch", "batch"), Column("framework", "framework"),
           Column("s_per_step", "s / step (median)", "{:.4f}"), Column("images_per_s", "images / s", "{:.1f}"),
           Column("vs_torch", "× torch time", "{:.2f}")]


# ----------------------------------------------------------------------------- profile

def profile(model_name, quick=False, steps=3):
    """Print where minigan's step time goes for one model."""
    from benchmarks.profiler import op_profile

    trainer = make_trainers(_specs(quick)[model_name], with_torch=False)["minigan"]
    trainer.step()  # warm-up: JIT compilation and first allocations stay out of the profile
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    plain = (time.perf_counter() - start) / steps
    with op_profile() as prof:
        start = time.perf_counter()
        for _ in range(steps):
            trainer.step()
        profiled = (time.perf_counter() - start) / steps
    rows = prof.table(steps, profiled)
    print(f"## where a minigan {model_name} step goes ({steps} steps; {plain * 1e3:.1f} ms/step unprofiled, "
          f"{profiled * 1e3:.1f} ms/step profiled)\n")
    for section, columns in PROFILE_COLUMNS.items():
        print(markdown_table([r for r in rows if r["section"] == section], columns) + "\n")
    return rows


PROFILE_COLUMNS = {
    "op": [Column("name", "op"), Column("calls", "calls / step (fwd + bwd)"), Column("forward_ms", "forward ms", "{:.2f}"),
           Column("backward_ms", "backward ms", "{:.2f}"), Column("pct_of_step", "% of step", "{:.1f}")],
    "kernel": [Column("name", "kernel"), Column("calls", "calls / step"), Column("total_ms", "ms", "{:.2f}"),
               Column("pct_of_step", "% of step", "{:.1f}")],
    "total": [Column("name", "part"), Column("total_ms", "ms", "{:.2f}"), Column("pct_of_step", "% of step", "{:.1f}")],
}


# ----------------------------------------------------------------------------- memory

def _rss_mb(field):
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss():
    """Make VmHWM restart from the current resident set (Linux: write 5 to /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def memory_child(framework, model_name, quick, steps):
    """In a fresh process: warm up on a 2-image batch (JIT, caches), then reset the peak and report
    the growth of the resident set over the baseline before the ``steps`` full steps: at its peak
    and after them."""
    spec = _specs(quick)[model_name]
    small = ModelSpec(spec.name, spec.kind, spec.build, 2, spec.image)
    make_trainers(small, with_torch=framework == "torch")[framework].step()
    trainer = make_trainers(spec, with_torch=framework == "torch")[framework]
    baseline = _rss_mb("VmRSS")
    _reset_peak_rss()
    for _ in range(steps):
        trainer.step()
    return dict(framework=framework, peak_growth_mb=_rss_mb("VmHWM") - baseline,
                end_growth_mb=_rss_mb("VmRSS") - baseline)


def memory_report(model_name, quick=False, leak_model=None, leak_steps=100, with_torch=True):
    """Peak memory of one step of ``model_name`` (tracemalloc, and RSS growth per framework in
    subprocesses), and minigan's traced memory over ``leak_steps`` steps of ``leak_model``."""
    spec = _specs(quick)[model_name]
    trainer = make_trainers(spec, with_torch=False)["minigan"]
    trainer.step()
    tracemalloc.start()
    try:
        trainer.step()
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    result = dict(model=model_name, batch=spec.batch, tracemalloc_peak_mb=traced_peak / 2 ** 20, rss=[])
    for fw in ["minigan"] + (["torch"] if with_torch else []):
        code = ("import json; from benchmarks.bench_train import memory_child; "
                f"print(json.dumps(memory_child({fw!r}, {model_name!r}, {quick!r}, 2)))")
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        result["rss"].append(json.loads(out.stdout.strip().splitlines()[-1]))
    result["leak"] = leak_check(leak_model or model_name, quick, leak_steps)
    return result


def leak_check(model_name, quick, steps):
    """minigan's traced memory after every step: it must not grow from the 10th step on."""
    trainer = make_trainers(_specs(quick)[model_name], with_torch=False)["minigan"]
    trainer.step()
    tracemalloc.start()
    try:
        current = []
        for _ in range(steps):
            trainer.step()
            current.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    settled = current[min(9, steps - 1)]
    growth = (max(current[min(9, steps - 1):]) - settled) / 2 ** 20
    return dict(model=model_name, steps=steps, traced_after_first_mb=current[0] / 2 ** 20,
                traced_after_10th_mb=settled / 2 ** 20, traced_last_mb=current[-1] / 2 ** 20,
                max_growth_after_10th_mb=growth, flat=growth < 1.0)


def print_memory(result):
    print(f"## memory of a minigan {result['model']} step (batch {result['batch']})\n")
    print(f"- tracemalloc peak during one minigan step: {result['tracemalloc_peak_mb']:.1f} MB "
          "(NumPy allocations; arrays allocated inside Numba-compiled code are not traced)")
    for r in result["rss"]:
        print(f"- {r['framework']}: resident set growth over the pre-step baseline, fresh process: peak "
              f"{r['peak_growth_mb']:.1f} MB, after the steps {r['end_growth_mb']:.1f} MB")
    leak = result["leak"]
    verdict = "flat (no leak)" if leak["flat"] else "GROWING (a leak?)"
    print(f"- leak check, {leak['model']}, {leak['steps']} steps: traced memory {leak['traced_after_first_mb']:.1f} MB "
          f"after step 1, {leak['traced_after_10th_mb']:.1f} MB after step 10, {leak['traced_last_mb']:.1f} MB at the "
          f"end; largest growth after step 10: {leak['max_growth_after_10th_mb']:.2f} MB → {verdict}\n")


# ----------------------------------------------------------------------------- command line

def add_arguments(parser):
    parser.add_argument("--quick", "--smoke", action="store_true", help="tiny models and batches, 2 steps")
    parser.add_argument("--model", help="comma-separated models: " + ", ".join(_specs(False)))
    parser.add_argument("--steps", type=int, help="timed steps per framework (default 5, quick 2)")
    parser.add_argument("--no-torch", action="store_true", help="time minigan alone")
    parser.add_argument("--profile", action="store_true", help="also show where minigan's step time goes")
    parser.add_argument("--memory", action="store_true", help="also report peak memory and check for leaks")
    parser.add_argument("--leak-model", default="dcgan32", help="model of the leak check (default dcgan32)")
    parser.add_argument("--leak-steps", type=int, default=100, help="steps of the leak check (default 100)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="directory for the md/json/csv/png results")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--isolated", action="store_true",
                        help="run each framework in fresh processes of its own (A/B/A/B) instead of in one process")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where both frameworks train (default cpu; cuda needs CuPy and a GPU)")
    parser.add_argument("--child", choices=["minigan", "torch"], help=argparse.SUPPRESS)
    parser.set_defaults(run=main_from_args)


def main_from_args(args):
    names = None if args.model is None else [m.strip() for m in args.model.split(",")]
    unknown = set(names or ()) - set(_specs(False))
    if unknown:
        raise SystemExit(f"unknown model(s) {sorted(unknown)}; choose from {', '.join(_specs(False))}")
    if args.device != "cpu" and (args.profile or args.memory):
        raise SystemExit("--profile and --memory measure the CPU step: run them without --device")
    if args.child:  # one framework's timing for time_isolated, as JSON on the last line of stdout
        print(json.dumps(time_child(args.child, names[0], args.quick, args.steps, args.device)))
        return 0
    with_torch = not args.no_torch and _torch_installed()
    paths = run_benchmark(names, args.quick, args.steps, with_torch, args.out, plot=not args.no_plot,
                          isolated=args.isolated, device=args.device)
    extra = {}
    if args.profile:
        extra["profile"] = {m: profile(m, args.quick) for m in names or ["dcgan64"]}
    if args.memory:
        extra["memory"] = memory_report("dcgan64", args.quick, args.leak_model, args.leak_steps, with_torch)
        print_memory(extra["memory"])
    if extra:
        Path(args.out, "bench_train_details.json").write_text(json.dumps(extra, indent=1))
    return 0 if paths else 1


def _torch_installed():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        print("torch is not installed: timing minigan alone", file=sys.stderr)
        return False


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_train", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    sys.exit(main_from_args(parser.parse_args()))
