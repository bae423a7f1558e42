"""Where minigan's time goes: per op, forward vs backward, and per kernel.

``with op_profile() as profile:`` temporarily wraps, for the duration of the block,

* ``forward`` and ``backward`` of every ``minigan.autograd.Function`` subclass (time in the op,
  kernel included),
* every public function of the active CPU kernel set (time in the kernel alone),
* ``Optimizer.step`` and the graph walk (``autograd._propagate``, behind both ``backward()`` and
  ``grad()``; its time minus the ops' backward time is the tape's own overhead; with
  ``create_graph=True`` the ops a backward builds count as forwards, inside the walk too),

and restores them afterwards. ``profile.table(steps, step_seconds)`` gives the rows.
"""

import contextlib
import inspect
import time
from collections import defaultdict

from minigan import autograd, backend, optim


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


class OpProfile:
    def __init__(self):
        self.seconds = defaultdict(float)  # (kind, name) -> seconds
        self.calls = defaultdict(int)

    def timed(self, kind, name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[kind, name] += time.perf_counter() - start
                self.calls[kind, name] += 1
        return wrapper

    def table(self, steps, step_seconds):
        """Rows per op (forward/backward ms per step, calls) and per kernel, plus the remainder."""
        ms = {key: 1e3 * s / steps for key, s in self.seconds.items()}
        ops = sorted({name for kind, name in ms if kind in ("forward", "backward")},
                     key=lambda n: -(ms.get(("forward", n), 0) + ms.get(("backward", n), 0)))
        rows = [dict(section="op", name=name, forward_ms=ms.get(("forward", name), 0.0),
                     backward_ms=ms.get(("backward", name), 0.0),
                     calls=(self.calls["forward", name] + self.calls["backward", name]) // steps)
                for name in ops]
        kernels = sorted((name for kind, name in ms if kind == "kernel"), key=lambda n: -ms["kernel", n])
        rows += [dict(section="kernel", name=name, total_ms=ms["kernel", name], calls=self.calls["kernel", name] // steps)
                 for name in kernels]
        in_ops = sum(v for (kind, _), v in ms.items() if kind in ("forward", "backward"))
        walk = ms.get(("walk", "autograd.backward"), 0.0) - sum(v for (kind, _), v in ms.items() if kind == "backward")
        optimizer = ms.get(("optimizer", "Optimizer.step"), 0.0)
        step_ms = 1e3 * step_seconds
        rows += [dict(section="total", name="ops (forward + backward)", total_ms=in_ops),
                 dict(section="total", name="tape walk + gradient accumulation", total_ms=walk),
                 dict(section="total", name="optimizer steps", total_ms=optimizer),
                 dict(section="total", name="rest (Python, apply(), losses' glue)",
                      total_ms=step_ms - in_ops - walk - optimizer),
                 dict(section="total", name="step", total_ms=step_ms)]
        for row in rows:
            total = row.get("total_ms", row.get("forward_ms", 0) + row.get("backward_ms", 0))
            row["total_ms"], row["pct_of_step"] = total, 100 * total / step_ms
        return rows


@contextlib.contextmanager
def op_profile():
    profile = OpProfile()
    patched = []  # (owner, attribute, original value)

    def patch(owner, attribute, value):
        patched.append((owner, attribute, owner.__dict__[attribute]))
        setattr(owner, attribute, value)

    for cls in _subclasses(autograd.Function):
        for kind in ("forward", "backward"):
            if kind in cls.__dict__:
                original = cls.__dict__[kind].__func__
                patch(cls, kind, staticmethod(profile.timed(kind, cls.op_name(), original)))
    kernels = backend.kernels("cpu")
    for name in [n for n, f in vars(kernels).items() if not n.startswith("_") and inspect.isfunction(f)]:
        patch(kernels, name, profile.timed("kernel", name, getattr(kernels, name)))
    patch(optim.Optimizer, "step", profile.timed("optimizer", "Optimizer.step", optim.Optimizer.step))
    patch(autograd, "_propagate", profile.timed("walk", "autograd.backward", autograd._propagate))
    try:
        yield profile
    finally:
        for owner, attribute, original in reversed(patched):
            setattr(owner, attribute, original)
