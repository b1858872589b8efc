"""Models by name (timm style): `create_model("mlp", input_shape=(1, 28, 28), num_outputs=10, hidden=[256])`.

Every builder takes the input shape and the number of outputs, so sizes are derived, never hand-computed, and a
checkpoint's JSON (name + arguments) is enough to rebuild its model.
"""

from neuralab.models import backbones, cnn, cnn_basic, detectors, fastnet, mlp, resnet_small  # noqa: F401  (registration)
from neuralab.models.registry import MODELS, create_model, model_args, register_model

__all__ = ["MODELS", "create_model", "model_args", "register_model"]
