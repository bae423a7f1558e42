"""Module-level ``__getattr__`` that turns a torch name minigan lacks into a clear NotImplementedError.

``torch.fft`` or ``torch.cuda.amp`` on minigan then says "minigan does not support torch.fft",
rather than an AttributeError somewhere deeper. Private and dunder names, and submodules not yet
imported, still get the usual AttributeError (``hasattr`` and the import system rely on it).
"""

import importlib.util


def module_getattr(module, torch_name):
    """A ``__getattr__`` for the module named ``module`` standing in for ``torch_name``."""

    def __getattr__(name):
        is_package = importlib.util.find_spec(module).submodule_search_locations is not None
        if name.startswith("_") or (is_package and importlib.util.find_spec(f"{module}.{name}") is not None):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        raise NotImplementedError(f"minigan does not support {torch_name}.{name}")

    return __getattr__
