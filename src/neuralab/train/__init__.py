"""The PyTorch training engine shared by every torch model in neuralab."""

from neuralab.train.checkpoint import load_model, load_state, save_model, save_state
from neuralab.train.config import TrainConfig
from neuralab.train.trainer import Trainer, train

__all__ = ["TrainConfig", "Trainer", "load_model", "load_state", "save_model", "save_state", "train"]
