"""Training loops, one per model family, and the run driver behind ``minigan train``."""

from minigan.train.ae import train_ae
from minigan.train.common import DivergenceError
from minigan.train.gan import train_gan
from minigan.train.runner import load_model, make_config, resume_config, run_training
from minigan.train.schedules import MultiStage
from minigan.train.vae import train_vae

__all__ = ["train_ae", "train_gan", "train_vae", "DivergenceError", "MultiStage", "make_config", "resume_config",
           "run_training", "load_model"]
