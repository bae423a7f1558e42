"""Neural-network building blocks (``torch.nn`` names): Module, Parameter, layers, losses, init.

A ``torch.nn`` name that minigan lacks raises NotImplementedError naming it (e.g. ``nn.LSTM``),
rather than an AttributeError."""

import importlib.util

from minigan.nn import init
from minigan.nn.layers import (BatchNorm1d, BatchNorm2d, BCELoss, BCEWithLogitsLoss, Conv2d, ConvTranspose2d,
                               CrossEntropyLoss, Dropout, Dropout2d, Embedding, Flatten, Identity, L1Loss, LeakyReLU,
                               Linear, LogSoftmax, MaxPool2d, MaxUnpool2d, ModuleList, MSELoss, NLLLoss, ReLU,
                               Sequential, Sigmoid, Softmax, Softplus, Tanh, Unflatten, Upsample)
from minigan.nn.module import Module, Parameter

__all__ = ["init", "Module", "Parameter", "Linear", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d",
           "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softplus", "Softmax", "LogSoftmax", "Sequential", "ModuleList",
           "Identity", "Flatten", "Unflatten", "MaxPool2d", "MaxUnpool2d", "Dropout", "Dropout2d", "Upsample",
           "Embedding", "BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss"]


def __getattr__(name):
    """Called only for names this package does not define. Dunder names and submodules not yet
    imported get the usual AttributeError (so ``from minigan.nn import <submodule>`` imports it)."""
    if name.startswith("__") or importlib.util.find_spec(f"{__name__}.{name}") is not None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    raise NotImplementedError(f"minigan does not support torch.nn.{name}")
