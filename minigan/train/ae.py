"""The autoencoder training loop: minimise the mean squared error ``mean (decoder(encoder(x)) - x)²``."""

from minigan import functional as F
from minigan.train.common import batch_tensor, check_finite, record, run_callbacks


def ae_loss(model, x):
    """``MSE(model(x), x)``, the mean over every pixel of ``(x̂ - x)²``."""
    return F.mse_loss(model(x), x)


def train_ae(model, loader, optimizer, steps, device="cpu", start_step=0, history=None, callbacks=()):
    """Train an ``AutoEncoder`` from step ``start_step`` up to ``steps``; returns the history (``loss``).

    After every step each ``callback(step, values)`` runs. Raises ``DivergenceError`` on a NaN/inf loss.
    """
    history = {} if history is None else history
    model.train()
    for step in range(start_step + 1, steps + 1):
        # 1. a batch, its reconstruction and the loss
        x = batch_tensor(loader, device)
        loss = ae_loss(model, x)
        check_finite(step, {"loss": loss.item()})

        # 2. one optimizer step
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        values = {"loss": loss.item()}
        record(history, step, values)
        run_callbacks(callbacks, step, values)
    return history
