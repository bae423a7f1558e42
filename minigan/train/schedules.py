"""Multi-stage optimisation: change the learning rate, or switch optimizer, at given steps.

``MultiStage([(0, adam), (k, adam, 2e-5)])`` trains with ``adam`` and drops its learning rate to
2e-5 from step k on (the moment estimates are kept); ``MultiStage([(0, adam), (k, sgd)])``
switches to another optimizer over the same parameters at step k. It has the optimizer
interface the training loops use (``zero_grad``, ``step``, ``state_dict``, ``load_state_dict``)
and counts its own steps, so it resumes exactly from a checkpoint.
"""


class MultiStage:
    """Stage ``(start, optimizer[, lr])`` is in charge while ``start <= steps taken < next start``."""

    def __init__(self, stages):
        if not stages or stages[0][0] != 0:
            raise ValueError("the first stage must start at step 0")
        starts = [stage[0] for stage in stages]
        if starts != sorted(set(starts)):
            raise ValueError(f"stage starts must be strictly increasing, got {starts}")
        self.stages = [(int(stage[0]), stage[1], stage[2] if len(stage) > 2 else None) for stage in stages]
        self.optimizers = []
        for _, optimizer, _ in self.stages:
            if all(optimizer is not known for known in self.optimizers):
                self.optimizers.append(optimizer)
        self.count = 0

    def current(self):
        """The optimizer of the stage in charge of the next step, with that stage's learning rate set."""
        start, optimizer, lr = [stage for stage in self.stages if stage[0] <= self.count][-1]
        if lr is not None:
            optimizer.lr = lr
        return optimizer

    @property
    def lr(self):
        return self.current().lr

    def zero_grad(self):
        for optimizer in self.optimizers:
            optimizer.zero_grad()

    def step(self):
        self.current().step()
        self.count += 1

    def state_dict(self):
        return {"count": self.count, "optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state):
        if len(state["optimizers"]) != len(self.optimizers):
            raise ValueError(f"state has {len(state['optimizers'])} optimizers, this schedule {len(self.optimizers)}")
        for optimizer, saved in zip(self.optimizers, state["optimizers"]):
            optimizer.load_state_dict(saved)
        self.count = int(state["count"])
