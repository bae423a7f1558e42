"""Data types and devices under PyTorch's names.

dtypes are NumPy dtypes: ``mg.float32`` (the default; alias ``mg.float``), ``mg.float64``
(``mg.double``), ``mg.int64`` (``mg.long``, for labels and indices), ``mg.int32`` (``mg.int``)
and ``mg.bool``. ``device`` is ``torch.device``: ``device('cuda:0')`` is the device 'cuda'
(minigan drives one GPU), and it is a ``str``, so it compares equal to 'cuda' and goes
wherever a device name goes.

The legacy tensor type names (``torch.FloatTensor``, ``'torch.cuda.LongTensor'``, ...) map to a
(dtype, device) pair through ``TENSOR_TYPES``; ``tensor_type_name`` goes the other way.
"""

import numpy as np

from minigan.backend import DEVICES

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int64 = np.dtype("int64")
int32 = np.dtype("int32")
bool_ = np.dtype("bool")
FLOAT_DTYPES = (float32, float64)

TENSOR_TYPES = {"FloatTensor": float32, "DoubleTensor": float64, "LongTensor": int64, "IntTensor": int32,
                "BoolTensor": bool_}


class device(str):
    """``torch.device``: ``device('cuda')``, ``device('cuda:0')``, ``device('cuda', 0)``, ``device('cpu')``.

    A str subclass holding minigan's device name ('cpu', 'cuda' or 'cuda-sim'), with ``.type``
    and ``.index`` as in PyTorch. Only index 0 exists for 'cuda'.
    """

    def __new__(cls, type_or_name, index=None):
        name = str(type_or_name)
        if ":" in name:
            if index is not None:
                raise ValueError(f"device: {name!r} already has an index; do not pass index={index}")
            name, _, text = name.partition(":")
            if not text.isdigit():
                raise ValueError(f"device: invalid device string {type_or_name!r}")
            index = int(text)
        if name not in DEVICES:
            raise ValueError(f"device: unknown device type {name!r}; expected one of {', '.join(DEVICES)}")
        if index is not None and (name == "cpu" or int(index) != 0):
            raise ValueError(f"device: minigan has one {name} device, got index {index}")
        made = super().__new__(cls, name)
        made.index = None if index is None else int(index)
        return made

    @property
    def type(self):
        return str(self)

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self}'{index})"


def tensor_type_name(dtype, device_name):
    """'torch.FloatTensor', 'torch.cuda.LongTensor', ... as ``torch.Tensor.type()`` names them."""
    dtype = np.dtype(dtype)
    for name, known in TENSOR_TYPES.items():
        if known == dtype:
            prefix = "torch.cuda." if device_name == "cuda" else "torch."
            return prefix + name
    raise TypeError(f"no torch tensor type name for dtype {dtype.name}")


def parse_tensor_type(name):
    """'torch.cuda.FloatTensor' -> (float32, 'cuda'); 'torch.LongTensor' -> (int64, 'cpu')."""
    parts = name.split(".")
    if parts[0] == "torch":
        parts = parts[1:]
    device_name = "cuda" if parts[:1] == ["cuda"] else "cpu"
    parts = parts[1:] if device_name == "cuda" else parts
    if len(parts) != 1 or parts[0] not in TENSOR_TYPES:
        known = ", ".join(TENSOR_TYPES)
        raise ValueError(f"unknown tensor type {name!r}; minigan knows torch.[cuda.]{{{known}}}")
    return TENSOR_TYPES[parts[0]], device_name
