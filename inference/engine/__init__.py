"""SecondLook's inference engine: plain torch, no Django, no settings.

Images are `[N, 3, H, W]` float tensors in [0, 1]; models take them as they
are and normalise inside (`Normalized`).
"""

from .bundled import BUNDLED_PREPROCESSING, bundled_weights_path, load_bundled
from .classifier import LoadedClassifier, Normalized, eval_mode
from .hashing import sha256_file
from .predict import topk
from .preprocessing import (
    Preprocessing,
    load_model_inputs,
    load_rgb,
    resize_and_crop,
    stack_inputs,
    to_model_input,
)
from .registry import ClassifierLoadError, describe_bundled, load_classifier

__all__ = [
    "BUNDLED_PREPROCESSING",
    "ClassifierLoadError",
    "LoadedClassifier",
    "Normalized",
    "Preprocessing",
    "bundled_weights_path",
    "describe_bundled",
    "eval_mode",
    "load_bundled",
    "load_classifier",
    "load_model_inputs",
    "load_rgb",
    "resize_and_crop",
    "sha256_file",
    "stack_inputs",
    "to_model_input",
    "topk",
]
