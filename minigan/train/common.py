"""Helpers shared by the training loops: batches and noise as Tensors, the history, divergence checks."""

import math

import numpy as np

import minigan as mg


class DivergenceError(RuntimeError):
    """A loss became NaN or infinite; ``step`` is the 1-based step, ``name`` and ``value`` the loss."""

    def __init__(self, step, name, value, note=""):
        super().__init__(f"training diverged at step {step}: {name} = {value}" + (f"; {note}" if note else ""))
        self.step, self.name, self.value = step, name, value


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run after ``step`` finished steps; the run's checkpoint at that step is ``checkpoint``."""

    def __init__(self, step, checkpoint):
        super().__init__(f"interrupted after step {step}; checkpoint: {checkpoint}")
        self.step, self.checkpoint = step, checkpoint


def check_finite(step, losses):
    """Raise DivergenceError for the first NaN/inf value in ``losses`` (name -> float)."""
    for name, value in losses.items():
        if not math.isfinite(value):
            raise DivergenceError(step, name, value)


def batch_tensor(loader, device):
    """The loader's next batch of images as a float32 Tensor on ``device``."""
    return mg.tensor(loader.next_batch(), device=device)


def normal_noise(rng, shape, device):
    """A standard normal Tensor drawn from the NumPy Generator ``rng`` (always on the CPU, then moved)."""
    return mg.tensor(rng.standard_normal(shape).astype(np.float32), device=device)


def record(history, step, values):
    """Append one row (``step`` and the floats in ``values``) to the column-wise ``history``."""
    history.setdefault("step", []).append(step)
    for name, value in values.items():
        history.setdefault(name, []).append(float(value))


def run_callbacks(callbacks, step, values):
    """Call every ``callback(step, values)``; ``step`` counts finished steps (1-based)."""
    for callback in callbacks:
        callback(step, values)
