"""The applications' subcommands: ``minigan recognize | inpaint | probe | attribute``.

Only argparse is imported here, so ``minigan --help`` and the training commands stay fast; a
subcommand imports its module (scikit-learn, scikit-image, the models) when it runs.
"""

import argparse
import importlib

MASK_KINDS = ("center", "blocks", "left", "right")


def positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def model_kinds(text):
    """'convae,vae' -> ('convae', 'vae')."""
    return tuple(kind.strip() for kind in text.split(",") if kind.strip())


def add_model_options(parser, default_models):
    """Options shared by the applications: which models (trained here, or checkpoints), size, steps, seed."""
    parser.add_argument("--checkpoint", action="append", default=[],
                        help="a checkpoint.npz from minigan train (repeatable); replaces --models")
    parser.add_argument("--models", default=default_models,
                        help=f"models to train here when no checkpoint is given, comma-separated, '' for none "
                             f"(default {default_models})")
    parser.add_argument("--steps", type=positive_int, default=300,
                        help="training steps per model trained here (default 300)")
    parser.add_argument("--image-size", type=positive_int, default=32, help="square image size (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of training, folds, pairs and masks (default 0)")


def add_crop_options(parser):
    """``--center-crop SIZE`` or ``--no-crop`` (``crop_setting`` turns them into the loaders' ``center_crop``),
    and ``--cache-dir``."""
    crop = parser.add_mutually_exclusive_group()
    crop.add_argument("--center-crop", type=positive_int, metavar="SIZE",
                      help="crop a central SIZE x SIZE square before resizing (default: the largest central square, "
                           "e.g. 178x178 of a 178x218 CelebA image)")
    crop.add_argument("--no-crop", action="store_true", help="squash the whole image to a square instead of cropping")
    add_cache_dir_option(parser)


def crop_setting(args):
    """``center_crop`` for the loaders: None with ``--no-crop``, else ``--center-crop``'s size, else 'square'."""
    if args.no_crop:
        return None
    return args.center_crop or "square"


def add_cache_dir_option(parser):
    parser.add_argument("--cache-dir", help="where decoded image folders are cached "
                                            "(default $MINIGAN_CACHE, else ~/.cache/minigan)")


def runner(module):
    """``run(args)`` that imports ``minigan.apps.<module>`` and calls its ``run_command(args)``."""
    def run(args):
        return importlib.import_module(f"minigan.apps.{module}").run_command(args)

    return run


def add_recognize(subparsers):
    parser = subparsers.add_parser("recognize", help="face/non-face and identity recognition from learned features")
    parser.add_argument("--data", default="lfw-subset",
                        help="'lfw-subset' (face vs non-face, default) or a folder with one subfolder per person")
    parser.add_argument("--pairs", help="LFW pairs.txt for verification (with a folder in the LFW layout)")
    add_model_options(parser, default_models="convae,vae,dcgan")
    add_crop_options(parser)
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds of the linear probe (default 5)")
    parser.add_argument("--out", default="runs/recognition", help="output folder (default runs/recognition)")
    parser.set_defaults(run=runner("recognition"))


def add_inpaint(subparsers):
    parser = subparsers.add_parser("inpaint", help="repair masked faces: AE/VAE paste, GAN latent search, OpenCV")
    parser.add_argument("--data", default="lfw-subset", help="'lfw-subset' (default) or a folder of face images")
    add_crop_options(parser)
    parser.add_argument("--mask", default="center",
                        help=f"{', '.join(MASK_KINDS)} (default center) or a mask image (white = hole)")
    add_model_options(parser, default_models="convae,vae,dcgan")
    parser.add_argument("--held-out", type=float, default=0.2,
                        help="fraction of the images kept out of training and scored (default 0.2)")
    parser.add_argument("--latent-steps", type=positive_int, default=300, help="Adam steps on z (default 300)")
    parser.add_argument("--latent-weight", type=float, default=1e-3, help="λ of the ‖z‖² term (default 1e-3)")
    parser.add_argument("--show", type=positive_int, default=8, help="held-out faces in the picture (default 8)")
    parser.add_argument("--out", default="runs/inpaint", help="output folder (default runs/inpaint)")
    parser.set_defaults(run=runner("inpaint"))


def add_probe(subparsers):
    parser = subparsers.add_parser("probe", help="linear probe of VAE latents vs pixels, PCA, HOG on a labelled folder")
    parser.add_argument("folder", help="a folder with one subfolder of images per class (e.g. smile/, frown/)")
    add_model_options(parser, default_models="convvae,vae")
    add_crop_options(parser)
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--out", default="runs/probe", help="output folder (default runs/probe)")
    parser.set_defaults(run=runner("probe"))


def add_attribute(subparsers):
    parser = subparsers.add_parser("attribute", help="add (mean latent of one label - another) to faces and decode")
    parser.add_argument("folder", help="a folder with one subfolder of images per label")
    parser.add_argument("--source", required=True, help="label the edited faces come from (e.g. frown)")
    parser.add_argument("--target", required=True, help="label to move them towards (e.g. smile)")
    add_model_options(parser, default_models="convvae")
    add_crop_options(parser)
    parser.add_argument("--strengths", default="0,0.5,1,1.5,2",
                        help="multiples s of the vector (default 0,0.5,1,1.5,2)")
    parser.add_argument("--n", type=positive_int, default=6, help="edited faces in the picture (default 6)")
    parser.add_argument("--out", default="runs/attribute.png", help="output picture (default runs/attribute.png)")
    parser.set_defaults(run=runner("latent"))


def register(subparsers):
    """Add ``recognize``, ``inpaint``, ``probe`` and ``attribute`` to the ``minigan`` command."""
    for add in (add_recognize, add_inpaint, add_probe, add_attribute):
        add(subparsers)
