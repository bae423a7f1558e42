"""Model shapes, output ranges and initialisation."""

import numpy as np
import pytest

import minigan as mg
from minigan import nn
from minigan.models import AE, DCGAN, MLPGAN, VAE, ConvAE, ConvVAE


def _noise(n, d, seed=0):
    return mg.randn(n, d, seed=seed)


@pytest.mark.parametrize("activation, low, high", [("tanh", -1.0, 1.0), ("sigmoid", 0.0, 1.0)])
def test_mlpgan_shapes_and_output_range(activation, low, high):
    gan = MLPGAN((1, 6, 5), nz=4, hidden=(8, 16), output_activation=activation)
    images = gan(_noise(3, 4)).numpy()
    assert images.shape == (3, 1, 6, 5)
    assert images.min() >= low and images.max() <= high
    assert gan.value_range == (low, high)
    assert gan.discriminator(mg.tensor(images)).shape == (3, 1)
    with pytest.raises(ValueError, match="output activation"):
        MLPGAN((1, 4, 4), output_activation="relu")


def test_mlpgan_uses_relu_in_g_and_leaky_relu_in_d():
    gan = MLPGAN((1, 4, 4), nz=2, hidden=(8,))
    g_types = {type(m) for m in gan.generator.modules()}
    d_types = {type(m) for m in gan.discriminator.modules()}
    assert nn.ReLU in g_types and nn.LeakyReLU not in g_types
    assert nn.LeakyReLU in d_types and nn.ReLU not in d_types
    assert all(m.negative_slope == 0.2 for m in gan.discriminator.modules() if isinstance(m, nn.LeakyReLU))


@pytest.mark.parametrize("size, channels", [(16, 1), (32, 3), (64, 1)])
def test_dcgan_shapes(size, channels):
    gan = DCGAN(size, channels, nz=5, ngf=4, ndf=4)
    images = gan(_noise(2, 5))
    assert images.shape == (2, channels, size, size)
    assert np.abs(images.numpy()).max() <= 1.0
    assert gan.discriminator(images).shape == (2, 1)


def test_dcgan_rejects_unsupported_sizes():
    with pytest.raises(ValueError, match="24"):
        DCGAN(24)


def test_dcgan_init_is_normal_0_002():
    mg.manual_seed(0)
    gan = DCGAN(32, 1, nz=100, ngf=32, ndf=32)
    convs = [m.weight.numpy().ravel() for m in gan.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    weights = np.concatenate(convs)
    assert abs(weights.mean()) < 1e-3 and weights.std() == pytest.approx(0.02, rel=0.05)
    gammas = np.concatenate([m.weight.numpy() for m in gan.modules() if isinstance(m, nn.BatchNorm2d)])
    assert gammas.mean() == pytest.approx(1.0, abs=0.01) and 0.005 < gammas.std() < 0.04
    assert any(isinstance(m, nn.BatchNorm2d) for m in gan.discriminator.modules())


@pytest.mark.parametrize("make", [lambda: AE((1, 8, 8), latent_dim=3, hidden=(16,)),
                                  lambda: ConvAE(16, 3, latent_dim=3, nf=4)])
def test_autoencoder_shapes(make):
    model = make()
    x = mg.rand(2, *((1, 8, 8) if isinstance(model, AE) else (3, 16, 16)), seed=1)
    assert model.encode(x).shape == (2, 3)
    out = model(x).numpy()
    assert out.shape == x.shape and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("make, shape", [(lambda: VAE((1, 8, 8), latent_dim=3, hidden=(16,)), (1, 8, 8)),
                                         (lambda: ConvVAE(16, 1, latent_dim=3, nf=4), (1, 16, 16))])
def test_vae_shapes_and_reparameterisation(make, shape):
    model = make()
    x = mg.rand(2, *shape, seed=1)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (2, 3)
    eps = mg.randn(2, 3, seed=2)
    z = model.reparameterize(mu, logvar, eps).numpy()
    np.testing.assert_allclose(z, mu.numpy() + np.exp(0.5 * logvar.numpy()) * eps.numpy(), rtol=1e-5, atol=1e-6)
    model.eval()
    x_hat, mu2, _ = model(x)
    assert x_hat.shape == (2, *shape)
    np.testing.assert_allclose(x_hat.numpy(), model.decode(mu2).numpy(), rtol=1e-6)
