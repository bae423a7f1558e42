"""PyTorch twins of minigan models, for side-by-side benchmarks (torch is a benchmark oracle only:
the library never imports it).

``to_torch(model)`` walks a minigan Module tree and builds the same tree of ``torch.nn`` layers,
child names included, so the two state dicts line up key for key; the minigan parameters and
buffers are then copied over, so both start from the same weights. ``max_output_difference``
checks that the twin computes the same function.
"""

import numpy as np
import torch
from torch import nn as tnn

from minigan import nn


def _conv_options(layer):
    options = {k: v for k, v in layer.options.items() if k != "output_padding"}
    if isinstance(layer, nn.ConvTranspose2d):
        options["output_padding"] = layer.options.get("output_padding", 0)
    return options


def _kernel_size(layer):
    return tuple(layer.weight.shape[2:])


# minigan layer class -> a function building the torch layer of the same configuration.
LAYERS = {
    nn.Linear: lambda m: tnn.Linear(m.in_features, m.out_features, bias=m.bias is not None),
    nn.Conv2d: lambda m: tnn.Conv2d(m.weight.shape[1], m.weight.shape[0], _kernel_size(m), bias=m.bias is not None,
                                    **_conv_options(m)),
    nn.ConvTranspose2d: lambda m: tnn.ConvTranspose2d(m.weight.shape[0], m.weight.shape[1], _kernel_size(m),
                                                      bias=m.bias is not None, **_conv_options(m)),
    nn.BatchNorm1d: lambda m: tnn.BatchNorm1d(m.num_features, eps=m.eps, momentum=m.momentum,
                                              affine=m.weight is not None,
                                              track_running_stats=m.running_mean is not None),
    nn.BatchNorm2d: lambda m: tnn.BatchNorm2d(m.num_features, eps=m.eps, momentum=m.momentum,
                                              affine=m.weight is not None,
                                              track_running_stats=m.running_mean is not None),
    nn.ReLU: lambda m: tnn.ReLU(),
    nn.LeakyReLU: lambda m: tnn.LeakyReLU(m.negative_slope),
    nn.Tanh: lambda m: tnn.Tanh(),
    nn.Sigmoid: lambda m: tnn.Sigmoid(),
    nn.Flatten: lambda m: tnn.Flatten(m.start_dim, m.end_dim),
    nn.Unflatten: lambda m: tnn.Unflatten(m.dim, m.unflattened_size),
}
# Plain attributes a training step reads from a model container (GAN.nz, AutoEncoder.latent_dim).
COPIED_ATTRIBUTES = ("nz", "latent_dim")


def _build(module):
    if isinstance(module, nn.Sequential):
        return tnn.Sequential(*(_build(child) for child in module))
    if type(module) in LAYERS:
        return LAYERS[type(module)](module)
    if not module.children():
        raise TypeError(f"to_torch: no torch twin for the minigan layer {type(module).__name__}")
    twin = tnn.Module()  # a container (GAN, AutoEncoder): the same children under the same names
    for name, child in module._modules.items():
        twin.add_module(name, _build(child))
    for name in COPIED_ATTRIBUTES:
        if hasattr(module, name):
            setattr(twin, name, getattr(module, name))
    return twin


def to_torch(model):
    """The torch twin of ``model`` (float32, CPU) with its parameters and buffers copied over."""
    twin = _build(model)
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in model.state_dict().items()}
    missing, unexpected = twin.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"to_torch: state dicts differ: torch-only keys {missing}, minigan-only keys {unexpected}")
    return twin.train(model.training)


def max_output_difference(mg_module, torch_module, x):
    """Largest |minigan(x) - torch(x)| relative to the largest output, on the NumPy array ``x``
    (evaluation mode on both, so running statistics are used and not updated)."""
    import minigan as mg

    mg_module.eval()
    torch_module.eval()
    try:
        with mg.no_grad(), torch.no_grad():
            ours = mg_module(mg.tensor(x)).numpy()
            theirs = torch_module(torch.from_numpy(x)).numpy()
    finally:
        mg_module.train()
        torch_module.train()
    return float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-30))
