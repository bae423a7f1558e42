"""Checkpoints as plain ``.npz`` files: no pickle, written atomically.

A checkpoint is a nested structure of dicts, lists, numbers, strings, ``None`` and arrays
(NumPy or CuPy arrays, or anything with a ``.numpy()`` method such as a ``minigan.Tensor``).
``save_checkpoint`` splits it in two:

- every array goes into its own npz entry, named ``state/`` + its path in the structure
  (``state/generator/0.weight``), copied to host memory;
- everything else goes into one JSON string stored as the entry ``__meta__``, with each array
  replaced by ``{"__array__": "<entry name>"}``.

So the file loads with ``np.load(path, allow_pickle=False)`` and ``load_checkpoint`` rebuilds
the structure with NumPy arrays in place of the originals. NumPy random generator states
(``Generator.bit_generator.state``, a dict of ints and strings) store as JSON as they are.

Writing goes to a temporary file in the destination folder, then ``os.replace`` moves it over
the destination in one step: a crash leaves the previous checkpoint intact, never half a file.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

META_KEY = "__meta__"
FORMAT_VERSION = 1
ZIP_MAGIC, NPY_MAGIC = b"PK\x03\x04", b"\x93NUMPY"


def _host_array(value):
    """A NumPy copy of an array-like value (NumPy, CuPy via ``.get()``, or ``.numpy()``), else None."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return None
    if hasattr(value, "numpy") and callable(value.numpy):
        return np.asarray(value.numpy())
    if hasattr(value, "get") and hasattr(value, "__cuda_array_interface__"):
        return value.get()
    return None


def _flatten(value, path, arrays):
    """JSON-ready copy of ``value`` with arrays moved into ``arrays`` (entry name -> array)."""
    array = _host_array(value)
    if array is not None:
        if array.dtype == object:
            raise TypeError(f"checkpoint entry {path!r} is an object array; only numeric arrays are stored")
        name = f"state/{path}"
        arrays[name] = array
        return {"__array__": name}
    if isinstance(value, dict):
        flat = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"checkpoint keys must be str or int, got {key!r} at {path!r}")
            flat[str(key)] = _flatten(item, f"{path}/{key}" if path else str(key), arrays)
        return flat
    if isinstance(value, (list, tuple)):
        return [_flatten(item, f"{path}/{i}", arrays) for i, item in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} at {path!r} in a checkpoint")


def _unflatten(value, arrays):
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {key: _unflatten(item, arrays) for key, item in value.items()}
    if isinstance(value, list):
        return [_unflatten(item, arrays) for item in value]
    return value


def save_checkpoint(path, state):
    """Write the nested ``state`` (a dict) to ``path`` (.npz) atomically."""
    if not isinstance(state, dict):
        raise TypeError("a checkpoint state must be a dict")
    arrays = {}
    meta = {"format_version": FORMAT_VERSION, "state": _flatten(state, "", arrays)}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temp_path = tempfile.mkstemp(dir=folder, prefix=".checkpoint-", suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **{META_KEY: np.array(json.dumps(meta))}, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


def _check_file_kind(path):
    """ValueError naming ``path`` and what it is, unless it starts as a zip archive (an .npz) does."""
    with open(path, "rb") as file:
        start = file.read(len(NPY_MAGIC))
    if not start:
        raise ValueError(f"{path} is empty (0 bytes), not a checkpoint")
    if start.startswith(NPY_MAGIC):
        raise ValueError(f"{path} is a single NumPy array (.npy), not a minigan checkpoint (.npz)")
    if not start.startswith(ZIP_MAGIC):
        raise ValueError(f"{path} is not a minigan checkpoint (not an .npz archive)")


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``; arrays come back as NumPy arrays.

    A missing file raises FileNotFoundError; an empty, truncated or foreign file a ValueError that
    names the file and says what is wrong with it.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    _check_file_kind(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if META_KEY not in archive.files:
                raise ValueError(f"{path} is not a minigan checkpoint (no {META_KEY} entry)")
            meta = json.loads(str(archive[META_KEY]))
            arrays = {name: archive[name] for name in archive.files if name != META_KEY}
    except (zipfile.BadZipFile, EOFError, json.JSONDecodeError):
        raise ValueError(f"{path} is truncated or damaged, not a complete checkpoint") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported checkpoint format {meta.get('format_version')!r}")
    return _unflatten(meta["state"], arrays)
