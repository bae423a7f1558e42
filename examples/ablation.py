"""Reproduce the source study's comparison on one data set, seed and step budget.

Six GANs are trained with ``minigan.train.run_training``:

    MLP-GAN sigmoid     fully connected G with a sigmoid output (images scaled to [0, 1])
    MLP-GAN tanh        the same with a tanh output (images scaled to [-1, 1])
    DCGAN               transposed-conv G / conv D, Adam(lr, betas=(0.5, 0.999))
    DCGAN multi-stage   the same, with the learning rate divided by 10 for the last third of the steps
    WGAN-GP             the DCGAN pair with a critic without batch norm, the Wasserstein loss and the
                        gradient penalty (Gulrajani et al. 2017): λ = 10, 5 critic updates per generator
                        update, Adam(1e-4, betas=(0, 0.9)), the paper's settings, not ``--lr``
    DCGAN + R1          the DCGAN with the R1 penalty γ/2·‖∇ₓD(x)‖² on real images, γ = ``--r1-gamma``

Then it writes, next to the four run folders in ``--out``:

    ablation.png   64 samples of each model side by side (same latent seed for all)
    ablation.md    a table of FID-HOG (lower is better), final D(x), D(G(z)) (BCE losses), the critic's
                   Wasserstein estimate (WGAN-GP) and seconds per step
    ablation.json  the same numbers

    python examples/ablation.py --steps 400 --out runs/ablation
"""

import argparse
import json
import os

import numpy as np

from minigan.data import to_unit_range
from minigan.train import load_model, make_config, run_training
from minigan.train.runner import generate, latent_size
from minigan.viz import save_panels


def variants(steps, lr, r1_gamma):
    """Name -> (model, extra settings) for the six runs; all but WGAN-GP train with Adam(lr)."""
    return {
        "MLP-GAN sigmoid": ("gan", {"output_activation": "sigmoid", "lr": lr}),
        "MLP-GAN tanh": ("gan", {"output_activation": "tanh", "lr": lr}),
        "DCGAN": ("dcgan", {"lr": lr}),
        "DCGAN multi-stage": ("dcgan", {"stage2_step": (2 * steps) // 3, "stage2_lr": lr / 10, "lr": lr}),
        "WGAN-GP": ("dcgan", {"loss": "wgan-gp"}),
        "DCGAN + R1": ("dcgan", {"r1": r1_gamma, "lr": lr}),
    }


def folder_name(name):
    return name.lower().replace(" ", "-")


def run_all(args):
    """Train every variant (or, with ``--reuse``, read the metrics of earlier runs); returns name -> metrics."""
    results = {}
    for name, (model, extra) in variants(args.steps, args.lr, args.r1_gamma).items():
        if args.reuse:
            with open(os.path.join(args.out, folder_name(name), "metrics.json")) as file:
                results[name] = json.load(file)
            continue
        config = make_config(model, data=args.data, image_size=args.image_size, steps=args.steps,
                             batch_size=args.batch_size, seed=args.seed, device=args.device,
                             out=os.path.join(args.out, folder_name(name)), sample_every=args.steps,
                             checkpoint_every=args.steps, progress=not args.quiet, **extra)
        print(f"== {name}")
        results[name] = run_training(config, overwrite=True)  # a rerun trains every variant afresh
    return results


def samples(name, args):
    """64 samples of a trained variant, from latent codes drawn with ``args.seed``."""
    model, _ = load_model(os.path.join(args.out, folder_name(name), "checkpoint.npz"))
    z = np.random.default_rng(args.seed).standard_normal((64, latent_size(model))).astype(np.float32)
    return to_unit_range(generate(model, z), model.value_range)


def _cell(final, name, digits):
    """``final[name]`` with ``digits`` decimals, or a dash where the loss does not report it."""
    return f"{final[name]:.{digits}f}" if name in final else "—"


def table(results):
    """A markdown table of the numbers that matter."""
    lines = ["| model | FID-HOG ↓ | D(x) | D(G(z)) | W estimate | s/step |", "|---|---:|---:|---:|---:|---:|"]
    for name, m in results.items():
        final = m["final"]
        lines.append(f"| {name} | {m['fid_hog']:.3f} | {_cell(final, 'D(x)', 2)} | {_cell(final, 'D(G(z))', 2)} "
                     f"| {_cell(final, 'W estimate', 3)} | {m['seconds_per_step']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="lfw-subset")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam's learning rate (all but WGAN-GP)")
    parser.add_argument("--r1-gamma", type=float, default=10.0, help="γ of the DCGAN + R1 row (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=os.path.join("runs", "ablation"))
    parser.add_argument("--image", help="where to write the side-by-side picture (default OUT/ablation.png)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="no training: redraw from the runs already in --out")
    args = parser.parse_args(argv)

    results = run_all(args)
    panels = {f"{name}\nFID-HOG {results[name]['fid_hog']:.3f}": samples(name, args) for name in results}
    title = f"{args.steps} steps, batch {args.batch_size}, seed {args.seed}, {args.data} {args.image_size}x{args.image_size}"
    save_panels(args.image or os.path.join(args.out, "ablation.png"), panels, value_range=(0.0, 1.0), title=title)
    with open(os.path.join(args.out, "ablation.md"), "w") as file:
        file.write(f"{title}\n\n{table(results)}")
    with open(os.path.join(args.out, "ablation.json"), "w") as file:
        json.dump(results, file, indent=2)
    print(table(results))


if __name__ == "__main__":
    main()
