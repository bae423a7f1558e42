"""What the models are for: recognition from learned features, face repair (inpainting), linear probes
of latents for expression/attributes, and latent-space arithmetic (``minigan recognize``, ``inpaint``,
``probe``, ``attribute``; the argument definitions are in ``commands``)."""

from minigan.apps.commands import register

__all__ = ["register"]
