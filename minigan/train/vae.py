"""The VAE training loop: minimise the negative evidence lower bound, averaged over the batch.

Per image, ``loss = reconstruction(x̂, x) + beta * KL(N(mu, exp(logvar)) || N(0, I))`` with

- ``reconstruction='bce'``: ``Σ_pixels -(x log x̂ + (1 - x) log(1 - x̂))`` (a Bernoulli decoder;
  needs a sigmoid output and images in [0, 1]);
- ``reconstruction='mse'``: ``Σ_pixels (x̂ - x)²`` (a Gaussian decoder with fixed variance);
- ``KL = -½ Σ_j (1 + logvar_j - mu_j² - exp(logvar_j))`` (``F.kl_normal``).

Sums run over pixels and latent dimensions, then everything is divided by the batch size.
"""

from minigan import functional as F
from minigan.train.common import batch_tensor, check_finite, normal_noise, record, run_callbacks

RECONSTRUCTION_LOSSES = {"bce": F.binary_cross_entropy, "mse": F.mse_loss}


def check_reconstruction(reconstruction, output_activation):
    """BCE needs a sigmoid decoder (outputs and images in [0, 1]); the name must be known."""
    if reconstruction not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"unknown reconstruction loss {reconstruction!r}; expected one of {sorted(RECONSTRUCTION_LOSSES)}")
    if reconstruction == "bce" and output_activation != "sigmoid":
        raise ValueError("the BCE reconstruction loss needs output_activation='sigmoid' (images in [0, 1])")


def vae_loss(model, x, eps, reconstruction="bce", beta=1.0):
    """``(loss, reconstruction term, KL term)``, each summed per image and averaged over the batch.

    ``eps`` is the standard normal noise of the reparameterisation ``z = mu + exp(½ logvar) * eps``.
    """
    n = x.shape[0]
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu, logvar, eps)
    x_hat = model.decode(z)
    rec = RECONSTRUCTION_LOSSES[reconstruction](x_hat, x, reduction="sum") / n
    kl = F.kl_normal(mu, logvar, reduction="sum") / n
    return rec + kl * beta, rec, kl


def train_vae(model, loader, optimizer, steps, noise_rng, reconstruction="bce", beta=1.0, device="cpu",
              start_step=0, history=None, callbacks=()):
    """Train a ``VariationalAutoEncoder`` from step ``start_step`` up to ``steps``.

    ``noise_rng`` (a NumPy Generator) draws eps. History columns: ``loss``, ``reconstruction``, ``kl``.
    After every step each ``callback(step, values)`` runs. Raises ``DivergenceError`` on a NaN/inf loss.
    """
    check_reconstruction(reconstruction, model.output_activation)
    history = {} if history is None else history
    model.train()
    for step in range(start_step + 1, steps + 1):
        # 1. a batch, noise for the reparameterisation, and the loss
        x = batch_tensor(loader, device)
        eps = normal_noise(noise_rng, (x.shape[0], model.latent_dim), device)
        loss, rec, kl = vae_loss(model, x, eps, reconstruction, beta)
        check_finite(step, {"loss": loss.item()})

        # 2. one optimizer step
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        values = {"loss": loss.item(), "reconstruction": rec.item(), "kl": kl.item()}
        record(history, step, values)
        run_callbacks(callbacks, step, values)
    return history
