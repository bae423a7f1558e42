"""The GAN training loop (Goodfellow et al. 2014): ``n_critic`` discriminator steps, then one generator step.

The discriminator (for WGAN-GP: the critic) outputs one real number per image, ``l = D(x)``. The
losses, each a mean over the batch, with ``x`` real and ``x̃ = G(z)`` fake:

- ``'non-saturating'`` and ``'minimax'``: ``l`` is a logit, ``sigmoid(l)`` the probability that the
  image is real; ``BCE(p, t) = -(t log p + (1 - t) log(1 - p))`` is computed from the logits by
  ``F.binary_cross_entropy_with_logits`` (stable for large |l|).
  D: minimise ``BCE(D(x), 1 - s) + BCE(D(x̃), 0)``, i.e. maximise ``log D(x) + log(1 - D(x̃))``;
  ``s`` is one-sided label smoothing (real targets 1 - s).
  G, non-saturating: minimise ``BCE(D(x̃), 1) = -log D(x̃)``, strong gradients while D still
  rejects the fakes. G, minimax: minimise ``log(1 - D(x̃)) = -BCE(D(x̃), 0)``, the original
  objective, whose gradient vanishes when D(x̃) is near 0.
- ``'hinge'`` (Lim & Ye 2017; Miyato et al. 2018): D minimises ``E[max(0, 1 - D(x))] + E[max(0, 1 + D(x̃))]``,
  G minimises ``-E[D(x̃)]``.
- ``'lsgan'`` (Mao et al. 2017, targets 0 for fake and 1 for real): D minimises
  ``½ E[(D(x) - 1)²] + ½ E[D(x̃)²]``, G minimises ``½ E[(D(x̃) - 1)²]``.
- ``'wgan-gp'`` (Gulrajani et al. 2017): the critic minimises ``E[D(x̃)] - E[D(x)] + λ·GP``
  (``gradient_penalty``), G minimises ``-E[D(x̃)]``. ``E[D(x)] - E[D(x̃)]`` is the critic's estimate
  of the Wasserstein-1 distance between the real and generated distributions.

``r1_gamma > 0`` adds the R1 penalty ``γ/2·E‖∇ₓD(x)‖²`` on real images (Mescheder et al. 2018,
``r1_penalty``) to any loss but WGAN-GP, which has its own. Both penalties differentiate a
gradient: ``minigan.autograd.grad(..., create_graph=True)`` returns ∇ₓD as Tensors with a graph,
and the D step's ``backward()`` then takes the mixed second derivatives ∂²D/∂θ∂x (docs/math.md,
"Gradients of gradients").
"""

import numpy as np

import minigan as mg
from minigan import functional as F
from minigan.autograd import grad
from minigan.train.common import batch_tensor, check_finite, normal_noise, record, run_callbacks

BCE_LOSSES = ("non-saturating", "minimax")
LOSSES = BCE_LOSSES + ("hinge", "lsgan", "wgan-gp")


def _targets(logits, value):
    """A Tensor like ``logits`` (shape, dtype, device) filled with ``value``."""
    return mg.tensor(np.full(logits.shape, value), dtype=logits.dtype, device=logits.device)


def _mean_probability(logits):
    """mean of sigmoid(logits), as a float (for reporting D(x) and D(G(z)))."""
    return float(np.mean(1.0 / (1.0 + np.exp(-logits.numpy().astype(np.float64)))))


def _mean(outputs):
    """mean of the raw outputs, as a float (for reporting E[D(x)] and E[D(G(z))])."""
    return float(np.mean(outputs.numpy().astype(np.float64)))


def discriminator_loss(discriminator, real, fake, label_smoothing=0.0, loss="non-saturating"):
    """The D loss of ``loss`` (module docstring) without any penalty, and the two output Tensors
    ``D(real)``, ``D(fake)``."""
    real_logits = discriminator(real)
    fake_logits = discriminator(fake)
    if loss in BCE_LOSSES:
        real_loss = F.binary_cross_entropy_with_logits(real_logits, _targets(real_logits, 1.0 - label_smoothing))
        fake_loss = F.binary_cross_entropy_with_logits(fake_logits, _targets(fake_logits, 0.0))
        return real_loss + fake_loss, real_logits, fake_logits
    if loss == "hinge":
        value = F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    elif loss == "lsgan":
        value = 0.5 * ((real_logits - 1.0) ** 2).mean() + 0.5 * (fake_logits ** 2).mean()
    else:
        value = fake_logits.mean() - real_logits.mean()
    return value, real_logits, fake_logits


def generator_loss(discriminator, fake, loss="non-saturating"):
    """The G loss of ``loss`` (module docstring): ``-log D(fake)`` (non-saturating), ``log(1 - D(fake))``
    (minimax), ``-E[D(fake)]`` (hinge, wgan-gp) or ``½ E[(D(fake) - 1)²]`` (lsgan)."""
    fake_logits = discriminator(fake)
    if loss == "non-saturating":
        return F.binary_cross_entropy_with_logits(fake_logits, _targets(fake_logits, 1.0))
    if loss == "minimax":
        return -F.binary_cross_entropy_with_logits(fake_logits, _targets(fake_logits, 0.0))
    if loss == "lsgan":
        return 0.5 * ((fake_logits - 1.0) ** 2).mean()
    return -fake_logits.mean()


def gradient_penalty(critic, real, fake, rng):
    """WGAN-GP's penalty ``GP = E[(‖∇ₓ̂ D(x̂)‖₂ - 1)²]`` at ``x̂ = ε·x + (1 - ε)·x̃``, one ε ~ U[0, 1] per image
    (drawn from the NumPy Generator ``rng``), on the line between a real image x and a fake x̃.

    ``D(x̂).sum()`` has gradient ∇D(x̂ᵢ) at image i (the images do not interact in a critic without
    batch norm); ``create_graph=True`` keeps it differentiable, so the critic step's backward
    reaches the weights through it."""
    eps = mg.tensor(rng.random((real.shape[0],) + (1,) * (real.ndim - 1)), dtype=real.dtype, device=real.device)
    x_hat = (eps * real + (1.0 - eps) * fake).detach().requires_grad_()
    g = grad(critic(x_hat).sum(), x_hat, create_graph=True)[0]
    return ((g.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def r1_penalty(real, real_logits):
    """R1's ``E‖∇ₓD(x)‖²`` over the real images ``real`` (a Tensor with ``requires_grad``), from their
    outputs ``real_logits = D(real)``; the D step adds ``γ/2`` times it."""
    g = grad(real_logits.sum(), real, create_graph=True)[0]
    return (g * g).sum() * (1.0 / real.shape[0])


def check_gan_options(loss, label_smoothing=0.0, n_critic=1, gp_lambda=10.0, r1_gamma=0.0):
    """ValueError naming the first setting that does not fit ``loss`` (``gp_lambda`` counts for 'wgan-gp' only)."""
    if loss not in LOSSES:
        raise ValueError(f"unknown GAN loss {loss!r}; expected one of {', '.join(LOSSES)}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label smoothing must be in [0, 1), got {label_smoothing}")
    if label_smoothing and loss not in BCE_LOSSES:
        raise ValueError(f"label smoothing changes the BCE targets; loss {loss!r} has none")
    if int(n_critic) != n_critic or n_critic < 1:
        raise ValueError(f"n_critic must be a positive integer, got {n_critic}")
    if loss == "wgan-gp" and (gp_lambda is None or gp_lambda < 0):
        raise ValueError(f"wgan-gp needs a penalty weight gp_lambda >= 0, got {gp_lambda}")
    if r1_gamma < 0:
        raise ValueError(f"the R1 weight gamma must be >= 0 (0: no R1), got {r1_gamma}")
    if r1_gamma and loss == "wgan-gp":
        raise ValueError("r1 cannot be combined with loss 'wgan-gp', which has its own gradient penalty (gp_lambda)")


def train_gan(model, loader, opt_d, opt_g, steps, noise_rng, loss="non-saturating", label_smoothing=0.0,
              device="cpu", start_step=0, history=None, callbacks=(), n_critic=1, gp_lambda=10.0, r1_gamma=0.0):
    """Train ``model`` (a ``minigan.models.GAN``) from step ``start_step`` up to ``steps``.

    A step is ``n_critic`` discriminator updates, each on a fresh real batch and fresh fakes, then one
    generator update on the last of those fakes. ``loader`` gives real batches (``next_batch()``),
    ``noise_rng`` (a NumPy Generator) the noise z and WGAN-GP's ε. ``gp_lambda`` weighs WGAN-GP's
    penalty (loss 'wgan-gp' only), ``r1_gamma > 0`` adds R1 (any other loss).
    After every step each ``callback(step, values)`` runs with the step's ``loss_D`` (penalty
    included), ``loss_G`` and, measured on the last D update's batch before that update: ``D(x)``
    and ``D(G(z))`` (mean probabilities) for the BCE losses, ``E[D(x)]`` and ``E[D(G(z))]`` (mean
    outputs) for the others, ``W estimate`` = E[D(x)] - E[D(G(z))] for WGAN-GP, ``penalty`` (the
    weighted term added to the D loss) when there is one.
    Returns the history: a dict of lists, ``history['step']`` and one list per value.
    Raises ``DivergenceError`` before an update that would use a NaN/inf loss.
    """
    check_gan_options(loss, label_smoothing, n_critic, gp_lambda, r1_gamma)
    history = {} if history is None else history
    generator, discriminator = model.generator, model.discriminator
    model.train()
    for step in range(start_step + 1, steps + 1):
        for _ in range(n_critic):
            # 1. a batch of real images, and as many fakes G(z) from fresh noise z ~ N(0, I);
            #    R1 differentiates D(x) with respect to the real images, so they record a graph
            real = batch_tensor(loader, device)
            z = normal_noise(noise_rng, (real.shape[0], model.nz), device)
            fake = generator(z)
            if r1_gamma:
                real.requires_grad_()

            # 2. the discriminator's loss; fake.detach() keeps this step's gradients out of G
            loss_d, real_logits, fake_logits = discriminator_loss(discriminator, real, fake.detach(),
                                                                  label_smoothing, loss)

            # 3. the penalty, a function of ∇ₓD: λ·GP on interpolates (WGAN-GP) or γ/2·R1 on the real images
            penalty = None
            if loss == "wgan-gp":
                penalty = gp_lambda * gradient_penalty(discriminator, real, fake, noise_rng)
            elif r1_gamma:
                penalty = (r1_gamma / 2) * r1_penalty(real, real_logits)
            if penalty is not None:
                loss_d = loss_d + penalty

            # 4. discriminator update (through the penalty's graph: mixed second derivatives ∂²D/∂θ∂x)
            check_finite(step, {"loss_D": loss_d.item()})
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()

        # 5. generator step: the last fakes through the updated D, gradients flow back into G
        loss_g = generator_loss(discriminator, fake, loss)
        check_finite(step, {"loss_G": loss_g.item()})
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

        values = {"loss_D": loss_d.item(), "loss_G": loss_g.item()}
        if loss in BCE_LOSSES:
            values.update({"D(x)": _mean_probability(real_logits), "D(G(z))": _mean_probability(fake_logits)})
        else:
            values.update({"E[D(x)]": _mean(real_logits), "E[D(G(z))]": _mean(fake_logits)})
        if loss == "wgan-gp":
            values["W estimate"] = values["E[D(x)]"] - values["E[D(G(z))]"]
        if penalty is not None:
            values["penalty"] = penalty.item()
        record(history, step, values)
        run_callbacks(callbacks, step, values)
    return history
