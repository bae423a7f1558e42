"""Autoencoders: ``x̂ = decoder(encoder(x))``, trained to minimise ``MSE(x̂, x) = mean (x̂ - x)²``."""

from minigan import nn
from minigan.data import value_range_for
from minigan.models.layers import conv_decoder, conv_encoder, mlp_decoder, mlp_encoder


class AutoEncoder(nn.Module):
    """Base class: an ``encoder`` to ``latent_dim`` numbers and a ``decoder`` back to an image."""

    def __init__(self, encoder, decoder, latent_dim, output_activation):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.output_activation = output_activation
        self.value_range = value_range_for(output_activation)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        """The reconstruction ``decoder(encoder(x))``."""
        return self.decode(self.encode(x))


class AE(AutoEncoder):
    """MLP autoencoder: flatten -> Linear/ReLU stack -> z -> mirrored Linear/ReLU stack -> tanh or sigmoid."""

    def __init__(self, image_shape=(1, 32, 32), latent_dim=32, hidden=(512, 256), output_activation="sigmoid"):
        encoder = mlp_encoder(image_shape, hidden, latent_dim)
        decoder = mlp_decoder(latent_dim, hidden, image_shape, output_activation)
        super().__init__(encoder, decoder, latent_dim, output_activation)


class ConvAE(AutoEncoder):
    """Convolutional autoencoder: the DCGAN discriminator body as encoder (to ``latent_dim`` outputs),
    the DCGAN generator body as decoder; for square images of size 16, 32, 64 or 128."""

    def __init__(self, image_size=32, channels=1, latent_dim=32, nf=32, output_activation="sigmoid"):
        encoder = conv_encoder(nf, channels, image_size, outputs=latent_dim)
        decoder = conv_decoder(latent_dim, nf, channels, image_size, output_activation)
        super().__init__(encoder, decoder, latent_dim, output_activation)
