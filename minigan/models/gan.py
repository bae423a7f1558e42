"""GANs built from ``minigan.nn``: an MLP GAN and a DCGAN.

A GAN here is one Module holding two sub-modules, ``generator`` (noise ``z (N, nz)`` -> image
``(N, C, H, W)``) and ``discriminator`` (image -> one *logit* per image, ``(N, 1)``). The
discriminator's probability that an image is real is ``D(x) = sigmoid(logit)``; the training
loop applies the sigmoid inside ``F.binary_cross_entropy_with_logits``, which is the
numerically stable form of ``BCE(sigmoid(logit), target)``.
"""

from minigan import nn
from minigan.data import value_range_for
from minigan.models.layers import check_image_shape, conv_decoder, conv_encoder, mlp, output_activation_layer

D_NORMS = ("batch", "none")  # the DCGAN discriminator's normalisation


class GAN(nn.Module):
    """Base class: ``generator``, ``discriminator``, ``nz`` and the pixel range of generated images."""

    def __init__(self, generator, discriminator, nz, output_activation):
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator
        self.nz = nz
        self.output_activation = output_activation
        self.value_range = value_range_for(output_activation)

    def forward(self, z):
        """Generated images ``G(z)``."""
        return self.generator(z)


class MLPGAN(GAN):
    """Fully connected GAN.

    G: z -> [Linear -> ReLU] per hidden size -> Linear -> tanh or sigmoid -> (C, H, W).
    D: flatten -> [Linear -> LeakyReLU(0.2)] per hidden size, reversed -> Linear -> 1 logit.
    ``output_activation='tanh'`` pairs with images in [-1, 1], ``'sigmoid'`` with [0, 1].
    """

    def __init__(self, image_shape=(1, 32, 32), nz=64, hidden=(256, 512), output_activation="tanh"):
        check_image_shape(image_shape)
        channels, height, width = image_shape
        pixels = channels * height * width
        generator = nn.Sequential(
            mlp([nz, *hidden, pixels], nn.ReLU),
            output_activation_layer(output_activation),
            nn.Unflatten(1, tuple(image_shape)),
        )
        discriminator = nn.Sequential(nn.Flatten(), mlp([pixels, *reversed(hidden), 1], lambda: nn.LeakyReLU(0.2)))
        super().__init__(generator, discriminator, nz, output_activation)


class DCGAN(GAN):
    """Radford et al.'s DCGAN for square images of size 16, 32, 64 or 128 with a tanh output.

    G is ``layers.conv_decoder`` (transposed convs, BatchNorm, ReLU), D is ``layers.conv_encoder``
    (strided convs, BatchNorm, LeakyReLU(0.2)) with one output. Conv and transposed-conv weights
    start as N(0, 0.02²), BatchNorm weights as N(1, 0.02²) with zero bias.
    ``d_norm='none'`` builds D without BatchNorm: the critic of WGAN-GP (Gulrajani et al. 2017, who
    use no normalisation or layer norm there, since the penalty is taken per image).
    """

    def __init__(self, image_size=32, channels=1, nz=100, ngf=32, ndf=32, d_norm="batch"):
        if min(channels, nz, ngf, ndf) < 1:
            raise ValueError(f"channels, nz, ngf, ndf must be positive; got {channels}, {nz}, {ngf}, {ndf}")
        if d_norm not in D_NORMS:
            raise ValueError(f"d_norm must be one of {', '.join(D_NORMS)}; got {d_norm!r}")
        generator = conv_decoder(nz, ngf, channels, image_size, "tanh")
        discriminator = conv_encoder(ndf, channels, image_size, outputs=1, batch_norm=d_norm == "batch")
        super().__init__(generator, discriminator, nz, "tanh")
        nn.init.dcgan_init_(self)
