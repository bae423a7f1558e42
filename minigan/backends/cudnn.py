"""``torch.backends.cudnn``: minigan uses its own kernels, not cuDNN, so these flags are accepted
and have no effect."""

benchmark = False
deterministic = False
enabled = True


def is_available():
    return False
