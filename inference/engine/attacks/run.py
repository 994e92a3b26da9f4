"""One entry point for every attack: run it, quantise to 8 bits, re-classify, measure.

An adversarial image counts as successful only once its 8-bit version
still fools the model: that is the image participants will see. The 8-bit
image here is bit for bit what decoding the stored PNG gives
(`quantize.from_uint8`), so the Django side's re-classification from the
file must agree with `AttackResult.predictions`, provided the file is decoded
straight to pixels (`from_uint8` of `load_rgb`'s array) and not through
`to_model_input`, whose resize would rescale the already model-sized image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .classify import classes_of, logits_of
from .gradient import fgsm, pgd
from .minimum_norm import carlini_wagner, deepfool
from .params import AttackParams
from .quantization import l2_distance, linf_distance, quantize
from .rescale import survive_quantisation


@dataclass(frozen=True)
class AttackResult:
    """Adversarial images after 8-bit quantisation, with what is stored beside each one.

    - `images`: float32 `[N, 3, H, W]`, values k/255, on the input images' device.
    - `predictions`: int64 `[N]`, the model's class for each quantised image.
    - `targets`: int64 `[N]` class aimed at (targeted attacks), else None.
    - `success`: bool `[N]`: prediction == target (targeted) or != label.
    - `linf`: float32 `[N]`, L-inf distance to the original in 1/255 units.
    - `l2`: float32 `[N]`, L2 distance to the original in [0, 1] pixel units.

    The per-image tensors are on the CPU.
    """

    params: AttackParams
    images: torch.Tensor
    predictions: torch.Tensor
    targets: torch.Tensor | None
    success: torch.Tensor
    linf: torch.Tensor
    l2: torch.Tensor

    def record(self, index: int) -> dict[str, Any]:
        """JSON-serialisable facts about image `index`: parameters, target, prediction, success, distances."""
        return {
            "params": self.params.to_dict(),
            "target": None if self.targets is None else int(self.targets[index]),
            "prediction": int(self.predictions[index]),
            "success": bool(self.success[index]),
            "linf": float(self.linf[index]),
            "l2": float(self.l2[index]),
        }


def run_attack(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    params: AttackParams,
    num_classes: int,
    batch_size: int = 8,
) -> AttackResult:
    """Run the attack `params` describes on `images`, `batch_size` at a time, and measure the 8-bit result.

    - `model`: maps `[B, 3, H, W]` in [0, 1] to `[B, num_classes]` logits (a `Normalized`).
    - `images`: float `[N, 3, H, W]` in [0, 1] (usually 8-bit already), any device; not modified.
    - `labels`: int64 `[N]` in [0, num_classes): what an untargeted attack moves
      away from (the clean prediction, or the true class; an image the model
      already gets wrong then counts as a success at once).
    - `params`: eps and step are converted from 1/255 units to [0, 1] pixel units here.

    Costs, per batch, besides the attack's own passes: one forward to
    re-classify the quantised images, and one more for "least_likely"
    targeting (the argmin of the clean logits).

    The random start, when asked for, comes from `params.seed` alone (drawn
    on the CPU, so it is the same on every device). On the CPU the same
    inputs, seed and batch size give bit-identical images. On CUDA, L-inf
    attacks came out bit-identical on reruns but L2 PGD and C&W differed in
    about 0.2 % of pixels (cuDNN's backward passes are not deterministic),
    and CPU and GPU results differ: store the 8-bit image, never regenerate it.

    Raises ValueError for a target class or label outside the model's
    classes, or malformed inputs.
    """
    _check_inputs(images, labels, num_classes, batch_size)
    params.check_classes(num_classes)
    generator = torch.Generator().manual_seed(params.seed)
    targets = _targets(model, images, params, batch_size)
    chunks = []
    for start in range(0, images.shape[0], batch_size):
        window = slice(start, start + batch_size)
        aim = labels[window] if targets is None else targets[window]
        raw = _attack(model, images[window], aim, params, num_classes, generator)
        chunks.append(quantize(raw))
    adversarial = torch.cat(chunks)
    predictions = classes_of(model, adversarial, batch_size)
    success = predictions == targets if targets is not None else predictions != labels.cpu()
    return AttackResult(
        params=params,
        images=adversarial,
        predictions=predictions,
        targets=targets,
        success=success,
        linf=linf_distance(adversarial, images).cpu(),
        l2=l2_distance(adversarial, images).cpu(),
    )


def _attack(
    model: nn.Module,
    images: torch.Tensor,
    aim: torch.Tensor,
    params: AttackParams,
    num_classes: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """The adversarial images of one batch; `aim` is the label or the target.

    Minimum-norm attacks come back already lengthened to survive 8-bit
    quantisation (`survive_quantisation`); quantising them again changes nothing.
    """
    if params.attack == "deepfool":
        raw = deepfool(
            model,
            images,
            aim,
            norm=params.norm,
            steps=params.steps,
            overshoot=params.overshoot,
            candidates=min(params.candidates, num_classes),
        )
        return survive_quantisation(model, images, raw, aim, targeted=False, batch_size=images.shape[0])
    if params.attack == "cw":
        raw = carlini_wagner(
            model,
            images,
            aim,
            targeted=params.targeted,
            steps=params.steps,
            confidence=params.confidence,
            binary_search_steps=params.binary_search_steps,
            initial_const=params.initial_const,
        )
        return survive_quantisation(
            model, images, raw, aim, targeted=params.targeted, batch_size=images.shape[0]
        )
    eps = params.eps / 255.0
    if params.attack == "fgsm":
        return fgsm(model, images, aim, eps=eps, norm=params.norm, targeted=params.targeted)
    return pgd(
        model,
        images,
        aim,
        eps=eps,
        step=params.step / 255.0,
        steps=params.steps,
        norm=params.norm,
        targeted=params.targeted,
        random_start=params.random_start,
        generator=generator,
    )


def _targets(
    model: nn.Module, images: torch.Tensor, params: AttackParams, batch_size: int
) -> torch.Tensor | None:
    """The class each image is pushed towards (on the CPU), or None for untargeted attacks."""
    if params.targeting == "given":
        return torch.full((images.shape[0],), params.target_class, dtype=torch.int64)
    if params.targeting == "least_likely":
        return logits_of(model, images, batch_size).argmin(dim=1)
    return None


def _check_inputs(images: torch.Tensor, labels: torch.Tensor, num_classes: int, batch_size: int) -> None:
    if images.dim() != 4 or images.shape[0] == 0 or images.shape[1] != 3:
        raise ValueError(f"images must be a non-empty [N, 3, H, W] batch, got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floats in [0, 1], got {images.dtype}")
    if labels.shape != images.shape[:1] or labels.dtype != torch.int64:
        raise ValueError(
            f"labels must be int64 [N] with N = {images.shape[0]}, got {labels.dtype} {tuple(labels.shape)}"
        )
    if bool(((labels < 0) | (labels >= num_classes)).any()):
        found = f"{int(labels.min())}..{int(labels.max())}"
        raise ValueError(f"labels must be classes of the model (0..{num_classes - 1}), got labels in {found}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
