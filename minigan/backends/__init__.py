"""``torch.backends`` on minigan: the cudnn and mps flags programs set or read (they change nothing)."""

from minigan.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
