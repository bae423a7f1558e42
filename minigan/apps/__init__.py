"""What the models are for: recognition from learned features, face repair (inpainting), linear probes
of latents for expression/attributes, and latent-space arithmetic. Each module adds its subcommands
to the ``minigan`` command through ``register``."""


def register(subparsers):
    """Add ``recognize``, ``inpaint``, ``probe`` and ``attribute`` to the ``minigan`` command."""
    from minigan.apps import recognition

    recognition.register(subparsers)
