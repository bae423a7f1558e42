"""``torch.nn.parallel`` on minigan: one device, so "parallel" runs the module once on all the inputs.

``data_parallel(module, inputs, device_ids)`` (as in PyTorch's DCGAN example, when ngpu > 1) and
the ``DataParallel`` wrapper both give the same result as ``module(inputs)``, which is also what
PyTorch computes, only split over GPUs.
"""

from minigan.nn.module import Module


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """``module(*inputs, **module_kwargs)`` (``inputs`` a tensor or a tuple of them)."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    return module(*inputs, **(module_kwargs or {}))


class DataParallel(Module):
    """Wraps ``module`` (as ``self.module``); calling it calls the module."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module = module

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
