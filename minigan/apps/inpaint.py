"""Face repair: fill a hole in a face with what a trained model believes a face looks like.

Images are in [0, 1]; a hole mask ``h`` is 1 on missing pixels and 0 on known ones. Every
method produces a full image ``y`` and the answer is the paste ``x ⊙ (1 - h) + y ⊙ h``: known
pixels are never changed.

- ``autoencoder_fill`` (AE/VAE reconstruct-and-paste): start from the masked image (hole set to
  mid-grey), reconstruct it with the model (a VAE decodes its mean code), paste, and repeat a few
  times so the reconstruction of the previous guess refines the hole.
- ``latent_optimisation`` (GAN): search the generator's input for the face that agrees with the
  known pixels, ``z* = argmin_z ‖(1 - h) ⊙ (G(z) - x)‖² + λ‖z‖²`` by Adam on z; the gradient
  flows through the generator to its *input* z, the generator's weights are frozen and it runs in
  eval mode (batch norm uses its running statistics). Then paste ``G(z*)``.
- ``telea_fill``: OpenCV's ``cv2.inpaint`` with Telea's fast-marching method, the classical
  baseline that propagates the surrounding pixels inwards.

Scores, on the hole only, per image then averaged over the held-out images:
PSNR = 10 log10(1 / MSE_hole) (peak value 1, higher is better, in dB) and the mean of
scikit-image's SSIM map over the hole pixels (1 = identical local structure).
"""

import os
from contextlib import contextmanager

import cv2
import numpy as np
from skimage.metrics import structural_similarity

import minigan as mg
from minigan import optim
from minigan.apps import evaluation, trained
from minigan.apps.commands import MASK_KINDS, crop_setting, model_kinds
from minigan.apps.figures import save_comparison
from minigan.apps.features import check_images, to_model_range
from minigan.data import load_dataset, to_unit_range
from minigan.train.runner import reconstruct

FILL = 0.5
UNIT_RANGE = (0.0, 1.0)


# --- masks --------------------------------------------------------------------------------------------
def read_mask(path, size):
    """A user mask image: white (> 127) pixels are the hole; it must be ``size`` x ``size``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"mask image not found: {path}")
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"cannot read mask image {path}")
    if image.shape != (size, size):
        raise ValueError(f"mask {path} is {image.shape[1]}x{image.shape[0]}, the images are {size}x{size}")
    hole = (image > 127).astype(np.float32)
    if not hole.any():
        raise ValueError(f"mask {path} has no white (hole) pixels")
    return hole


def make_masks(kind, count, size, seed=0):
    """Holes ``(count, size, size)``: a centred square of half the side, four random squares of a quarter
    of the side (different per image), the left or right half, or a mask image file (same for all)."""
    holes = np.zeros((count, size, size), dtype=np.float32)
    half, quarter = size // 2, max(size // 4, 1)
    if kind == "center":
        start = (size - half) // 2
        holes[:, start:start + half, start:start + half] = 1.0
    elif kind == "left":
        holes[:, :, :half] = 1.0
    elif kind == "right":
        holes[:, :, size - half:] = 1.0
    elif kind == "blocks":
        rng = np.random.default_rng(seed)
        for hole in holes:
            for top, left in rng.integers(0, size - quarter + 1, size=(4, 2)):
                hole[top:top + quarter, left:left + quarter] = 1.0
    elif os.path.splitext(kind)[1]:
        holes[:] = read_mask(kind, size)
    else:
        raise ValueError(f"unknown mask {kind!r}; expected one of {', '.join(MASK_KINDS)} or an image file")
    return holes


def paste(images, filled, holes):
    """``x ⊙ (1 - h) + y ⊙ h`` for images ``(N, C, H, W)`` and holes ``(N, H, W)``."""
    h = holes[:, None]
    return (images * (1.0 - h) + filled * h).astype(np.float32)


def masked(images, holes):
    """The input the methods see: the hole set to mid-grey (``FILL``)."""
    return paste(images, np.full_like(images, FILL), holes)


# --- methods ------------------------------------------------------------------------------------------
def autoencoder_fill(model, images, holes, iterations=5):
    """Reconstruct-and-paste ``iterations`` times, starting from the masked images."""
    current = masked(images, holes)
    for _ in range(iterations):
        output = reconstruct(model, to_model_range(current, model))
        current = paste(images, to_unit_range(output, model.value_range), holes)
    return current


@contextmanager
def frozen(module):
    """Eval mode and ``requires_grad = False`` on every parameter, restored afterwards."""
    params = module.parameters()
    flags, was_training = [p.requires_grad for p in params], module.training
    for p in params:
        p.requires_grad = False
    module.eval()
    try:
        yield module
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad = flag
        module.train(was_training)


def latent_optimisation(gan, images, holes, steps=300, lr=0.05, weight=1e-3, seed=0):
    """``G(z*)`` pasted into the holes, with ``z* = argmin ‖(1 - h) ⊙ (G(z) - x)‖² + λ‖z‖²`` (Adam on z).

    The loss is summed over the images (each z only affects its own term). Returns the pasted
    images and the masked error ``mean over known pixels of (G(z) - x)²`` (in [0, 1] units) per step.
    """
    if steps < 1:
        raise ValueError(f"latent optimisation needs at least one step, got {steps}")
    images, holes = check_images(images), np.asarray(holes, dtype=np.float32)
    lo, hi = gan.value_range
    target = mg.tensor(to_model_range(images, gan))
    known = mg.tensor(np.repeat(1.0 - holes[:, None], images.shape[1], axis=1))
    known_count = float(known.numpy().sum())
    z = mg.tensor(np.random.default_rng(seed).standard_normal((len(images), gan.nz)).astype(np.float32),
                  requires_grad=True)
    optimizer = optim.Adam([z], lr=lr)
    errors = []
    with frozen(gan.generator) as generator:
        for _ in range(steps):
            residual = (generator(z) - target) * known
            data_term = (residual * residual).sum()
            loss = data_term + (z * z).sum() * weight
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            errors.append(data_term.item() / known_count / (hi - lo) ** 2)
        with mg.no_grad():
            final = generator(z).numpy()
    return paste(images, to_unit_range(final, gan.value_range), holes), errors


def telea_fill(images, holes, radius=3):
    """OpenCV Telea inpainting of each channel (8-bit, as ``cv2.inpaint`` needs), back to [0, 1]."""
    out = np.empty_like(images)
    for i, (image, hole) in enumerate(zip(images, holes)):
        mask = (hole > 0).astype(np.uint8)
        for c, channel in enumerate(image):
            pixels = np.round(np.clip(channel, 0.0, 1.0) * 255.0).astype(np.uint8)
            out[i, c] = cv2.inpaint(pixels, mask, radius, cv2.INPAINT_TELEA).astype(np.float32) / 255.0
    return paste(images, out, holes)


# --- scores -------------------------------------------------------------------------------------------
def hole_psnr(originals, restored, holes):
    """Mean over images of ``10 log10(1 / MSE over the hole pixels)`` in dB (pixels in [0, 1])."""
    h = np.broadcast_to(holes[:, None], originals.shape)
    squared = (originals.astype(np.float64) - restored) ** 2
    mse = (squared * h).sum(axis=(1, 2, 3)) / h.sum(axis=(1, 2, 3))
    return float(np.mean(10.0 * np.log10(1.0 / np.maximum(mse, 1e-12))))


def hole_ssim(originals, restored, holes):
    """Mean over images of the SSIM map (scikit-image, 7x7 windows, channel-averaged) over the hole pixels."""
    values = []
    for original, image, hole in zip(originals, restored, holes):
        maps = [structural_similarity(o, r, data_range=1.0, full=True)[1] for o, r in zip(original, image)]
        values.append(float(np.mean(np.mean(maps, axis=0)[hole > 0])))
    return float(np.mean(values))


def score(originals, results, holes):
    """``{method: {'psnr', 'ssim'}}`` for ``results`` (method -> restored images)."""
    return {name: {"psnr": hole_psnr(originals, restored, holes), "ssim": hole_ssim(originals, restored, holes)}
            for name, restored in results.items()}


def inpaint_all(models, images, holes, latent_steps=300, latent_weight=1e-3, seed=0):
    """``(results, curves)``: restored images per method (the masked input first, Telea last) and the
    latent-optimisation error curve of each GAN."""
    results, curves = {"masked input": masked(images, holes)}, {}
    for name, model in models.items():
        if hasattr(model, "generator"):
            results[f"{name} latent opt."], curves[name] = latent_optimisation(
                model, images, holes, latent_steps, weight=latent_weight, seed=seed)
        else:
            results[f"{name} paste"] = autoencoder_fill(model, images, holes)
    results["telea (opencv)"] = telea_fill(images, holes)
    return results, curves


# --- command line -------------------------------------------------------------------------------------
def run_command(args):
    """``minigan inpaint``: inpaint.png, inpaint.json and inpaint.md in ``--out``; the table on stdout."""
    data = load_dataset(args.data, args.image_size, 1, UNIT_RANGE, crop_setting(args), cache_dir=args.cache_dir)
    held_out, training = data.split(args.held_out, seed=args.seed)
    holes = make_masks(args.mask, len(held_out), args.image_size, args.seed)
    models = trained.obtain_models(training.images, model_kinds(args.models), args.checkpoint, args.steps,
                                   args.seed)
    results, curves = inpaint_all(models, held_out.images, holes, args.latent_steps, args.latent_weight, args.seed)
    scores = score(held_out.images, results, holes)
    table = evaluation.markdown_table(["method", "PSNR in the hole (dB)", "SSIM in the hole"],
                                      [(name, s["psnr"], s["ssim"]) for name, s in scores.items()])
    os.makedirs(args.out, exist_ok=True)
    shown = slice(0, args.show)
    save_comparison(os.path.join(args.out, "inpaint.png"),
                    {"original": held_out.images[shown], **{name: r[shown] for name, r in results.items()}},
                    title=f"held-out faces, mask: {os.path.basename(args.mask)}")
    evaluation.write_json(os.path.join(args.out, "inpaint.json"), {
        "mask": args.mask, "held_out_images": len(held_out), "training_images": len(training),
        "models": list(models), "trained_steps": None if args.checkpoint else args.steps,
        "latent_steps": args.latent_steps, "latent_weight": args.latent_weight, "scores": scores,
        "latent_error_curves": curves})
    with open(os.path.join(args.out, "inpaint.md"), "w") as file:
        file.write(table + "\n")
    print(table)
    print(f"minigan: wrote inpaint.png, inpaint.json and inpaint.md to {args.out}")
    return 0
