"""Gradient attacks with a budget: FGSM, I-FGSM (BIM) and PGD, L-inf and L2, batch-native torch.

Budgets here are in [0, 1] pixel units (4/255, not 4): `run.run_attack`
converts the 1/255 units of `AttackParams`. Each iteration is exactly one
forward and one backward pass to the input; nothing else touches the model,
so PGD-k costs k x (forward + backward).

The update follows ART's ProjectedGradientDescent, which the tests compare
against: step along the sign (L-inf) or the L2-normalised gradient, clip to
[0, 1], then project the perturbation onto the eps-ball around the original.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..classifier import model_device
from .model_state import attack_mode

Budget = float | torch.Tensor


def fgsm(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps: Budget,
    norm: str = "linf",
    targeted: bool = False,
) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): `x + eps * sign(grad)`, clipped to [0, 1].

    With norm "l2" this is the fast gradient method, `x + eps * grad / ||grad||_2`.
    One forward and one backward pass. Arguments and return value as `pgd`.
    """
    return pgd(model, images, labels, eps=eps, step=eps, steps=1, norm=norm, targeted=targeted)


def pgd(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps: Budget,
    step: Budget,
    steps: int,
    norm: str = "linf",
    targeted: bool = False,
    random_start: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PGD (Madry et al. 2018); without random start, BIM / I-FGSM (Kurakin et al. 2017).

    Per step: `x <- Proj_eps(clip01(x + step * d))` with d the sign of the
    gradient of the cross-entropy (L-inf) or the gradient divided by its L2
    norm (L2); ascending the loss of `labels` (untargeted) or descending the
    loss of the target classes in `labels` (targeted).

    - `model`: maps `[B, 3, H, W]` in [0, 1] to logits (a `Normalized`).
    - `images`: float `[N, 3, H, W]` in [0, 1], any device; not modified.
    - `labels`: int64 `[N]`: the class to move away from, or towards when `targeted`.
    - `eps`, `step`: in [0, 1] pixel units, floats or per-image tensors `[N]`.
    - `steps` >= 1; `norm` "linf" or "l2".
    - `random_start`: start from a uniform point of the eps-ball (L-inf:
      uniform per pixel; L2: uniform in the ball), drawn from `generator`
      (required then) on the CPU one image at a time, so the start does not
      depend on the device or on how images are batched.

    Returns the float adversarial images `[N, 3, H, W]` in [0, 1] on the
    images' device (not quantised). The model's training and requires_grad
    flags are restored.
    """
    if norm not in ("linf", "l2"):
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if images.dim() != 4 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"need images [N, 3, H, W] and labels [N], got {tuple(images.shape)}, {tuple(labels.shape)}"
        )
    if random_start and generator is None:
        raise ValueError("random_start needs a generator: randomness comes from an explicit seed only")

    device = model_device(model)
    # channels_last: the layout the engine's models are stored in, about 1.6x
    # faster on CPU at small batches. Copies, because the inputs may come from
    # inference mode (topk's labels do), which autograd refuses to touch.
    original = (
        images.detach().to(device=device, dtype=torch.float32, memory_format=torch.channels_last).clone()
    )
    labels = labels.to(device).clone()
    eps_ = _per_image(eps, original)
    step_ = _per_image(step, original) * (-1.0 if targeted else 1.0)
    adversarial = original
    if random_start:
        adversarial = (original + _random_start(original, eps_, norm, generator)).clamp(0.0, 1.0)
    with attack_mode(model):
        for _ in range(steps):
            adversarial = adversarial.detach().requires_grad_(True)
            # Summed, not averaged: each image's gradient is then independent
            # of the batch it happens to be in.
            loss = F.cross_entropy(model(adversarial), labels, reduction="sum")
            (gradient,) = torch.autograd.grad(loss, adversarial)
            with torch.no_grad():
                moved = (adversarial + step_ * _direction(gradient, norm)).clamp(0.0, 1.0)
                adversarial = original + _project(moved - original, eps_, norm)
    return adversarial.detach().to(images.device)


def _per_image(value: Budget, like: torch.Tensor) -> torch.Tensor:
    """A budget as a `[N, 1, 1, 1]` tensor on `like`'s device, checked to be positive."""
    tensor = torch.as_tensor(value, dtype=torch.float32, device=like.device)
    if tensor.dim() not in (0, 1) or (tensor.dim() == 1 and tensor.shape[0] != like.shape[0]):
        raise ValueError(f"a budget must be a number or one per image, got shape {tuple(tensor.shape)}")
    if not bool((tensor > 0).all()) or not bool(tensor.isfinite().all()):
        raise ValueError("eps and step must be positive and finite (in [0, 1] pixel units)")
    return tensor.expand(like.shape[0]).reshape(-1, 1, 1, 1)


def _direction(gradient: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent direction of unit norm: sign (L-inf) or gradient / ||gradient||_2."""
    if norm == "linf":
        return gradient.sign()
    norms = gradient.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
    # A zero gradient (saturated softmax) gives a zero step, as in ART.
    return gradient / norms.clamp_min(1e-12)


def _project(delta: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    """The closest point to `delta` in the eps-ball of the norm."""
    if norm == "linf":
        return torch.minimum(torch.maximum(delta, -eps), eps)
    norms = delta.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
    return delta * torch.clamp(eps / norms.clamp_min(1e-12), max=1.0)


def _random_start(
    original: torch.Tensor, eps: torch.Tensor, norm: str, generator: torch.Generator
) -> torch.Tensor:
    """A uniform random point of the eps-ball per image, drawn on the CPU image by image."""
    shape = (1, *original.shape[1:])
    if norm == "linf":
        draws = [torch.rand(shape, generator=generator) * 2.0 - 1.0 for _ in range(original.shape[0])]
        unit = torch.cat(draws)
    else:
        # Uniform in the unit ball: a Gaussian direction and radius U^(1/d).
        dims = original[0].numel()
        directions, radii = [], []
        for _ in range(original.shape[0]):
            directions.append(torch.randn(shape, generator=generator))
            radii.append(torch.rand(1, generator=generator).pow(1.0 / dims))
        direction = torch.cat(directions)
        norms = direction.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
        unit = direction / norms * torch.cat(radii).reshape(-1, 1, 1, 1)
    return unit.to(original.device, memory_format=torch.channels_last) * eps
