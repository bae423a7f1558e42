"""Variational autoencoders (Kingma & Welling).

The encoder maps x to ``2 * latent_dim`` numbers, split into the mean ``mu`` and the log-variance
``logvar`` of q(z|x) = N(mu, diag(exp(logvar))). A sample is drawn with the
reparameterisation ``z = mu + exp(½ logvar) * eps``, ``eps ~ N(0, I)``, so gradients flow into
mu and logvar. The loss (``minigan.train.vae``) is, per image,

    reconstruction(x̂, x) + beta * KL(q(z|x) || N(0, I)),
    KL = -½ Σ_j (1 + logvar_j - mu_j² - exp(logvar_j))   (``F.kl_normal``).
"""

from minigan.models.ae import AutoEncoder
from minigan.models.layers import conv_decoder, conv_encoder, mlp_decoder, mlp_encoder


class VariationalAutoEncoder(AutoEncoder):
    """Base class: an ``encoder`` to (mu, logvar) (``2 * latent_dim`` outputs), a ``decoder`` from z."""

    def encode(self, x):
        """``(mu, logvar)``, each ``(N, latent_dim)``."""
        h = self.encoder(x)
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def reparameterize(self, mu, logvar, eps):
        """``z = mu + exp(½ logvar) * eps``."""
        return mu + (logvar * 0.5).exp() * eps

    def forward(self, x, eps=None):
        """``(x̂, mu, logvar)``; with ``eps=None`` the decoder gets ``z = mu`` (no sampling)."""
        mu, logvar = self.encode(x)
        z = mu if eps is None else self.reparameterize(mu, logvar, eps)
        return self.decode(z), mu, logvar


class VAE(VariationalAutoEncoder):
    """MLP VAE: flatten -> Linear/ReLU stack -> (mu, logvar); decoder mirrors it -> tanh or sigmoid."""

    def __init__(self, image_shape=(1, 32, 32), latent_dim=16, hidden=(512, 256), output_activation="sigmoid"):
        encoder = mlp_encoder(image_shape, hidden, 2 * latent_dim)
        decoder = mlp_decoder(latent_dim, hidden, image_shape, output_activation)
        super().__init__(encoder, decoder, latent_dim, output_activation)


class ConvVAE(VariationalAutoEncoder):
    """Convolutional VAE: the ``ConvAE`` encoder with ``2 * latent_dim`` outputs, the same decoder."""

    def __init__(self, image_size=32, channels=1, latent_dim=16, nf=32, output_activation="sigmoid"):
        encoder = conv_encoder(nf, channels, image_size, outputs=2 * latent_dim)
        decoder = conv_decoder(latent_dim, nf, channels, image_size, output_activation)
        super().__init__(encoder, decoder, latent_dim, output_activation)
