"""An opt-in import hook: ``import torch`` (and ``torch.nn``, ``torch.nn.functional``,
``torch.optim``, ``torch.utils.data``, ...) loads minigan's module of the same name.

    from minigan import torch_alias
    torch_alias.install()
    import torch.nn as nn          # minigan.nn

or, for a script written for PyTorch, unchanged: ``python -m minigan.run_as_torch script.py``.
A torch module minigan lacks (``torch.distributions``), and the torch companion packages
(torchvision, torchaudio, torchtext), raise NotImplementedError naming it. Call ``install()``
before anything imports the real torch: the two cannot share one process under one name.
"""

import importlib
import importlib.abc
import importlib.util
import sys

COMPANIONS = ("torchvision", "torchaudio", "torchtext")


def _top(name):
    return name.partition(".")[0]


class TorchFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``torch`` and ``torch.*`` and loads them as the minigan module of the same path."""

    def find_spec(self, fullname, path=None, target=None):
        if _top(fullname) == "torch" or _top(fullname) in COMPANIONS:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        if _top(spec.name) in COMPANIONS:
            raise NotImplementedError(f"minigan does not support {spec.name} (the torch alias covers torch itself)")
        target = "minigan" + spec.name[len("torch"):]
        try:
            return importlib.import_module(target)
        except ModuleNotFoundError as error:
            if error.name is None or not target.startswith(error.name):
                raise  # something the minigan module itself imports is missing
            raise NotImplementedError(f"minigan does not support {spec.name}") from None

    def exec_module(self, module):
        """Nothing to run: ``create_module`` returned the imported minigan module."""


_finder = TorchFinder()


def install():
    """Make ``import torch...`` resolve to minigan (idempotent)."""
    loaded = [name for name in sys.modules if _top(name) == "torch" and sys.modules[name].__name__[:7] != "minigan"]
    if loaded:
        raise RuntimeError(f"torch_alias.install(): the real {loaded[0]} is already imported in this process; "
                           "install the alias before anything imports torch")
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def uninstall():
    """Undo ``install()``: drop the hook and the aliased ``torch`` entries of ``sys.modules``."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in [name for name in sys.modules if _top(name) == "torch"]:
        del sys.modules[name]
