"""``torch.nn.functional``: in minigan this *is* ``minigan.functional`` (the same module object), so
``import minigan.nn.functional as F`` and ``from minigan import functional as F`` are one thing."""

import sys

from minigan import functional

sys.modules[__name__] = functional
