"""Tiny seeded classifiers and images, so tests run in milliseconds without the real model.

Used by the engine tests and by the Django-side tests (tasks, services) that
need a LoadedClassifier but not ImageNet accuracy.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from PIL import Image
from torch import nn

from .classifier import LoadedClassifier, model_device, prepare_for_inference
from .preprocessing import Preprocessing

TINY_ARCHITECTURE = "tiny_cnn"
# ImageNet statistics rather than 0.5: a mean/std that differ per channel
# make tests notice when normalisation is skipped or applied twice.
TINY_PREPROCESSING = Preprocessing(
    resize=32,
    crop=32,
    interpolation="bilinear",
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
)


def tiny_net(num_classes: int = 10, seed: int = 0) -> nn.Module:
    """A small CNN (conv-BN-ReLU x2, global average pool, linear) with seeded weights.

    Takes normalised `[N, 3, H, W]` (any H, W >= 4) and returns logits
    `[N, num_classes]`. The global RNG is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, num_classes),
        )


def tiny_classifier(
    num_classes: int = 10, seed: int = 0, device: str | torch.device = "cpu"
) -> LoadedClassifier:
    """A LoadedClassifier around `tiny_net`, prepared like the real ones.

    Input `[N, 3, 32, 32]` in [0, 1] (TINY_PREPROCESSING); eval mode, frozen
    parameters. weights_sha256 hashes the parameters, so it changes with
    `seed` and `num_classes` like a real weights file would.
    """
    net = tiny_net(num_classes, seed)
    model = prepare_for_inference(net, TINY_PREPROCESSING, device)
    return LoadedClassifier(
        model=model,
        architecture=TINY_ARCHITECTURE,
        preprocessing=TINY_PREPROCESSING,
        num_classes=num_classes,
        weights_sha256=_state_sha256(net),
        source="testing",
        device=model_device(model),
    )


def random_images(count: int, size: tuple[int, int] = (40, 30), seed: int = 0) -> list[Image.Image]:
    """`count` RGB PIL images of `size` (width, height) with seeded uniform noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    return [Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for _ in range(count)]


def _state_sha256(net: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
