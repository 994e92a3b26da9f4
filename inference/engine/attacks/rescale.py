"""Lengthening a minimum-norm perturbation until its 8-bit image still fools the model.

DeepFool and C&W stop just across the decision boundary. On ImageNet-sized
images their perturbations are often far below one grey level per pixel
(an L2 norm of 0.03 over 224 x 224 x 3 values), so rounding to 8 bits
erases them and the stored image is not adversarial at all. Scaling the
perturbation along its own direction keeps what the attack found (the
direction) and adds only as much length as quantisation needs.
"""

from __future__ import annotations

import torch
from torch import nn

from .classify import classes_of
from .quantization import quantize

# Doublings of the perturbation tried before giving up: up to 1024 times the
# attack's own length, by which point a perturbation of 1e-4 per pixel
# moves pixels by about 26 grey levels.
MAX_DOUBLINGS = 10
# Bisection rounds between the last failing and the first fooling length:
# the final length is within 1/32 of the first fooling power of two.
REFINEMENTS = 4


def survive_quantisation(
    model: nn.Module,
    images: torch.Tensor,
    adversarial: torch.Tensor,
    aim: torch.Tensor,
    *,
    targeted: bool,
    batch_size: int = 8,
) -> torch.Tensor:
    """Per image, `quantize(x0 + f * (x_adv - x0))` with about the smallest f >= 1 that fools the model.

    Fooling means predicting `aim` (targeted) or anything but `aim`. f is
    found by doubling from 1 (up to 2^MAX_DOUBLINGS) and then REFINEMENTS
    rounds of bisection between the last failing and the first fooling f,
    each round one forward pass on the images concerned only. An image that
    no f fools keeps f = 1 (and is reported as unsuccessful by the caller).

    `images`, `adversarial`: float `[N, 3, H, W]` in [0, 1] on one device;
    `aim`: int64 `[N]`. Returns float32 `[N, 3, H, W]`, values k/255, on the
    images' device.
    """
    delta = adversarial - images
    result = quantize(adversarial)
    aim = aim.cpu()
    low = torch.zeros(images.shape[0])  # a length known to fail (0: the original)
    high = torch.full((images.shape[0],), float("inf"))  # the shortest length seen to fool

    def attempt(index: torch.Tensor, factor: torch.Tensor) -> None:
        on_device = index.to(images.device)
        scale = factor.to(images.device, torch.float32).reshape(-1, 1, 1, 1)
        candidates = quantize(images[on_device] + scale * delta[on_device])
        predictions = classes_of(model, candidates, batch_size)
        fooled = predictions == aim[index] if targeted else predictions != aim[index]
        result[on_device[fooled.to(images.device)]] = candidates[fooled.to(images.device)]
        high[index[fooled]] = factor[fooled]
        low[index[~fooled]] = factor[~fooled]

    for doubling in range(MAX_DOUBLINGS + 1):
        index = high.isinf().nonzero().squeeze(1)
        if index.numel() == 0:
            break
        attempt(index, torch.full((index.numel(),), 2.0**doubling))
    for _ in range(REFINEMENTS):
        index = (high.isfinite() & (high > 1)).nonzero().squeeze(1)
        if index.numel() == 0:
            break
        attempt(index, (low[index] + high[index]) / 2)
    return result
