"""``torch.utils`` on minigan: ``minigan.utils.data`` (Dataset, TensorDataset, DataLoader)."""

from minigan.utils import data

__all__ = ["data"]
