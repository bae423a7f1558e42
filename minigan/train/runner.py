"""One training run from a config: what ``minigan train`` does.

``run_training(config)`` loads the data, builds the model and its optimizers, calls the
family's loop (``train_gan``, ``train_ae`` or ``train_vae``) and writes to ``config['out']``:

    config.json           every setting, the seed and the minigan version
    samples/step_NNNNNN.png   a grid every ``sample_every`` steps, always from the same fixed noise
                          (AE: reconstructions of the same fixed images)
    samples.png           the final grid
    reconstructions.png   AE/VAE: originals above their reconstructions
    loss.png              the loss curves (and D(x), D(G(z)) for GANs)
    metrics.json          final losses, FID-HOG (GAN/VAE), reconstruction MSE (AE/VAE), timings
                          (wall seconds per step, and CPU seconds per step summed over threads)
    checkpoint.npz        weights, optimizer states, step, RNG and data-order states, history

Determinism: ``mg.manual_seed(seed)`` before building the model fixes the initial weights; the
data order comes from ``DataLoader(seed=seed)``; the training noise from
``default_rng([seed, 1])``; the fixed sample noise from ``default_rng([seed, 2])``; the real
images FID-HOG compares with (``n_eval`` of them, read from the folder's cache) from
``default_rng([seed, 4])``. All the
states that change during training are in the checkpoint, so ``resume=True`` continues a run
exactly as if it had never stopped.

Ctrl-C during training lets the step in progress finish, saves the checkpoint at that step and
raises ``TrainingInterrupted`` (a second Ctrl-C stops at once, keeping the last periodic
checkpoint). A folder that already holds a run is only trained into with ``resume`` or
``overwrite``.
"""

import glob
import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np
from numba.core import event as numba_event
from tqdm import tqdm

import minigan as mg
from minigan import backend
from minigan.checkpoint import load_checkpoint, save_checkpoint
from minigan.data import DataLoader, load_dataset, to_unit_range
from minigan.image_cache import check_crop
from minigan.metrics import fid_hog, reconstruction_mse
from minigan.models import AE, DCGAN, MLPGAN, VAE, ConvAE, ConvVAE
from minigan.models.gan import D_NORMS
from minigan.optim import SGD, Adam
from minigan.train.ae import train_ae
from minigan.train.common import DivergenceError, TrainingInterrupted
from minigan.train.gan import check_gan_options, train_gan
from minigan.train.schedules import MultiStage
from minigan.train.vae import check_reconstruction, train_vae
from minigan.viz import save_image_grid, save_loss_curves, save_reconstructions

FAMILIES = {"gan": "gan", "dcgan": "gan", "ae": "ae", "convae": "ae", "vae": "vae", "convvae": "vae"}
CHECKPOINT_NAME = "checkpoint.npz"
RUN_FILES = (CHECKPOINT_NAME, "config.json", "metrics.json", "samples.png", "loss.png", "reconstructions.png")
SAMPLES_PATTERN = os.path.join("samples", "step_*.png")
COMPILE_NOTICE = "compiling CPU kernels (first run only, about a minute)"

DEFAULTS = {
    "data": "lfw-subset", "image_size": 32, "channels": 1, "center_crop": "square", "limit": None, "flip": False,
    "cache_dir": None,
    "steps": None, "epochs": None, "batch_size": 64, "lr": 2e-4, "betas": [0.5, 0.999], "seed": 0,
    "device": "cpu", "out": None, "sample_every": 100, "checkpoint_every": 200, "n_eval": 200,
    "stage2_step": None, "stage2_lr": None, "stage2_optimizer": None, "progress": True,
    # GANs
    "nz": 64, "hidden": [256, 512], "output_activation": "tanh", "ngf": 32, "ndf": 32,
    "loss": "non-saturating", "label_smoothing": 0.0, "n_critic": 1, "gp_lambda": None, "r1": 0.0, "d_norm": "batch",
    # autoencoders
    "latent_dim": 32, "nf": 32, "reconstruction": "bce", "beta": 1.0,
}
MODEL_DEFAULTS = {
    "gan": {"steps": 2000, "d_norm": "none"},
    "dcgan": {"steps": 800, "nz": 100},
    "ae": {"steps": 1000, "lr": 1e-3, "betas": [0.9, 0.999], "output_activation": "sigmoid", "hidden": [512, 256]},
    "convae": {"steps": 600, "lr": 1e-3, "betas": [0.9, 0.999], "output_activation": "sigmoid"},
    "vae": {"steps": 1500, "lr": 1e-3, "betas": [0.9, 0.999], "output_activation": "sigmoid", "hidden": [512, 256],
            "latent_dim": 16},
    "convvae": {"steps": 800, "lr": 1e-3, "betas": [0.9, 0.999], "output_activation": "sigmoid", "latent_dim": 16},
}
# Chosen with a GAN loss, before the options (which override them): WGAN-GP as Gulrajani et al. train it.
LOSS_DEFAULTS = {"wgan-gp": {"n_critic": 5, "gp_lambda": 10.0, "lr": 1e-4, "betas": [0.0, 0.9], "d_norm": "none"}}
RESUMABLE_CHANGES = ("steps", "epochs", "device", "progress", "out", "sample_every", "checkpoint_every", "n_eval",
                     "cache_dir")


def make_config(model, **options):
    """The full settings of a run: ``DEFAULTS``, then the model's defaults, the loss's defaults, then ``options``."""
    if model not in FAMILIES:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(FAMILIES)}")
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    loss_defaults = LOSS_DEFAULTS.get(options.get("loss"), {})
    config = {"model": model, **DEFAULTS, **MODEL_DEFAULTS[model], **loss_defaults, **options}
    if options.get("epochs") is not None and options.get("steps") is None:
        config["steps"] = None
    if config["out"] is None:
        config["out"] = os.path.join("runs", model)
    _validate(config)
    return config


def _validate(config):
    backend.check_device(config["device"])
    if config["steps"] is not None and config["epochs"] is not None:
        raise ValueError("give either steps or epochs, not both")
    for name in ("steps", "epochs", "batch_size", "sample_every", "checkpoint_every", "n_eval"):
        if config[name] is not None and config[name] < 1:
            raise ValueError(f"{name} must be a positive integer, got {config[name]}")
    if config["lr"] <= 0:
        raise ValueError(f"lr must be positive, got {config['lr']}")
    check_crop(config["center_crop"])
    if config["stage2_step"] is not None and config["stage2_lr"] is None and config["stage2_optimizer"] is None:
        raise ValueError("stage2_step needs stage2_lr and/or stage2_optimizer")
    if FAMILIES[config["model"]] == "vae":
        check_reconstruction(config["reconstruction"], config["output_activation"])
    if FAMILIES[config["model"]] == "gan":
        _validate_gan(config)
    if config["stage2_optimizer"] not in (None, "adam", "sgd"):
        raise ValueError(f"stage2_optimizer must be 'adam' or 'sgd', got {config['stage2_optimizer']!r}")


def _validate_gan(config):
    check_gan_options(config["loss"], config["label_smoothing"], config["n_critic"], config["gp_lambda"],
                      config["r1"])
    if config["gp_lambda"] is not None and config["loss"] != "wgan-gp":
        raise ValueError(f"gp_lambda weighs the WGAN-GP penalty; it needs loss 'wgan-gp', not {config['loss']!r}")
    norms = D_NORMS if config["model"] == "dcgan" else ("none",)
    if config["d_norm"] not in norms:
        raise ValueError(f"d_norm of a {config['model']} discriminator must be one of {', '.join(norms)}, "
                         f"got {config['d_norm']!r}")


def _with_later_settings(saved):
    """A saved config with the settings added since it was written, at their defaults."""
    return {**DEFAULTS, **MODEL_DEFAULTS.get(saved.get("model"), {}), **saved}


def resume_config(out, **changes):
    """The config saved in ``out``'s checkpoint with ``changes``; only ``RESUMABLE_CHANGES`` may differ."""
    saved = _with_later_settings(load_checkpoint(os.path.join(out, CHECKPOINT_NAME))["config"])
    for name, value in changes.items():
        if name not in RESUMABLE_CHANGES and saved.get(name) != value:
            raise ValueError(f"cannot change {name} when resuming (saved {saved.get(name)!r}, given {value!r})")
    config = {**saved, **changes, "out": out}
    if "epochs" in changes and "steps" not in changes:
        config["steps"] = None
    _validate(config)
    return config


def build_model(config):
    """The model a config describes (random initial weights from ``mg.manual_seed(config['seed'])``)."""
    mg.manual_seed(config["seed"])
    name, size, channels = config["model"], config["image_size"], config["channels"]
    shape = (channels, size, size)
    if name == "gan":
        model = MLPGAN(shape, config["nz"], tuple(config["hidden"]), config["output_activation"])
    elif name == "dcgan":
        model = DCGAN(size, channels, config["nz"], config["ngf"], config["ndf"], config["d_norm"])
    elif name == "ae":
        model = AE(shape, config["latent_dim"], tuple(config["hidden"]), config["output_activation"])
    elif name == "convae":
        model = ConvAE(size, channels, config["latent_dim"], config["nf"], config["output_activation"])
    elif name == "vae":
        model = VAE(shape, config["latent_dim"], tuple(config["hidden"]), config["output_activation"])
    else:
        model = ConvVAE(size, channels, config["latent_dim"], config["nf"], config["output_activation"])
    return model.to(config["device"])


def checkpoint_file(path):
    """``path`` itself, or a run folder's ``checkpoint.npz`` when ``path`` is a folder."""
    if not os.path.isdir(path):
        return path
    inside = os.path.join(path, CHECKPOINT_NAME)
    if not os.path.isfile(inside):
        raise FileNotFoundError(f"{path} is a folder without a {CHECKPOINT_NAME}; give a run folder written by "
                                f"minigan train, or a checkpoint file")
    return inside


def load_model(checkpoint_path, device=None):
    """``(model, config)`` from a checkpoint written by ``run_training`` (or its run folder), in eval mode."""
    checkpoint_path = checkpoint_file(checkpoint_path)
    state = load_checkpoint(checkpoint_path)
    if not isinstance(state.get("config"), dict) or "model" not in state:
        raise ValueError(f"{checkpoint_path} is a checkpoint, but not one written by minigan train (no model config)")
    config = dict(_with_later_settings(state["config"]), device=device or state["config"]["device"])
    model = build_model(config)
    model.load_state_dict(state["model"])
    return model.eval(), config


def _optimizer(config, params):
    """Adam(lr, betas); with ``stage2_step`` a ``MultiStage`` that changes lr and/or optimizer there."""
    params = list(params)
    first = Adam(params, lr=config["lr"], betas=tuple(config["betas"]))
    if config["stage2_step"] is None:
        return first
    lr = config["stage2_lr"] if config["stage2_lr"] is not None else config["lr"]
    if config["stage2_optimizer"] == "sgd":
        second = SGD(params, lr=lr, momentum=0.9)
    elif config["stage2_optimizer"] == "adam":
        second = Adam(params, lr=lr, betas=tuple(config["betas"]))
    else:
        return MultiStage([(0, first), (config["stage2_step"], first, lr)])
    return MultiStage([(0, first), (config["stage2_step"], second)])


def build_optimizers(config, model):
    """``{'d': ..., 'g': ...}`` for a GAN, ``{'model': ...}`` otherwise."""
    if FAMILIES[config["model"]] == "gan":
        return {"d": _optimizer(config, model.discriminator.parameters()),
                "g": _optimizer(config, model.generator.parameters())}
    return {"model": _optimizer(config, model.parameters())}


def latent_size(model):
    return model.nz if hasattr(model, "nz") else model.latent_dim


def generate(model, z):
    """Images (NumPy, the model's value range) from latent codes ``z`` (NumPy), in eval mode, no graph."""
    was_training = model.training
    model.eval()
    with mg.no_grad():
        device = next(iter(model.parameters())).device
        images = model.generator(mg.tensor(z, device=device)) if hasattr(model, "generator") \
            else model.decode(mg.tensor(z, device=device))
    model.train(was_training)
    return images.numpy()


def reconstruct(model, images):
    """Reconstructions (NumPy) of ``images``; a VAE decodes its mean code ``z = mu``."""
    was_training = model.training
    model.eval()
    with mg.no_grad():
        device = next(iter(model.parameters())).device
        output = model(mg.tensor(images, device=device))
    model.train(was_training)
    return (output[0] if isinstance(output, tuple) else output).numpy()


def _in_batches(function, inputs, batch_size=100):
    return np.concatenate([function(inputs[i:i + batch_size]) for i in range(0, len(inputs), batch_size)])


def prepare_out_folder(out, resume=False, overwrite=False):
    """Refuse to train into a folder that holds a run (a checkpoint or config.json) unless ``resume`` or
    ``overwrite``; ``overwrite`` deletes the files a run writes there (``RUN_FILES`` and the sample images),
    nothing else, so old samples never sit beside new ones."""
    if resume and overwrite:
        raise ValueError("resume continues the run in the folder and overwrite replaces it; ask for one of them")
    holds_run = any(os.path.isfile(os.path.join(out, name)) for name in (CHECKPOINT_NAME, "config.json"))
    if holds_run and not (resume or overwrite):
        raise ValueError(f"{out} already holds a run; continue it with --resume, or replace it with "
                         f"--overwrite (deletes its checkpoint and sample images)")
    if overwrite:
        old = [os.path.join(out, name) for name in RUN_FILES] + glob.glob(os.path.join(out, SAMPLES_PATTERN))
        for path in old:
            if os.path.isfile(path):
                os.remove(path)
    os.makedirs(out, exist_ok=True)


class _CompileNotice(numba_event.Listener):
    """Says ``COMPILE_NOTICE`` once, when a minigan Numba kernel starts compiling. Numba fires its
    'numba:compile' event only on a cache miss, so a run whose kernels are in the on-disk cache says nothing."""

    def __init__(self, say):
        self.say, self.said = say, False

    def on_start(self, event):
        if not self.said and event.data["dispatcher"].py_func.__module__.startswith("minigan."):
            self.said = True
            self.say(COMPILE_NOTICE)

    def on_end(self, event):
        pass


@contextmanager
def _stop_after_step_on_ctrl_c(run):
    """The first Ctrl-C sets ``run.interrupted`` (the step in progress finishes, then the run stops and saves,
    so the checkpoint holds whole steps); a second one raises KeyboardInterrupt at once. Signal handlers can
    only be set from the main thread; elsewhere Ctrl-C never reaches the run anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first_ctrl_c(signum, frame):
        run.interrupted = True
        signal.signal(signal.SIGINT, previous)
        run.say("minigan: stopping after the step in progress (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, first_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Run:
    """Everything one run holds; the methods are the run's stages in order."""

    def __init__(self, config):
        self.config, self.family = config, FAMILIES[config["model"]]
        self.out = config["out"]
        self.model = build_model(config)
        self.dataset = load_dataset(config["data"], config["image_size"], config["channels"], self.model.value_range,
                                    config["center_crop"], config["limit"], config.get("cache_dir"), config["progress"])
        if config["batch_size"] > len(self.dataset):
            raise ValueError(f"the data has {len(self.dataset)} images, fewer than one batch of "
                             f"{config['batch_size']}; use --batch-size {len(self.dataset)} or less")
        self.loader = DataLoader(self.dataset, config["batch_size"], flip=config["flip"], seed=config["seed"])
        self.steps = config["steps"] if config["steps"] is not None else config["epochs"] * len(self.loader)
        self.optimizers = build_optimizers(config, self.model)
        self.noise_rng = np.random.default_rng([config["seed"], 1])
        self.fixed_z = np.random.default_rng([config["seed"], 2]).standard_normal(
            (64, latent_size(self.model))).astype(np.float32)
        self.fixed_images = self.dataset[:8]
        self.step, self.history = 0, {}
        self.bar, self.interrupted = None, False

    def restore(self):
        state = load_checkpoint(self.checkpoint_path)
        self.model.load_state_dict(state["model"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.noise_rng.bit_generator.state = state["rng"]["noise"]
        self.loader.load_state_dict(state["loader"])
        self.step, self.history = int(state["step"]), state["history"]
        if self.step > self.steps:
            raise ValueError(f"the checkpoint is at step {self.step}, past the requested {self.steps} steps")

    @property
    def checkpoint_path(self):
        return os.path.join(self.out, CHECKPOINT_NAME)

    def save_checkpoint(self, step):
        save_checkpoint(self.checkpoint_path, {
            "version": mg.__version__, "config": self.config, "step": step,
            "model": self.model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "rng": {"noise": self.noise_rng.bit_generator.state},
            "loader": self.loader.state_dict(),
            "history": self.history,
        })
        self.step = step

    def save_samples(self, path):
        value_range = self.model.value_range
        if self.family == "ae":
            save_reconstructions(path, self.fixed_images, reconstruct(self.model, self.fixed_images), value_range)
        else:
            save_image_grid(path, generate(self.model, self.fixed_z), value_range=value_range)

    def say(self, text):
        """A line on stderr (above the progress bar), unless the run is quiet."""
        if self.config["progress"]:
            tqdm.write(text, file=sys.stderr)

    def callbacks(self):
        config = self.config

        def progress(step, values):
            # the bar starts after this process's first step, so its rate and ETA leave out kernel compilation
            postfix = {name: f"{value:.3f}" for name, value in values.items()}
            if self.bar is None:
                self.bar = tqdm(total=self.steps, initial=step, desc=f"minigan {config['model']}",
                                disable=not config["progress"], unit="step", dynamic_ncols=True)
                self.bar.set_postfix(postfix)  # a dict keeps the losses' order; tqdm(postfix=...) sorts them
            else:
                self.bar.set_postfix(postfix, refresh=False)
                self.bar.update(1)

        def samples(step, values):
            if step % config["sample_every"] == 0:
                self.save_samples(os.path.join(self.out, "samples", f"step_{step:06d}.png"))

        def checkpoint(step, values):
            if step % config["checkpoint_every"] == 0:
                self.save_checkpoint(step)

        def stop_if_interrupted(step, values):
            if self.interrupted:
                self.save_checkpoint(step)
                raise TrainingInterrupted(step, self.checkpoint_path)

        return [progress, samples, checkpoint, stop_if_interrupted]

    def train(self):
        common = {"device": self.config["device"], "start_step": self.step, "history": self.history}
        callbacks = self.callbacks()
        try:
            with numba_event.install_listener("numba:compile", _CompileNotice(self.say)), \
                    _stop_after_step_on_ctrl_c(self):
                if self.family == "gan":
                    train_gan(self.model, self.loader, self.optimizers["d"], self.optimizers["g"], self.steps,
                              self.noise_rng, self.config["loss"], self.config["label_smoothing"],
                              n_critic=self.config["n_critic"], gp_lambda=self.config["gp_lambda"],
                              r1_gamma=self.config["r1"], callbacks=callbacks, **common)
                elif self.family == "ae":
                    train_ae(self.model, self.loader, self.optimizers["model"], self.steps, callbacks=callbacks,
                             **common)
                else:
                    train_vae(self.model, self.loader, self.optimizers["model"], self.steps, self.noise_rng,
                              self.config["reconstruction"], self.config["beta"], callbacks=callbacks, **common)
        finally:
            if self.bar is not None:
                self.bar.close()

    def evaluate(self):
        """FID-HOG of ``n_eval`` generated images against a seeded sample of ``n_eval`` training images (all
        of them when there are fewer); reconstruction MSE of that sample, in [0, 1] units."""
        metrics = {}
        value_range = self.model.value_range
        real = self.dataset.sample(self.config["n_eval"], seed=[self.config["seed"], 4])
        if self.family != "ae":
            z = np.random.default_rng([self.config["seed"], 3]).standard_normal(
                (self.config["n_eval"], latent_size(self.model))).astype(np.float32)
            samples = _in_batches(lambda chunk: generate(self.model, chunk), z)
            metrics["fid_hog"] = fid_hog(samples, real, value_range)
            metrics["fid_hog_images"] = [len(samples), len(real)]
        if self.family != "gan":
            recon = _in_batches(lambda chunk: reconstruct(self.model, chunk), real)
            metrics["reconstruction_mse"] = reconstruction_mse(to_unit_range(real, value_range),
                                                               to_unit_range(recon, value_range))
            save_reconstructions(os.path.join(self.out, "reconstructions.png"), self.fixed_images,
                                 reconstruct(self.model, self.fixed_images), value_range)
        return metrics


def _write_json(path, data):
    with open(path, "w") as file:
        json.dump(data, file, indent=2)
        file.write("\n")


def run_training(config, resume=False, overwrite=False):
    """Train as ``config`` (from ``make_config``/``resume_config``) says; returns the metrics dict.

    With ``resume`` the run continues from ``config['out']/checkpoint.npz``; with ``overwrite`` an
    earlier run in ``config['out']`` is replaced (``prepare_out_folder``). On a NaN/inf loss the
    loss curves are written, the last checkpoint is left as it was, and ``DivergenceError`` is
    raised with the checkpoint's step in its message. Ctrl-C raises ``TrainingInterrupted`` after
    saving the checkpoint at the last finished step.
    """
    prepare_out_folder(config["out"], resume, overwrite)
    run = _Run(config)
    if resume:
        run.restore()
    _write_json(os.path.join(run.out, "config.json"), {**config, "version": mg.__version__, "steps_total": run.steps})
    start_step, started, started_cpu = run.step, time.perf_counter(), time.process_time()
    try:
        run.train()
    except DivergenceError as error:
        if run.history.get("step"):
            save_loss_curves(os.path.join(run.out, "loss.png"), run.history, title=f"{config['model']} (diverged)")
        saved = f"{run.checkpoint_path} (step {run.step})" if os.path.exists(run.checkpoint_path) else "none written"
        raise DivergenceError(error.step, error.name, error.value, f"last good checkpoint: {saved}") from None
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    run.save_checkpoint(run.steps)
    run.save_samples(os.path.join(run.out, "samples.png"))
    save_loss_curves(os.path.join(run.out, "loss.png"), run.history, title=config["model"])
    metrics = {"model": config["model"], "steps": run.steps, "steps_run": run.steps - start_step,
               "seed": config["seed"],
               "final": {name: values[-1] for name, values in run.history.items() if name != "step"},
               "train_seconds": seconds,
               "seconds_per_step": seconds / max(run.steps - start_step, 1),
               "cpu_seconds_per_step": cpu_seconds / max(run.steps - start_step, 1),
               **run.evaluate()}
    _write_json(os.path.join(run.out, "metrics.json"), metrics)
    return metrics
