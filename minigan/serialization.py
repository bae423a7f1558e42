"""``torch.save`` / ``torch.load`` on minigan, without pickle.

What can be saved: nested dicts, lists and tuples of Tensors, NumPy arrays, numbers, strings,
None and ``mg.device`` names; a module's ``state_dict()`` and an optimizer's ``state_dict()``
are such structures. The file is a minigan checkpoint (``minigan.checkpoint``: an ``.npz`` of the
arrays plus one JSON entry for the structure, written atomically), so loading it runs no code.

Before the checkpoint writer sees the object, the kinds JSON cannot tell apart are tagged:
a Tensor as ``{"__tensor__": array, "requires_grad": bool}``, a tuple as ``{"__tuple__": [...]}``
and a dict with non-string keys as ``{"__items__": [[key, value], ...]}``; ``load`` undoes the tags.
"""

import os
import shutil
import tempfile

from minigan import checkpoint
from minigan.dtypes import device as Device
from minigan.tensor import Tensor


def _tag(value):
    if isinstance(value, Tensor):
        return {"__tensor__": value.numpy(), "requires_grad": value.requires_grad}
    if isinstance(value, Device):
        return {"__device__": str(value)}
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {key: _tag(item) for key, item in value.items()}
        for key in value:
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise TypeError(f"save: dict keys must be str, int, float or bool, got {key!r}")
        return {"__items__": [[key, _tag(item)] for key, item in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_tag(item) for item in value]}
    if isinstance(value, list):
        return [_tag(item) for item in value]
    return value


def _untag(value, device):
    if isinstance(value, list):
        return [_untag(item, device) for item in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return Tensor(value["__tensor__"], device=device, requires_grad=value["requires_grad"])
    if "__device__" in value:
        return Device(value["__device__"])
    if "__tuple__" in value:
        return tuple(_untag(item, device) for item in value["__tuple__"])
    if "__items__" in value:
        return {key: _untag(item, device) for key, item in value["__items__"]}
    return {key: _untag(item, device) for key, item in value.items()}


def save(obj, f, **ignored):
    """Write ``obj`` to ``f`` (a path, or a binary file object) as a minigan checkpoint."""
    state = {"object": _tag(obj)}
    if isinstance(f, (str, os.PathLike)):
        checkpoint.save_checkpoint(os.fspath(f), state)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "object.npz")
        checkpoint.save_checkpoint(path, state)
        with open(path, "rb") as file:
            shutil.copyfileobj(file, f)


def load(f, map_location=None, weights_only=None, **ignored):
    """Read what ``save`` wrote. Tensors come back on ``map_location`` ('cpu' by default; a
    ``mg.device`` or a device name); NumPy arrays stay NumPy arrays."""
    if callable(map_location) or isinstance(map_location, dict):
        raise NotImplementedError("minigan does not support torch.load(map_location=<function or dict>); "
                                  "pass a device such as 'cpu'")
    device = Device("cpu" if map_location is None else map_location)
    if isinstance(f, (str, os.PathLike)):
        state = checkpoint.load_checkpoint(os.fspath(f))
    else:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "object.npz")
            with open(path, "wb") as file:
                shutil.copyfileobj(f, file)
            state = checkpoint.load_checkpoint(path)
    return _untag(state["object"], device)
