"""``torch.backends.mps``: minigan has no Apple-GPU device."""


def is_available():
    return False


def is_built():
    return False
