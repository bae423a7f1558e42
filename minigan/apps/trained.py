"""Models for the applications: trained briefly in-process, or loaded from a ``minigan train`` checkpoint.

``train_quick`` builds the model and optimizers exactly as ``minigan train`` would
(``minigan.train.runner.make_config``/``build_model``/``build_optimizers``, so the same learning
rates and Adam betas), narrower (``SMALL``) and with a smaller batch, then runs the training
engineer's loop (``train_gan``, ``train_ae`` or ``train_vae``) on images kept in memory, writing
no files. A few hundred steps give useful features on 32x32 faces, not pretty samples.
"""

import numpy as np

from minigan.apps.features import check_images, to_model_range
from minigan.data import DataLoader
from minigan.train.ae import train_ae
from minigan.train.gan import train_gan
from minigan.train.runner import FAMILIES, build_model, build_optimizers, load_model, make_config
from minigan.train.vae import train_vae

SMALL = {
    "gan": {"nz": 32, "hidden": [128, 256]},
    "dcgan": {"nz": 32, "ngf": 16, "ndf": 16},
    "ae": {"latent_dim": 16, "hidden": [256, 128]},
    "convae": {"latent_dim": 16, "nf": 16},
    "vae": {"latent_dim": 16, "hidden": [256, 128]},
    "convvae": {"latent_dim": 16, "nf": 16},
}


def train_quick(kind, images, steps=300, batch_size=32, seed=0, **options):
    """A ``kind`` model ('gan', 'dcgan', 'ae', 'convae', 'vae', 'convvae') trained ``steps`` steps on
    ``images`` (N, C, H, W) in [0, 1]; ``options`` override ``SMALL[kind]`` and the runner's defaults.

    Returns the model in eval mode; the same ``seed`` gives the same weights, batches and noise.
    """
    images = check_images(images)
    if kind not in SMALL:
        raise ValueError(f"unknown model {kind!r}; expected one of {', '.join(SMALL)}")
    config = make_config(kind, image_size=images.shape[-1], channels=images.shape[1], steps=steps,
                         batch_size=min(batch_size, len(images)), seed=seed, progress=False,
                         **{**SMALL[kind], **options})
    model = build_model(config)
    optimizers = build_optimizers(config, model)
    loader = DataLoader(to_model_range(images, model), config["batch_size"], seed=seed)
    noise = np.random.default_rng([seed, 1])
    family = FAMILIES[kind]
    if family == "gan":
        train_gan(model, loader, optimizers["d"], optimizers["g"], steps, noise)
    elif family == "ae":
        train_ae(model, loader, optimizers["model"], steps)
    else:
        train_vae(model, loader, optimizers["model"], steps, noise, config["reconstruction"], config["beta"])
    return model.eval()


def load_trained(path, image_size=None):
    """``(kind, model)`` from a ``minigan train`` checkpoint, on the CPU, in eval mode.

    With ``image_size`` the checkpoint must have been trained on grayscale images of that size.
    """
    model, config = load_model(path, device="cpu")
    if image_size is not None and (config["image_size"], config["channels"]) != (image_size, 1):
        raise ValueError(f"{path} was trained on {config['channels']}-channel {config['image_size']}x"
                         f"{config['image_size']} images; these applications use grayscale {image_size}x{image_size}"
                         f" (pass --image-size {config['image_size']} for a grayscale checkpoint)")
    return config["model"], model


def obtain_models(images, kinds=(), checkpoints=(), steps=300, seed=0):
    """``{name: model}``: every checkpoint in ``checkpoints`` (named by its kind, numbered when repeated),
    else one model per kind in ``kinds`` trained ``steps`` steps on ``images`` (no labels are used)."""
    images = check_images(images)
    models = {}
    if checkpoints:
        for path in checkpoints:
            kind, model = load_trained(path, images.shape[-1])
            name = kind if kind not in models else f"{kind}#{len(models) + 1}"
            models[name] = model
        return models
    return {kind: train_quick(kind, images, steps, seed=seed) for kind in kinds}
