"""Forward passes the attacks make outside their gradient loops: targets and 8-bit verdicts."""

from __future__ import annotations

import torch
from torch import nn

from ..classifier import eval_mode, model_device


def logits_of(model: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The model's float32 logits `[N, C]` for `images` `[N, 3, H, W]`, on the CPU, `batch_size` at a time.

    Under no_grad rather than inference_mode, because callers update the
    results in place.
    """
    device = model_device(model)
    outputs = []
    with eval_mode(model), torch.no_grad():
        for batch in images.split(batch_size):
            outputs.append(model(batch.to(device=device, memory_format=torch.channels_last)).float().cpu())
    return torch.cat(outputs)


def classes_of(model: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The predicted class of each image: int64 `[N]` on the CPU."""
    return logits_of(model, images, batch_size).argmax(dim=1)
