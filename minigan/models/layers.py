"""Building blocks shared by the GAN, AE and VAE models (all made of ``minigan.nn`` layers)."""

from minigan import nn

OUTPUT_ACTIVATIONS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
CONV_SIZES = (16, 32, 64, 128)


def check_image_shape(image_shape):
    """``image_shape`` must be (C, H, W) with positive ints."""
    if len(image_shape) != 3 or any(int(s) != s or s < 1 for s in image_shape):
        raise ValueError(f"image_shape must be (C, H, W) with positive integers, got {image_shape!r}")


def output_activation_layer(name):
    """``nn.Tanh()`` for 'tanh', ``nn.Sigmoid()`` for 'sigmoid'."""
    if name not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"output activation must be one of {sorted(OUTPUT_ACTIVATIONS)}, got {name!r}")
    return OUTPUT_ACTIVATIONS[name]()


def mlp(sizes, activation):
    """Linear(sizes[0], sizes[1]) -> activation() -> ... -> Linear(sizes[-2], sizes[-1]) (no activation at the end)."""
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def conv_depth(image_size):
    """Number of stride-2 stages between 4x4 and ``image_size``: ``4 * 2**depth == image_size``."""
    if image_size not in CONV_SIZES:
        raise ValueError(f"convolutional models support image sizes {', '.join(map(str, CONV_SIZES))}; got {image_size}")
    return image_size.bit_length() - 3


def conv_decoder(nz, ngf, channels, image_size, output_activation="tanh"):
    """The DCGAN generator: z (N, nz) -> (nz, 1, 1) -> ConvT(4, 1, 0) to (ngf*2^(d-1), 4, 4) -> BN -> ReLU
    -> [ConvT(4, 2, 1) -> BN -> ReLU], halving channels and doubling the size each time
    -> ConvT(4, 2, 1) to ``channels`` -> tanh or sigmoid."""
    depth = conv_depth(image_size)
    width = ngf * 2 ** (depth - 1)
    layers = [nn.Unflatten(1, (nz, 1, 1)), nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False),
              nn.BatchNorm2d(width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU()]
        width //= 2
    layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), output_activation_layer(output_activation)]
    return nn.Sequential(*layers)


def conv_encoder(ndf, channels, image_size, outputs, batch_norm=True):
    """The DCGAN discriminator: image -> Conv(4, 2, 1) to ndf -> LeakyReLU(0.2)
    -> [Conv(4, 2, 1) -> BN -> LeakyReLU(0.2)], doubling channels and halving the size down to 4x4
    -> Conv(4, 1, 0) to ``outputs`` channels of 1x1 -> flattened to (N, outputs).
    ``batch_norm=False`` leaves the BN layers out (a WGAN-GP critic: its gradient penalty is per
    image, which batch statistics would mix across the batch)."""
    depth = conv_depth(image_size)
    width = ndf
    layers = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    for _ in range(depth - 1):
        norm = [nn.BatchNorm2d(width * 2)] if batch_norm else []
        layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), *norm, nn.LeakyReLU(0.2)]
        width *= 2
    layers += [nn.Conv2d(width, outputs, 4, 1, 0, bias=False), nn.Flatten()]
    return nn.Sequential(*layers)


def mlp_encoder(image_shape, hidden, outputs):
    """image (N, C, H, W) -> flatten -> [Linear -> ReLU] per hidden size -> Linear to ``outputs``."""
    check_image_shape(image_shape)
    channels, height, width = image_shape
    return nn.Sequential(nn.Flatten(), mlp([channels * height * width, *hidden, outputs], nn.ReLU))


def mlp_decoder(latent_dim, hidden, image_shape, output_activation):
    """z (N, latent_dim) -> [Linear -> ReLU] per hidden size, reversed -> Linear to C*H*W
    -> tanh or sigmoid -> (N, C, H, W)."""
    check_image_shape(image_shape)
    channels, height, width = image_shape
    return nn.Sequential(
        mlp([latent_dim, *reversed(hidden), channels * height * width], nn.ReLU),
        output_activation_layer(output_activation),
        nn.Unflatten(1, tuple(image_shape)),
    )
