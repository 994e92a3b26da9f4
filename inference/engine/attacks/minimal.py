"""The smallest L-inf budget that makes the model see a target class: the bias-finding mode.

For a target class, images of other classes that need only a tiny
perturbation to be classified as the target sit close to it in the model's
eyes; ranking them by that budget surfaces what the model associates with
the class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .classify import classes_of
from .gradient import pgd
from .params import checked_integer
from .quantization import quantize


@dataclass(frozen=True)
class MinimalPerturbation:
    """Per image: the smallest budget found, the 8-bit adversarial image at it, and its prediction.

    - `eps`: float32 `[N]` on the CPU, in 1/255 units: 0 for an image already
      classified as the target, `inf` where even the largest budget failed.
    - `images`: float32 `[N, 3, H, W]`, k/255, on the input images' device
      (the input image itself where `eps` is 0 or inf).
    - `predictions`: int64 `[N]` on the CPU, the model's class for `images`.
    """

    eps: torch.Tensor
    images: torch.Tensor
    predictions: torch.Tensor


def minimal_targeted_linf(
    model: nn.Module,
    images: torch.Tensor,
    target_class: int,
    num_classes: int,
    *,
    max_eps: int = 32,
    steps: int = 10,
    batch_size: int = 8,
) -> MinimalPerturbation:
    """Per image, the smallest whole L-inf budget (1/255 units) at which targeted PGD reaches `target_class`.

    Binary search over eps in 1..`max_eps`, batch-native: every image keeps
    its own interval, and each round runs targeted PGD (`steps` steps of
    2.5 * eps / steps, no random start, so the result is deterministic) on
    the images still searching, each at its own eps. Success is judged on
    the 8-bit image, as everywhere: for 8-bit inputs its L-inf distance is
    at most the budget. The search assumes that success grows with the
    budget; the returned budget is always one at which success was observed,
    and the smallest found. Cost: one forward for the clean predictions, then
    at most 1 + ceil(log2(max_eps)) PGD runs, each `steps` x (forward +
    backward) + 1 forward, on the images still searching.

    `images`: float `[N, 3, H, W]` in [0, 1], any device, not modified.
    Raises ValueError for a target class outside 0..num_classes-1, max_eps
    outside 1..255 or steps outside 1..10000.
    """
    _check(images, target_class, num_classes, max_eps, steps, batch_size)
    results = [
        _search(model, batch, target_class, max_eps, steps) for batch in images.detach().split(batch_size)
    ]
    return MinimalPerturbation(
        eps=torch.cat([eps for eps, _, _ in results]),
        images=torch.cat([found for _, found, _ in results]),
        predictions=torch.cat([predictions for _, _, predictions in results]),
    )


def _search(
    model: nn.Module, images: torch.Tensor, target_class: int, max_eps: int, steps: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    count = images.shape[0]
    found = images.clone()
    predictions = classes_of(model, images, images.shape[0])
    # Invariant: success observed at `high` (when `reached`), not at `low`.
    low = torch.zeros(count, dtype=torch.int64)
    high = torch.full((count,), max_eps, dtype=torch.int64)
    reached = predictions == target_class
    high[reached] = 0
    searching = ~reached
    first = True
    while bool(searching.any()):
        index = searching.nonzero().squeeze(1)
        eps = high[index] if first else (low[index] + high[index]) // 2
        adversarial, hit = _attempt(model, images[index.to(images.device)], eps, target_class, steps)
        winners, losers = index[hit], index[~hit]
        found[winners.to(images.device)] = adversarial[hit.to(images.device)]
        predictions[winners] = target_class
        high[winners] = eps[hit]
        reached[winners] = True
        if first:
            # Not reached even at max_eps: out of the search, budget inf.
            searching[losers] = False
            first = False
        else:
            low[losers] = eps[~hit]
        searching &= reached & (high - low > 1)
    budget = torch.where(reached, high.to(torch.float32), torch.tensor(float("inf")))
    return budget, found, predictions


def _attempt(
    model: nn.Module, images: torch.Tensor, eps: torch.Tensor, target_class: int, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targeted PGD at per-image budgets `eps` (1/255 units): the 8-bit images, and which hit the target."""
    budget = eps.to(torch.float32) / 255.0
    targets = torch.full((images.shape[0],), target_class, dtype=torch.int64)
    raw = pgd(model, images, targets, eps=budget, step=2.5 * budget / steps, steps=steps, targeted=True)
    adversarial = quantize(raw)
    return adversarial, classes_of(model, adversarial, adversarial.shape[0]) == target_class


def _check(
    images: torch.Tensor, target_class: int, num_classes: int, max_eps: int, steps: int, batch_size: int
) -> None:
    if images.dim() != 4 or images.shape[0] == 0 or images.shape[1] != 3:
        raise ValueError(f"images must be a non-empty [N, 3, H, W] batch, got {tuple(images.shape)}")
    checks = {
        "target_class": (target_class, 0, num_classes - 1),
        "max_eps": (max_eps, 1, 255),
        "steps": (steps, 1, 10_000),
        "batch_size": (batch_size, 1, None),
    }
    for name, (value, low, high) in checks.items():
        checked_integer(name, value, low, high)
