"""The `minigan` command. Each subcommand registers itself in `build_parser`.

    minigan train {gan,dcgan,ae,convae,vae,convvae} [options]   train, writing to --out (runs/<model>)
    minigan sample --checkpoint runs/dcgan --n 64 --out grid.png   (a run folder or its checkpoint.npz; or .npy)
    minigan reconstruct --checkpoint runs/convae/checkpoint.npz --out recon.png
    minigan interpolate --checkpoint runs/dcgan/checkpoint.npz --out walk.png
    minigan bench kernels|train [--quick]   benchmarks vs PyTorch (from a repository checkout)

Bad input ends with one line ``minigan: error: ...`` (exit status 2 for bad arguments, 1 for
settings or files the run rejects, 130 for Ctrl-C), never a traceback; warnings are one line
``minigan: warning: ...`` each.
"""

import argparse
import os
import shlex
import sys
import traceback
import warnings

import numpy as np

import minigan as mg
from minigan.apps import register as _add_apps
from minigan.apps.commands import add_cache_dir_option, add_crop_options
from minigan import run_as_torch
from minigan.bench import register as _add_bench
from minigan.data import load_dataset, to_unit_range
from minigan.models.gan import D_NORMS
from minigan.train import make_config, resume_config, run_training
from minigan.train.common import TrainingInterrupted
from minigan.train.gan import LOSSES as GAN_LOSSES
from minigan.train.runner import generate, latent_size, load_model, reconstruct
from minigan.viz import check_image_path, save_image_grid, save_reconstructions

MODEL_HELP = {
    "gan": "MLP GAN (fully connected G and D)",
    "dcgan": "DCGAN (transposed-conv G, conv D)",
    "ae": "MLP autoencoder",
    "convae": "convolutional autoencoder",
    "vae": "MLP variational autoencoder",
    "convvae": "convolutional variational autoencoder",
}


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _add_common_train_options(parser):
    data = parser.add_argument_group("data")
    data.add_argument("--data", help="'lfw-subset' (embedded faces, default) or a folder of images")
    data.add_argument("--image-size", type=_positive_int, help="square image size (default 32)")
    data.add_argument("--channels", type=int, choices=(1, 3), help="1 = grayscale (default), 3 = RGB")
    add_crop_options(data)
    data.add_argument("--limit", type=_positive_int, help="a seeded random subset of this many images from a folder")
    data.add_argument("--flip", action="store_true", help="random horizontal flips")
    run = parser.add_argument_group("run")
    budget = run.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=_positive_int, help="number of optimizer steps")
    budget.add_argument("--epochs", type=_positive_int, help="number of passes over the data (instead of --steps)")
    run.add_argument("--batch-size", type=_positive_int, help="images per step (default 64)")
    run.add_argument("--lr", type=float, help="learning rate")
    run.add_argument("--betas", type=float, nargs=2, metavar=("BETA1", "BETA2"), help="Adam betas")
    run.add_argument("--seed", type=int, help="seed of weights, data order and noise (default 0)")
    run.add_argument("--device", choices=("cpu", "cuda", "cuda-sim"), help="default cpu")
    run.add_argument("--out", help="output folder (default runs/<model>)")
    again = run.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    again.add_argument("--overwrite", action="store_true",
                       help="replace the run saved in --out (deletes its checkpoint and sample images)")
    run.add_argument("--sample-every", type=_positive_int, help="write a sample grid every N steps (default 100)")
    run.add_argument("--checkpoint-every", type=_positive_int, help="write the checkpoint every N steps (default 200)")
    run.add_argument("--n-eval", type=_positive_int, help="generated images for FID-HOG (default 200)")
    run.add_argument("--stage2-step", type=_positive_int, help="multi-stage optimisation: switch at this step")
    run.add_argument("--stage2-lr", type=float, help="learning rate from --stage2-step on")
    run.add_argument("--stage2-optimizer", choices=("adam", "sgd"),
                     help="a fresh optimizer from --stage2-step on (default: keep Adam)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_model_options(parser, model):
    group = parser.add_argument_group(f"{model} model")
    if model in ("gan", "dcgan"):
        group.add_argument("--nz", type=_positive_int, help="noise dimension")
        group.add_argument("--loss", choices=GAN_LOSSES,
                           help="default non-saturating; wgan-gp also sets --n-critic 5, --gp-lambda 10, --lr 1e-4, "
                                "--betas 0 0.9" + (", --d-norm none" if model == "dcgan" else "") + " unless given")
        group.add_argument("--label-smoothing", type=float,
                           help="one-sided: real targets 1 - s (default 0; BCE losses only)")
        group.add_argument("--n-critic", type=_positive_int,
                           help="discriminator (critic) updates per generator update (default 1)")
        group.add_argument("--gp-lambda", type=float, metavar="LAMBDA",
                           help="weight of the WGAN-GP gradient penalty (--loss wgan-gp only; default 10)")
        group.add_argument("--r1", type=float, metavar="GAMMA",
                           help="add the R1 penalty GAMMA/2 * |grad_x D(x)|^2 on real images (not with wgan-gp)")
    if model == "dcgan":
        group.add_argument("--d-norm", choices=D_NORMS,
                           help="normalisation in the discriminator (default batch; none with --loss wgan-gp)")
    if model in ("gan", "ae", "vae"):
        group.add_argument("--hidden", type=_positive_int, nargs="+", help="hidden layer sizes")
    if model == "gan":
        group.add_argument("--output-activation", choices=("tanh", "sigmoid"), help="generator output (default tanh)")
    if model == "dcgan":
        group.add_argument("--ngf", type=_positive_int, help="generator width (default 32)")
        group.add_argument("--ndf", type=_positive_int, help="discriminator width (default 32)")
    if model in ("ae", "convae", "vae", "convvae"):
        group.add_argument("--latent-dim", type=_positive_int, help="size of the code z")
        group.add_argument("--output-activation", choices=("tanh", "sigmoid"), help="decoder output (default sigmoid)")
    if model in ("convae", "convvae"):
        group.add_argument("--nf", type=_positive_int, help="conv width (default 32)")
    if model in ("vae", "convvae"):
        group.add_argument("--reconstruction", choices=("bce", "mse"), help="reconstruction loss (default bce)")
        group.add_argument("--beta", type=float, help="weight of the KL term (default 1)")


def _add_train(subparsers):
    train = subparsers.add_parser("train", help="train a model (writes samples, curves, metrics, checkpoint)")
    models = train.add_subparsers(dest="model", metavar="MODEL", required=True)
    for model, text in MODEL_HELP.items():
        parser = models.add_parser(model, help=text, argument_default=argparse.SUPPRESS)
        _add_common_train_options(parser)
        _add_model_options(parser, model)
        parser.set_defaults(run=_run_train)


def _run_train(args):
    options = {name: value for name, value in vars(args).items() if name not in ("command", "model", "run")}
    resume, overwrite = options.pop("resume", False), options.pop("overwrite", False)
    options["progress"] = not options.pop("quiet", False)
    if options.pop("no_crop", False):
        options["center_crop"] = None
    if "betas" in options:
        options["betas"] = list(options["betas"])
    if "hidden" in options:
        options["hidden"] = list(options["hidden"])
    if resume:
        out = options.pop("out", os.path.join("runs", args.model))
        config = resume_config(out, model=args.model, **options)
    else:
        config = make_config(args.model, **options)
    try:
        metrics = run_training(config, resume=resume, overwrite=overwrite)
    except TrainingInterrupted as stop:
        command = f"minigan train {config['model']} --out {shlex.quote(config['out'])} --resume"
        print(f"minigan: interrupted after step {stop.step}, saved {stop.checkpoint}; continue with: {command}",
              file=sys.stderr)
        return 130
    numbers = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k in ("fid_hog", "reconstruction_mse"))
    ran = metrics["steps_run"]
    resumed = f", resumed at step {metrics['steps'] - ran}" if ran < metrics["steps"] else ""
    print(f"minigan: trained {config['model']} for {ran} step{'s' if ran != 1 else ''} in "
          f"{metrics['train_seconds']:.1f} s{resumed} ({numbers}); wrote {config['out']}")
    return 0


def _add_checkpoint_options(parser, default_out):
    parser.add_argument("--checkpoint", required=True,
                        help="a run folder written by minigan train, or its checkpoint.npz")
    parser.add_argument("--out", default=default_out, help=f"output file (default {default_out})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent codes (default 0)")
    parser.add_argument("--device", choices=("cpu", "cuda", "cuda-sim"), help="default: the run's device")


def _add_sample(subparsers):
    parser = subparsers.add_parser("sample", help="generate images from a GAN or VAE checkpoint")
    _add_checkpoint_options(parser, "samples.png")
    parser.add_argument("--n", type=_positive_int, default=64, help="number of images (default 64)")
    parser.add_argument("--nrow", type=_positive_int, default=8, help="images per grid row (default 8)")
    parser.set_defaults(run=_run_sample)


def _run_sample(args):
    if not args.out.endswith(".npy"):
        check_image_path(args.out, also=".npy (raw float32 samples)")
    model, config = load_model(args.checkpoint, args.device)
    if config["model"] in ("ae", "convae"):
        raise ValueError(f"{config['model']} has no prior to sample from; use a GAN or VAE checkpoint")
    z = np.random.default_rng(args.seed).standard_normal((args.n, latent_size(model))).astype(np.float32)
    images = generate(model, z)
    if args.out.endswith(".npy"):
        np.save(args.out, to_unit_range(images, model.value_range))
    else:
        save_image_grid(args.out, images, nrow=args.nrow, value_range=model.value_range)
    print(f"minigan: wrote {args.n} samples to {args.out}")
    return 0


def _add_reconstruct(subparsers):
    parser = subparsers.add_parser("reconstruct", help="AE/VAE: originals above their reconstructions")
    _add_checkpoint_options(parser, "reconstructions.png")
    parser.add_argument("--n", type=_positive_int, default=8, help="number of images (default 8)")
    parser.add_argument("--data", help="images to reconstruct (default: the run's training data)")
    add_cache_dir_option(parser)
    parser.set_defaults(run=_run_reconstruct)


def _dataset_for(config, model, source=None, cache_dir=None):
    return load_dataset(source or config["data"], config["image_size"], config["channels"], model.value_range,
                        config["center_crop"], config["limit"], cache_dir or config.get("cache_dir"))


def _run_reconstruct(args):
    check_image_path(args.out)
    model, config = load_model(args.checkpoint, args.device)
    if config["model"] in ("gan", "dcgan"):
        raise ValueError(f"{config['model']} has no encoder; use an AE or VAE checkpoint")
    images = _dataset_for(config, model, args.data, args.cache_dir)
    chosen = images[np.random.default_rng(args.seed).permutation(len(images))[:args.n]]
    save_reconstructions(args.out, chosen, reconstruct(model, chosen), model.value_range)
    print(f"minigan: wrote {len(chosen)} reconstructions to {args.out}")
    return 0


def _add_interpolate(subparsers):
    parser = subparsers.add_parser("interpolate", help="a strip of images along a line between two latent codes")
    _add_checkpoint_options(parser, "interpolation.png")
    parser.add_argument("--frames", type=_positive_int, default=10, help="images in the strip (default 10)")
    parser.add_argument("--rows", type=_positive_int, default=1, help="independent walks, one per row (default 1)")
    parser.set_defaults(run=_run_interpolate)


def latent_endpoints(model, config, rows, seed):
    """Two codes per row: random N(0, I) draws for a GAN/VAE; for an AE, the codes of two training images."""
    rng = np.random.default_rng(seed)
    if config["model"] not in ("ae", "convae"):
        return (rng.standard_normal((rows, latent_size(model))).astype(np.float32),
                rng.standard_normal((rows, latent_size(model))).astype(np.float32))
    images = _dataset_for(config, model)
    picks = rng.permutation(len(images))[:2 * rows]
    if len(picks) < 2 * rows:
        raise ValueError(f"{rows} rows need {2 * rows} images, the data has {len(images)}")
    with mg.no_grad():
        codes = model.encode(mg.tensor(images[picks], device=config["device"])).numpy()
    return codes[:rows], codes[rows:]


def _run_interpolate(args):
    check_image_path(args.out)
    model, config = load_model(args.checkpoint, args.device)
    start, end = latent_endpoints(model, config, args.rows, args.seed)
    weights = np.linspace(0.0, 1.0, args.frames, dtype=np.float32)
    codes = np.concatenate([(1 - t) * start[r:r + 1] + t * end[r:r + 1]
                            for r in range(args.rows) for t in weights])
    save_image_grid(args.out, generate(model, codes), nrow=args.frames, value_range=model.value_range)
    print(f"minigan: wrote a {args.rows}x{args.frames} interpolation to {args.out}")
    return 0


def _run_torch_script(args):
    """Run a PyTorch script unchanged with ``torch`` resolved to minigan (minigan.run_as_torch)."""
    if not os.path.isfile(args.script):
        raise FileNotFoundError(f"no script {args.script!r}; give the path of a Python file written for PyTorch")
    try:
        return run_as_torch.main([args.script, *args.script_args])
    except NotImplementedError as missing:  # a torch feature minigan lacks: one line naming it
        print(f"minigan: error: {missing}", file=sys.stderr)
        return 1
    except Exception:  # the script's own error: its traceback is what the user needs
        traceback.print_exc()
        return 1


def _add_run_torch(subparsers):
    parser = subparsers.add_parser("run-torch", help="run a PyTorch script unchanged, with torch resolved to minigan")
    parser.add_argument("script", help="a Python file written for PyTorch")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments passed on to the script")
    parser.set_defaults(run=_run_torch_script)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minigan",
        description="Train and inspect GANs, autoencoders and VAEs on faces with a from-scratch engine.",
    )
    parser.add_argument("--version", action="version", version=f"minigan {mg.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(subparsers)
    _add_sample(subparsers)
    _add_reconstruct(subparsers)
    _add_interpolate(subparsers)
    _add_apps(subparsers)
    _add_bench(subparsers)
    _add_run_torch(subparsers)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as ``minigan: warning: ...``, without the file and line of the code that raised them."""
    print(f"minigan: warning: {message}", file=sys.stderr if file is None else file)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return args.run(args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"minigan: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("minigan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
