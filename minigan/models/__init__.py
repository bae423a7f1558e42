"""GAN, autoencoder and VAE models, all built from ``minigan.nn`` layers."""

from minigan.models.ae import AE, AutoEncoder, ConvAE
from minigan.models.gan import DCGAN, GAN, MLPGAN
from minigan.models.vae import VAE, ConvVAE, VariationalAutoEncoder

__all__ = ["AE", "AutoEncoder", "ConvAE", "DCGAN", "GAN", "MLPGAN", "VAE", "ConvVAE", "VariationalAutoEncoder"]
