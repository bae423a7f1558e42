"""The GAN training loop (Goodfellow et al. 2014), one discriminator step and one generator step per batch.

The discriminator outputs logits ``l``; ``D(x) = sigmoid(l)`` and every loss below is a mean over
the batch of a binary cross-entropy ``BCE(p, t) = -(t log p + (1 - t) log(1 - p))``, computed from
the logits with ``F.binary_cross_entropy_with_logits`` (stable for large |l|).

- D step: minimise ``BCE(D(x), 1 - s) + BCE(D(G(z)), 0)``, i.e. maximise
  ``log D(x) + log(1 - D(G(z)))``; ``s`` is one-sided label smoothing (real targets 1 - s).
- G step, ``loss='non-saturating'``: minimise ``BCE(D(G(z)), 1) = -log D(G(z))``, strong gradients
  while D still rejects the fakes.
- G step, ``loss='minimax'``: minimise ``log(1 - D(G(z))) = -BCE(D(G(z)), 0)``, the original
  objective, whose gradient vanishes when D(G(z)) is near 0.
"""

import numpy as np

import minigan as mg
from minigan import functional as F
from minigan.train.common import batch_tensor, check_finite, normal_noise, record, run_callbacks

GENERATOR_LOSSES = ("non-saturating", "minimax")


def _targets(logits, value):
    """A Tensor like ``logits`` (shape, dtype, device) filled with ``value``."""
    return mg.tensor(np.full(logits.shape, value), dtype=logits.dtype, device=logits.device)


def _mean_probability(logits):
    """mean of sigmoid(logits), as a float (for reporting D(x) and D(G(z)))."""
    return float(np.mean(1.0 / (1.0 + np.exp(-logits.numpy().astype(np.float64)))))


def discriminator_loss(discriminator, real, fake, label_smoothing=0.0):
    """``BCE(D(real), 1 - s) + BCE(D(fake), 0)`` and the two logit Tensors."""
    real_logits = discriminator(real)
    fake_logits = discriminator(fake)
    real_loss = F.binary_cross_entropy_with_logits(real_logits, _targets(real_logits, 1.0 - label_smoothing))
    fake_loss = F.binary_cross_entropy_with_logits(fake_logits, _targets(fake_logits, 0.0))
    return real_loss + fake_loss, real_logits, fake_logits


def generator_loss(discriminator, fake, loss="non-saturating"):
    """``-log D(fake)`` (non-saturating) or ``log(1 - D(fake))`` (minimax), averaged over the batch."""
    fake_logits = discriminator(fake)
    if loss == "non-saturating":
        return F.binary_cross_entropy_with_logits(fake_logits, _targets(fake_logits, 1.0))
    return -F.binary_cross_entropy_with_logits(fake_logits, _targets(fake_logits, 0.0))


def train_gan(model, loader, opt_d, opt_g, steps, noise_rng, loss="non-saturating", label_smoothing=0.0,
              device="cpu", start_step=0, history=None, callbacks=()):
    """Train ``model`` (a ``minigan.models.GAN``) from step ``start_step`` up to ``steps``.

    ``loader`` gives real batches (``next_batch()``), ``noise_rng`` (a NumPy Generator) the noise z.
    After every step each ``callback(step, values)`` runs with the step's ``loss_D``, ``loss_G``,
    ``D(x)`` and ``D(G(z))`` (the latter two measured before the D update).
    Returns the history: a dict of lists, ``history['step']`` and one list per value.
    Raises ``DivergenceError`` before an update that would use a NaN/inf loss.
    """
    if loss not in GENERATOR_LOSSES:
        raise ValueError(f"unknown generator loss {loss!r}; expected one of {GENERATOR_LOSSES}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label smoothing must be in [0, 1), got {label_smoothing}")
    history = {} if history is None else history
    generator, discriminator = model.generator, model.discriminator
    model.train()
    for step in range(start_step + 1, steps + 1):
        # 1. a batch of real images, and as many fakes G(z) from fresh noise z ~ N(0, I)
        real = batch_tensor(loader, device)
        z = normal_noise(noise_rng, (real.shape[0], model.nz), device)
        fake = generator(z)

        # 2. discriminator step; fake.detach() keeps this step's gradients out of G
        loss_d, real_logits, fake_logits = discriminator_loss(discriminator, real, fake.detach(), label_smoothing)
        check_finite(step, {"loss_D": loss_d.item()})
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()

        # 3. generator step: the same fakes through the updated D, gradients flow back into G
        loss_g = generator_loss(discriminator, fake, loss)
        check_finite(step, {"loss_G": loss_g.item()})
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

        values = {"loss_D": loss_d.item(), "loss_G": loss_g.item(),
                  "D(x)": _mean_probability(real_logits), "D(G(z))": _mean_probability(fake_logits)}
        record(history, step, values)
        run_callbacks(callbacks, step, values)
    return history
