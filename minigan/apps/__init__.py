"""What the models are for: recognition from learned features, face repair (inpainting), linear probes
of latents for expression/attributes, and latent-space arithmetic. Each module adds its subcommand
to the ``minigan`` command through its ``register(subparsers)``."""


def register(subparsers):
    """Add ``recognize``, ``inpaint``, ``probe`` and ``attribute`` to the ``minigan`` command."""
    from minigan.apps import inpaint, latent, probe, recognition

    for module in (recognition, inpaint, probe, latent):
        module.register(subparsers)
