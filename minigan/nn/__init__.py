"""Neural-network building blocks (``torch.nn`` names): Module, Parameter, layers, init."""

from minigan.nn import init
from minigan.nn.layers import (BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Flatten, LeakyReLU, Linear,
                               MaxPool2d, MaxUnpool2d, ReLU, Sequential, Sigmoid, Tanh, Unflatten)
from minigan.nn.module import Module, Parameter

__all__ = ["init", "Module", "Parameter", "Linear", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d",
           "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Sequential", "Flatten", "Unflatten", "MaxPool2d", "MaxUnpool2d"]
