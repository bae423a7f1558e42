"""PyTorch-shaped GAN / AE / VAE programs run on minigan through ``import minigan as torch``.

Each program below is written the way the popular PyTorch GAN example collections write them
(``Variable``, ``Tensor = torch.FloatTensor``, ``weights_init`` through ``Module.apply``,
``p.data.clamp_``, ``autograd.grad(create_graph=True)``, ``itertools.chain`` of parameters, ...),
runs a few steps on small synthetic images and checks something meaningful: finite losses that
change, parameters that move, shapes. The last test runs one program step by step on minigan and
on PyTorch from the same initial weights and inputs and compares the losses.
"""

import itertools

import numpy as np
import pytest

import minigan as torch
import minigan.nn as nn
import minigan.nn.functional as F
import minigan.optim as optim
from minigan import autograd
from minigan.autograd import Variable
from minigan.utils.data import DataLoader, TensorDataset

Tensor = torch.cuda.FloatTensor if torch.cuda.is_available() else torch.FloatTensor
LongTensor = torch.cuda.LongTensor if torch.cuda.is_available() else torch.LongTensor
device = torch.device("cpu")  # the programs below run on the CPU; Tensor above is what they would write


def blob_images(n, channels=1, size=16, seed=0):
    """n smooth random images in [-1, 1] (a Gaussian blob each), float32 (n, C, size, size)."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-1, 1, size)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    centres = rng.uniform(-0.5, 0.5, (n, channels, 2, 1, 1))
    blob = np.exp(-((yy - centres[:, :, 0]) ** 2 + (xx - centres[:, :, 1]) ** 2) / 0.1)
    return (2 * blob - 1).astype(np.float32)


def loader_of(images, labels=None, batch_size=8):
    tensors = (torch.from_numpy(images),) if labels is None else (torch.from_numpy(images), torch.from_numpy(labels))
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=True, drop_last=True)


def snapshot(module):
    return [p.detach().numpy().copy() for p in module.parameters()]


def moved(before, module):
    return all(not np.array_equal(a, p.detach().numpy()) for a, p in zip(before, module.parameters()))


def check_losses(losses):
    losses = np.asarray(losses, dtype=np.float64)
    assert np.all(np.isfinite(losses)), losses
    assert len(set(np.round(losses, 7).tolist())) > 1, f"the losses never changed: {losses}"


# --- vanilla GAN: MLPs on flattened images, BCELoss ---------------------------------------------------
img_shape = (1, 16, 16)
latent_dim = 8


class MLPGenerator(nn.Module):
    def __init__(self):
        super(MLPGenerator, self).__init__()

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 32, normalize=False),
            *block(32, 64),
            nn.Linear(64, int(np.prod(img_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.size(0), *img_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, sigmoid=True):
        super(MLPDiscriminator, self).__init__()
        layers = [nn.Linear(int(np.prod(img_shape)), 64), nn.LeakyReLU(0.2, inplace=True), nn.Linear(64, 32),
                  nn.LeakyReLU(0.2, inplace=True), nn.Linear(32, 1)]
        self.model = nn.Sequential(*layers, nn.Sigmoid()) if sigmoid else nn.Sequential(*layers)

    def forward(self, img):
        img_flat = img.view(img.size(0), -1)
        return self.model(img_flat)


def adversarial_training(generator, discriminator, adversarial_loss, images):
    """The loop the vanilla GAN (BCELoss) and the LSGAN (MSELoss) programs share; they differ in
    their networks and their loss. Returns the losses per step and the last batches."""
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g_losses, d_losses = [], []
    for i, (imgs,) in enumerate(loader_of(images)):
        valid = Variable(Tensor(imgs.size(0), 1).fill_(1.0), requires_grad=False)
        fake = Variable(Tensor(imgs.size(0), 1).fill_(0.0), requires_grad=False)
        real_imgs = Variable(imgs.type(Tensor))

        optimizer_G.zero_grad()
        z = Variable(Tensor(np.random.normal(0, 1, (imgs.shape[0], latent_dim))))
        gen_imgs = generator(z)
        g_loss = adversarial_loss(discriminator(gen_imgs), valid)
        g_loss.backward()
        optimizer_G.step()

        optimizer_D.zero_grad()
        real_loss = adversarial_loss(discriminator(real_imgs), valid)
        fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        g_losses.append(g_loss.item())
        d_losses.append(d_loss.item())
    return g_losses, d_losses, gen_imgs, real_imgs


def test_vanilla_gan_with_bce_loss():
    torch.manual_seed(0)
    np.random.seed(0)
    generator, discriminator = MLPGenerator(), MLPDiscriminator()
    g_before, d_before = snapshot(generator), snapshot(discriminator)
    g_losses, d_losses, gen_imgs, _ = adversarial_training(generator, discriminator, torch.nn.BCELoss(),
                                                           blob_images(32))
    assert gen_imgs.shape == (8, 1, 16, 16) and gen_imgs.min().item() >= -1 and gen_imgs.max().item() <= 1
    check_losses(g_losses)
    check_losses(d_losses)
    assert moved(g_before, generator) and moved(d_before, discriminator)


# --- DCGAN: weights_init through Module.apply, torch.full labels, data_parallel -------------------------
nc, nz, ngf, ndf = 1, 8, 8, 8


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class DCGenerator(nn.Module):
    def __init__(self, ngpu):
        super(DCGenerator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False),  # 4x4
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # 8x8
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),  # 16x16
            nn.Tanh(),
        )

    def forward(self, input):
        if input.is_cuda and self.ngpu > 1:
            return nn.parallel.data_parallel(self.main, input, range(self.ngpu))
        return self.main(input)


class DCDiscriminator(nn.Module):
    def __init__(self, ngpu):
        super(DCDiscriminator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),  # 8x8
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),  # 4x4
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),  # 1x1
            nn.Sigmoid(),
        )

    def forward(self, input):
        if input.is_cuda and self.ngpu > 1:
            output = nn.parallel.data_parallel(self.main, input, range(self.ngpu))
        else:
            output = self.main(input)
        return output.view(-1, 1).squeeze(1)


def test_dcgan_with_weights_init_applied():
    torch.manual_seed(1)
    netG, netD = DCGenerator(ngpu=1).to(device), DCDiscriminator(ngpu=1).to(device)
    netG.apply(weights_init)
    netD.apply(weights_init)
    conv_weights = np.concatenate([m.weight.detach().numpy().ravel() for m in netG.modules()
                                   if m.__class__.__name__.find("Conv") != -1])
    assert abs(conv_weights.std() - 0.02) < 0.003 and abs(conv_weights.mean()) < 0.003
    bn = [m for m in netD.modules() if isinstance(m, nn.BatchNorm2d)][0]
    assert abs(bn.weight.detach().numpy().mean() - 1.0) < 0.03 and not bn.bias.detach().numpy().any()

    criterion = nn.BCELoss()
    fixed_noise = torch.randn(4, nz, 1, 1, device=device)
    real_label, fake_label = 1.0, 0.0
    optimizerD = optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g_before = snapshot(netG)
    errDs, errGs = [], []
    for i, data in enumerate(loader_of(blob_images(32, seed=1)), 0):
        netD.zero_grad()
        real_cpu = data[0].to(device)
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), real_label, dtype=torch.float, device=device)
        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()

        noise = torch.randn(batch_size, nz, 1, 1, device=device)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        errD = errD_real + errD_fake
        optimizerD.step()

        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        optimizerG.step()
        errDs.append(errD.item())
        errGs.append(errG.item())
        assert 0 < D_x < 1
    with torch.no_grad():
        samples = netG(fixed_noise).detach().cpu()
    assert samples.shape == (4, 1, 16, 16)
    check_losses(errDs)
    check_losses(errGs)
    assert moved(g_before, netG)


# --- LSGAN: Upsample generator, Dropout2d discriminator, MSELoss -----------------------------------------
class UpsampleGenerator(nn.Module):
    def __init__(self):
        super(UpsampleGenerator, self).__init__()
        self.init_size = 16 // 4
        self.l1 = nn.Sequential(nn.Linear(latent_dim, 8 * self.init_size ** 2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(8),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(8, 8, 3, stride=1, padding=1),
            nn.BatchNorm2d(8, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(8, 4, 3, stride=1, padding=1),
            nn.BatchNorm2d(4, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4, 1, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def forward(self, z):
        out = self.l1(z)
        out = out.view(out.shape[0], 8, self.init_size, self.init_size)
        return self.conv_blocks(out)


class DropoutDiscriminator(nn.Module):
    def __init__(self):
        super(DropoutDiscriminator, self).__init__()

        def discriminator_block(in_filters, out_filters, bn=True):
            block = [nn.Conv2d(in_filters, out_filters, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(0.25)]
            if bn:
                block.append(nn.BatchNorm2d(out_filters, 0.8))
            return block

        self.model = nn.Sequential(*discriminator_block(1, 4, bn=False), *discriminator_block(4, 8))
        self.adv_layer = nn.Linear(8 * 4 * 4, 1)

    def forward(self, img):
        out = self.model(img)
        out = out.view(out.shape[0], -1)
        return self.adv_layer(out)


def test_lsgan_with_mse_loss():
    torch.manual_seed(2)
    np.random.seed(2)
    generator, discriminator = UpsampleGenerator(), DropoutDiscriminator()
    g_before, d_before = snapshot(generator), snapshot(discriminator)
    g_losses, d_losses, gen_imgs, real_imgs = adversarial_training(generator, discriminator, torch.nn.MSELoss(),
                                                                   blob_images(32, seed=2))
    assert gen_imgs.shape == (8, 1, 16, 16)
    check_losses(g_losses)
    check_losses(d_losses)
    assert moved(g_before, generator) and moved(d_before, discriminator)
    discriminator.eval()  # Dropout2d is the identity in evaluation: the same input gives the same score
    with torch.no_grad():
        np.testing.assert_array_equal(discriminator(real_imgs).numpy(), discriminator(real_imgs).numpy())


# --- WGAN: weight clipping and RMSprop, n_critic ---------------------------------------------------------
def test_wgan_with_weight_clipping_and_rmsprop():
    torch.manual_seed(3)
    np.random.seed(3)
    clip_value, n_critic = 0.01, 2
    generator, discriminator = MLPGenerator(), MLPDiscriminator(sigmoid=False)
    optimizer_G = torch.optim.RMSprop(generator.parameters(), lr=5e-5)
    optimizer_D = torch.optim.RMSprop(discriminator.parameters(), lr=5e-5)
    g_before = snapshot(generator)
    d_losses, g_losses = [], []
    for i, (imgs,) in enumerate(loader_of(blob_images(32, seed=3))):
        real_imgs = Variable(imgs.type(Tensor))
        optimizer_D.zero_grad()
        z = Variable(Tensor(np.random.normal(0, 1, (imgs.shape[0], latent_dim))))
        fake_imgs = generator(z).detach()
        loss_D = -torch.mean(discriminator(real_imgs)) + torch.mean(discriminator(fake_imgs))
        loss_D.backward()
        optimizer_D.step()
        for p in discriminator.parameters():
            p.data.clamp_(-clip_value, clip_value)
        d_losses.append(loss_D.item())
        if i % n_critic == 0:
            optimizer_G.zero_grad()
            gen_imgs = generator(z)
            loss_G = -torch.mean(discriminator(gen_imgs))
            loss_G.backward()
            optimizer_G.step()
            g_losses.append(loss_G.item())
    for p in discriminator.parameters():
        assert np.abs(p.detach().numpy()).max() <= clip_value
    check_losses(d_losses)
    check_losses(g_losses)
    assert moved(g_before, generator)


# --- WGAN-GP: the gradient penalty through autograd.grad(create_graph=True) ---------------------------------
def compute_gradient_penalty(D, real_samples, fake_samples):
    alpha = Tensor(np.random.random((real_samples.size(0), 1, 1, 1)))
    interpolates = (alpha * real_samples + ((1 - alpha) * fake_samples)).requires_grad_(True)
    d_interpolates = D(interpolates)
    fake = Variable(Tensor(real_samples.shape[0], 1).fill_(1.0), requires_grad=False)
    gradients = autograd.grad(outputs=d_interpolates, inputs=interpolates, grad_outputs=fake,
                              create_graph=True, retain_graph=True, only_inputs=True)[0]
    gradients = gradients.view(gradients.size(0), -1)
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()


def test_wgan_gp_gradient_penalty():
    torch.manual_seed(4)
    np.random.seed(4)
    lambda_gp = 10
    generator, discriminator = MLPGenerator(), MLPDiscriminator(sigmoid=False)
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=1e-4, betas=(0.5, 0.999))
    d_before = snapshot(discriminator)
    penalties, d_losses = [], []
    for i, (imgs,) in enumerate(loader_of(blob_images(32, seed=4))):
        real_imgs = Variable(imgs.type(Tensor))
        optimizer_D.zero_grad()
        z = Variable(Tensor(np.random.normal(0, 1, (imgs.shape[0], latent_dim))))
        fake_imgs = generator(z)
        real_validity = discriminator(real_imgs)
        fake_validity = discriminator(fake_imgs.detach())
        gradient_penalty = compute_gradient_penalty(discriminator, real_imgs.data, fake_imgs.data)
        d_loss = -torch.mean(real_validity) + torch.mean(fake_validity) + lambda_gp * gradient_penalty
        d_loss.backward()
        optimizer_D.step()
        penalties.append(gradient_penalty.item())
        d_losses.append(d_loss.item())
        optimizer_G.zero_grad()
        g_loss = -torch.mean(discriminator(generator(z)))
        g_loss.backward()
        optimizer_G.step()
    assert all(p > 0 for p in penalties)
    check_losses(penalties)
    check_losses(d_losses)
    # every critic parameter but the last bias moved: that bias cancels in -D(real) + D(fake) and the
    # penalty (a gradient w.r.t. the input) does not depend on it, so its gradient is exactly 0
    assert moved(d_before[:-1], discriminator)


def test_gradient_penalty_matches_its_finite_difference():
    """The penalty's gradient w.r.t. one critic weight, by backward through autograd.grad, equals
    the central difference of the penalty itself (float64)."""
    torch.manual_seed(5)
    first = nn.Linear(6, 5)
    critic = nn.Sequential(first, nn.Tanh(), nn.Linear(5, 1)).double()
    x = torch.randn(4, 6, dtype=torch.float64)

    def penalty():
        xi = x.detach().requires_grad_(True)
        g = autograd.grad(critic(xi), xi, grad_outputs=torch.ones(4, 1, dtype=torch.float64), create_graph=True)[0]
        return ((g.norm(2, dim=1) - 1) ** 2).mean()

    weight = first.weight
    penalty().backward()
    analytic = weight.grad.numpy()[1, 2]
    eps, original = 1e-6, weight.array[1, 2]
    weight.array[1, 2] = original + eps
    plus = penalty().item()
    weight.array[1, 2] = original - eps
    minus = penalty().item()
    weight.array[1, 2] = original
    np.testing.assert_allclose(analytic, (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-9)


# --- adversarial autoencoder: itertools.chain of parameters, L1Loss, a discriminator on z ----------------------
class Encoder(nn.Module):
    def __init__(self):
        super(Encoder, self).__init__()
        self.model = nn.Sequential(nn.Linear(int(np.prod(img_shape)), 32), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Linear(32, 32), nn.BatchNorm1d(32), nn.LeakyReLU(0.2, inplace=True))
        self.mu = nn.Linear(32, latent_dim)
        self.logvar = nn.Linear(32, latent_dim)

    def forward(self, img):
        x = self.model(img.view(img.shape[0], -1))
        mu, logvar = self.mu(x), self.logvar(x)
        std = torch.exp(logvar / 2)
        sampled_z = Variable(Tensor(np.random.normal(0, 1, (mu.size(0), latent_dim))))
        return sampled_z * std + mu


class Decoder(nn.Module):
    def __init__(self):
        super(Decoder, self).__init__()
        self.model = nn.Sequential(nn.Linear(latent_dim, 32), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Linear(32, int(np.prod(img_shape))), nn.Tanh())

    def forward(self, z):
        return self.model(z).view(z.shape[0], *img_shape)


class LatentDiscriminator(nn.Module):
    def __init__(self):
        super(LatentDiscriminator, self).__init__()
        self.model = nn.Sequential(nn.Linear(latent_dim, 16), nn.LeakyReLU(0.2, inplace=True), nn.Linear(16, 1),
                                   nn.Sigmoid())

    def forward(self, z):
        return self.model(z)


def test_adversarial_autoencoder():
    torch.manual_seed(6)
    np.random.seed(6)
    adversarial_loss, pixelwise_loss = torch.nn.BCELoss(), torch.nn.L1Loss()
    encoder, decoder, discriminator = Encoder(), Decoder(), LatentDiscriminator()
    optimizer_G = torch.optim.Adam(itertools.chain(encoder.parameters(), decoder.parameters()), lr=1e-3,
                                   betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    e_before, dec_before = snapshot(encoder), snapshot(decoder)
    g_losses, d_losses = [], []
    for imgs, in loader_of(blob_images(48, seed=6)):
        valid = Variable(Tensor(imgs.shape[0], 1).fill_(1.0), requires_grad=False)
        fake = Variable(Tensor(imgs.shape[0], 1).fill_(0.0), requires_grad=False)
        real_imgs = Variable(imgs.type(Tensor))
        optimizer_G.zero_grad()
        encoded_imgs = encoder(real_imgs)
        decoded_imgs = decoder(encoded_imgs)
        g_loss = 0.001 * adversarial_loss(discriminator(encoded_imgs), valid) + \
            0.999 * pixelwise_loss(decoded_imgs, real_imgs)
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        z = Variable(Tensor(np.random.normal(0, 1, (imgs.shape[0], latent_dim))))
        real_loss = adversarial_loss(discriminator(z), valid)
        fake_loss = adversarial_loss(discriminator(encoded_imgs.detach()), fake)
        d_loss = 0.5 * (real_loss + fake_loss)
        d_loss.backward()
        optimizer_D.step()
        g_losses.append(g_loss.item())
        d_losses.append(d_loss.item())
    assert decoded_imgs.shape == imgs.shape
    check_losses(g_losses)
    check_losses(d_losses)
    assert moved(e_before, encoder) and moved(dec_before, decoder)  # one optimizer over both (itertools.chain)


# --- conditional GAN: nn.Embedding of the labels, concatenated with the noise / the image ----------------------
n_classes = 3


class ConditionalGenerator(nn.Module):
    def __init__(self):
        super(ConditionalGenerator, self).__init__()
        self.label_emb = nn.Embedding(n_classes, n_classes)
        self.model = nn.Sequential(nn.Linear(latent_dim + n_classes, 32), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Linear(32, int(np.prod(img_shape))), nn.Tanh())

    def forward(self, noise, labels):
        gen_input = torch.cat((self.label_emb(labels), noise), -1)
        img = self.model(gen_input)
        return img.view(img.size(0), *img_shape)


class ConditionalDiscriminator(nn.Module):
    def __init__(self):
        super(ConditionalDiscriminator, self).__init__()
        self.label_embedding = nn.Embedding(n_classes, n_classes)
        self.model = nn.Sequential(nn.Linear(n_classes + int(np.prod(img_shape)), 32), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Dropout(0.4), nn.Linear(32, 1))

    def forward(self, img, labels):
        d_in = torch.cat((img.view(img.size(0), -1), self.label_embedding(labels)), -1)
        return self.model(d_in)


def test_conditional_gan_with_embedding():
    torch.manual_seed(7)
    np.random.seed(7)
    adversarial_loss = torch.nn.MSELoss()
    generator, discriminator = ConditionalGenerator(), ConditionalDiscriminator()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    emb_before = generator.label_emb.weight.detach().numpy().copy()
    images = blob_images(32, seed=7)
    labels = np.random.randint(0, n_classes, 32).astype(np.int64)
    g_losses, d_losses = [], []
    for imgs, batch_labels in loader_of(images, labels):
        batch_size = imgs.shape[0]
        valid = Variable(Tensor(batch_size, 1).fill_(1.0), requires_grad=False)
        fake = Variable(Tensor(batch_size, 1).fill_(0.0), requires_grad=False)
        real_imgs = Variable(imgs.type(Tensor))
        batch_labels = Variable(batch_labels.type(LongTensor))
        optimizer_G.zero_grad()
        z = Variable(Tensor(np.random.normal(0, 1, (batch_size, latent_dim))))
        gen_labels = Variable(LongTensor(np.random.randint(0, n_classes, batch_size)))
        gen_imgs = generator(z, gen_labels)
        g_loss = adversarial_loss(discriminator(gen_imgs, gen_labels), valid)
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        d_real_loss = adversarial_loss(discriminator(real_imgs, batch_labels), valid)
        d_fake_loss = adversarial_loss(discriminator(gen_imgs.detach(), gen_labels), fake)
        d_loss = (d_real_loss + d_fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        g_losses.append(g_loss.item())
        d_losses.append(d_loss.item())
    assert gen_labels.dtype == torch.int64 and gen_imgs.shape == (8, 1, 16, 16)
    check_losses(g_losses)
    check_losses(d_losses)
    assert not np.array_equal(emb_before, generator.label_emb.weight.detach().numpy())
    with torch.no_grad():  # one sample per class, as the collections' sample_image() draws them
        grid_labels = torch.tensor([c for c in range(n_classes) for _ in range(2)])
        assert generator(torch.randn(6, latent_dim), grid_labels).shape == (6, 1, 16, 16)


# --- VAE: F.binary_cross_entropy(..., reduction='sum') + the KL term, randn_like reparameterisation -------------
class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(256, 64)
        self.fc21 = nn.Linear(64, 4)
        self.fc22 = nn.Linear(64, 4)
        self.fc3 = nn.Linear(4, 64)
        self.fc4 = nn.Linear(64, 256)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 256))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def vae_loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 256), reduction="sum")
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def test_vae_with_summed_binary_cross_entropy():
    torch.manual_seed(8)
    model = VAE().to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    images = (blob_images(64, seed=8) + 1) / 2  # pixels in [0, 1] for the Bernoulli likelihood
    train_loader = DataLoader(TensorDataset(torch.from_numpy(images)), batch_size=16, shuffle=True)
    epoch_losses = []
    for epoch in range(1, 4):
        model.train()
        train_loss = 0
        for batch_idx, (data,) in enumerate(train_loader):
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = vae_loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        epoch_losses.append(train_loss / len(train_loader.dataset))
    assert np.all(np.isfinite(epoch_losses)) and epoch_losses[-1] < epoch_losses[0]
    model.eval()
    with torch.no_grad():
        sample = model.decode(torch.randn(8, 4).to(device)).cpu()
    assert sample.view(8, 1, 16, 16).shape == (8, 1, 16, 16) and 0 <= sample.min().item() <= sample.max().item() <= 1


# --- one program step by step on minigan and on PyTorch --------------------------------------------------------
def gan_steps(T, generator_state, discriminator_state, noise, real, steps):
    """The vanilla-GAN step, written once for a framework module ``T`` (minigan or torch):
    (d_loss, g_loss) per step from the given initial weights, noise and real batches."""
    nn_ = T.nn
    generator = nn_.Sequential(nn_.Linear(latent_dim, 32), nn_.LeakyReLU(0.2, inplace=True), nn_.Linear(32, 64),
                               nn_.BatchNorm1d(64, 0.8), nn_.LeakyReLU(0.2, inplace=True), nn_.Linear(64, 256),
                               nn_.Tanh())
    discriminator = nn_.Sequential(nn_.Linear(256, 64), nn_.LeakyReLU(0.2, inplace=True), nn_.Linear(64, 1),
                                   nn_.Sigmoid())
    generator.load_state_dict({k: T.tensor(v) for k, v in generator_state.items()})
    discriminator.load_state_dict({k: T.tensor(v) for k, v in discriminator_state.items()})
    loss = nn_.BCELoss()
    opt_g = T.optim.Adam(generator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = T.optim.Adam(discriminator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    losses = []
    for step in range(steps):
        z, imgs = T.from_numpy(noise[step]), T.from_numpy(real[step])
        valid, fake = T.ones(imgs.size(0), 1), T.zeros(imgs.size(0), 1)
        opt_g.zero_grad()
        gen_imgs = generator(z)
        g_loss = loss(discriminator(gen_imgs), valid)
        g_loss.backward()
        opt_g.step()
        opt_d.zero_grad()
        d_loss = (loss(discriminator(imgs), valid) + loss(discriminator(gen_imgs.detach()), fake)) / 2
        d_loss.backward()
        opt_d.step()
        losses.append((d_loss.item(), g_loss.item()))
    return np.array(losses)


def initial_state(module):
    """Parameters and buffers by name, with batch norm's num_batches_tracked for torch."""
    return {name: np.asarray(value) for name, value in module.state_dict().items()}


def test_vanilla_gan_matches_pytorch_step_by_step():
    real_torch = pytest.importorskip("torch")
    torch.manual_seed(9)
    rng = np.random.default_rng(9)
    steps = 6
    noise = rng.standard_normal((steps, 8, latent_dim)).astype(np.float32)
    real = blob_images(steps * 8, seed=9).reshape(steps, 8, 256)
    # initial weights drawn by minigan, copied into both runs
    g = nn.Sequential(nn.Linear(latent_dim, 32), nn.LeakyReLU(0.2), nn.Linear(32, 64), nn.BatchNorm1d(64, 0.8),
                      nn.LeakyReLU(0.2), nn.Linear(64, 256), nn.Tanh())
    d = nn.Sequential(nn.Linear(256, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1), nn.Sigmoid())
    g_state, d_state = initial_state(g), initial_state(d)
    ours = gan_steps(torch, g_state, d_state, noise, real, steps)
    torch_g_state = dict(g_state, **{"3.num_batches_tracked": np.array(0)})
    theirs = gan_steps(real_torch, torch_g_state, d_state, noise, real, steps)
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=1e-6)
    assert len(set(ours[:, 1].round(6))) == steps  # the losses moved at every step
