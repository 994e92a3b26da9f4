"""Minimum-norm attacks: DeepFool and Carlini-Wagner L2, both through Foolbox.

Both look for the smallest perturbation that changes the prediction rather
than the strongest one within a budget.

Which library, and why (found in ART's source and by experiment;
tests/engine/test_attacks_art.py checks the chosen attacks against ART):
- DeepFool: ART 1.20's DeepFool with `nb_grads` below the number of classes
  subtracts the score of the wrong class (it indexes the full logits with a
  position in its candidate list), so on images of different classes most
  are not fooled at all (5 of 6 on the tiny test model). With `nb_grads` =
  all classes it is correct but computes one gradient per class per
  iteration: 1000 backward passes per step on ImageNet. Foolbox 3.3.4's
  DeepFool restricts itself correctly to each image's own top `candidates`
  classes, is batch-native torch and agrees with ART's all-classes
  DeepFool, so it is used here.
- C&W: ART's CarliniL2Method treats a batch like single images, but its
  binary search over the constant c is broken: `c_old = c_current` aliases
  the array that is then doubled in place, so the lower bound jumps to the
  new c and c is never lowered again after the first success. It found
  perturbations 25-45 % larger than Foolbox's on some test images, and its
  line search costs about ten forward passes per iteration, through numpy.
  Foolbox's L2CarliniWagnerAttack follows the original (Adam, per-image
  binary search), costs one forward and backward pass per step and runs
  batched on the model's device, so it is used here.

Both return the attack's own float result; `rescale.survive_quantisation`
turns it into an 8-bit image that still fools the model.
"""

from __future__ import annotations

import os
from types import ModuleType

import torch
from torch import nn

from ..classifier import model_device
from .model_state import attack_mode


def deepfool(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    norm: str = "l2",
    steps: int = 50,
    overshoot: float = 0.02,
    candidates: int = 10,
) -> torch.Tensor:
    """DeepFool (Moosavi-Dezfooli et al. 2016), untargeted, via Foolbox's L2 / L-inf DeepFool.

    Linearises the model around the current point and steps to the nearest
    linearised decision boundary among the image's `candidates` most likely
    classes, until the prediction leaves `labels` (or `steps` iterations);
    the accumulated perturbation is scaled by (1 + `overshoot`) each step.
    Each iteration costs `candidates - 1` forward and backward passes.

    `images`: float `[N, 3, H, W]` in [0, 1], not modified; `labels`: int64
    `[N]`, the class to leave (an image whose prediction already differs is
    returned unchanged). Returns float `[N, 3, H, W]` in [0, 1] on the
    images' device (not quantised).
    """
    foolbox = _foolbox()
    attacks = {"l2": foolbox.attacks.L2DeepFoolAttack, "linf": foolbox.attacks.LinfDeepFoolAttack}
    if norm not in attacks:
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    attack = attacks[norm](steps=steps, candidates=candidates, overshoot=overshoot)
    device = model_device(model)
    # Copies: inputs from inference mode (as topk returns them) refuse autograd.
    inputs = images.detach().to(device=device, dtype=torch.float32).clone()
    with attack_mode(model):
        wrapped = foolbox.PyTorchModel(model, bounds=(0.0, 1.0), device=device)
        adversarial = attack.run(
            wrapped, inputs, foolbox.criteria.Misclassification(labels.to(device).clone())
        )
    return adversarial.detach().to(images.device)


def carlini_wagner(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    targeted: bool = False,
    steps: int = 100,
    confidence: float = 0.0,
    binary_search_steps: int = 9,
    initial_const: float = 1e-3,
) -> torch.Tensor:
    """Carlini-Wagner L2 (Carlini & Wagner 2017) via Foolbox's `L2CarliniWagnerAttack`.

    Minimises `||delta||_2^2 + c * max(Z_label - max_other Z + kappa, 0)`
    (untargeted; targeted: `max_other Z - Z_target + kappa`) over a tanh
    reparametrisation with Adam (step 0.01), `steps` steps per value of c,
    each one forward and backward pass; c starts at `initial_const` and is
    multiplied by 10 until an adversarial is found, then bisected, per
    image, `binary_search_steps` times. Adam stops early once the batch's
    total loss stalls, as in the original. `confidence` is kappa, a logit margin.

    `images`: float `[N, 3, H, W]` in [0, 1], not modified; `labels`: int64
    `[N]`, the class to leave, or the target class when `targeted`. An image
    with no adversarial found is returned unchanged. Returns float
    `[N, 3, H, W]` in [0, 1] on the images' device (not quantised).
    """
    foolbox = _foolbox()
    attack = foolbox.attacks.L2CarliniWagnerAttack(
        binary_search_steps=binary_search_steps,
        steps=steps,
        confidence=confidence,
        initial_const=initial_const,
    )
    device = model_device(model)
    # Copies: inputs from inference mode (as topk returns them) refuse autograd.
    inputs = images.detach().to(device=device, dtype=torch.float32).clone()
    labels = labels.to(device).clone()
    criterion = (
        foolbox.criteria.TargetedMisclassification(labels)
        if targeted
        else foolbox.criteria.Misclassification(labels)
    )
    with attack_mode(model):
        wrapped = foolbox.PyTorchModel(model, bounds=(0.0, 1.0), device=device)
        adversarial = attack.run(wrapped, inputs, criterion).detach()
    # Foolbox starts its best-so-far images at zero and returns zeros where
    # it found nothing; tanh space never yields an exact all-zero image.
    missing = (adversarial == 0).flatten(1).all(dim=1)
    adversarial[missing] = inputs[missing]
    return adversarial.to(images.device)


def _foolbox() -> ModuleType:
    """Import Foolbox (a second's work, so only when an attack needs it).

    Foolbox imports GitPython for its model zoo, which this engine never
    uses, and GitPython refuses to import without a `git` executable (the
    slim worker image has none) unless told to stay quiet.
    """
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    import foolbox

    return foolbox
