"""``torch.utils.data`` on minigan: Dataset, TensorDataset, Subset, DataLoader and default_collate.

(``minigan.data`` is something else: the face datasets and the seeded loader of the training loops.)

``DataLoader`` batches any ``Dataset`` (``__getitem__`` + ``__len__``) as PyTorch does: with
``shuffle`` each pass over the data draws a new order from ``mg.manual_seed``'s generator (or from
``generator=``); samples are joined by ``collate_fn`` (default: ``default_collate``).
``num_workers`` is accepted and the work stays in this process; other torch options (pin_memory,
persistent_workers, prefetch_factor, ...) are accepted and have no effect.
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np

from minigan import backend
from minigan.tensor import Tensor, default_generator, tensor
from minigan.unsupported import module_getattr

__getattr__ = module_getattr(__name__, "torch.utils.data")


class Dataset:
    """A map-style dataset: ``dataset[i]`` is sample i; subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")


class TensorDataset(Dataset):
    """Sample i is ``(t[i] for t in tensors)``; every tensor has the same first dimension."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) > 1:
            raise ValueError(f"TensorDataset: tensors have different first dimensions {sizes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


def default_collate(batch):
    """A list of samples -> one batch, as PyTorch's default: Tensors and NumPy arrays are stacked
    (dtype kept), Python floats become a float64 tensor and ints an int64 one, strings stay a list,
    and tuples/lists/dicts are collated field by field."""
    first = batch[0]
    if isinstance(first, Tensor):
        xp = backend.array_module(first.device)
        return Tensor(xp.stack([sample.array for sample in batch]), device=first.device)
    if isinstance(first, (np.ndarray, np.generic)):
        return Tensor(np.stack(batch))
    if isinstance(first, (bool, int, float)):
        return tensor(batch, dtype=np.float64 if isinstance(first, float) else None)
    if isinstance(first, str):
        return list(batch)
    if isinstance(first, Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, Sequence):
        if len({len(sample) for sample in batch}) > 1:
            raise ValueError("default_collate: the samples of a batch have different lengths")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}; pass collate_fn=")


class DataLoader:
    """Batches of a dataset (``torch.utils.data.DataLoader``).

    ``len(loader)`` is the number of batches: ceil(N / batch_size), or floor with ``drop_last``.
    ``batch_size=None`` yields the samples one by one, uncollated.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, drop_last=False, generator=None, **ignored):
        if sampler is not None or batch_sampler is not None:
            raise NotImplementedError("minigan does not support torch.utils.data.DataLoader(sampler=..., "
                                      "batch_sampler=...); use shuffle=True or a Subset")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be positive, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be >= 0, got {num_workers}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.num_workers, self.generator = num_workers, generator
        self.collate_fn = default_collate if collate_fn is None else collate_fn

    def __len__(self):
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        rng = self.generator if self.generator is not None else default_generator()
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.batch_size is None:
            for i in order:
                yield self.dataset[int(i)]
            return
        for b in range(len(self)):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self._fetch(indices)

    def _fetch(self, indices):
        """One batch; a TensorDataset with the default collation is sliced in one step."""
        if isinstance(self.dataset, TensorDataset) and self.collate_fn is default_collate:
            index = tensor(indices, device=self.dataset.tensors[0].device)
            return [t[index].detach() for t in self.dataset.tensors]
        return self.collate_fn([self.dataset[int(i)] for i in indices])
