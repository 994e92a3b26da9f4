"""Top-k class predictions for a batch of images."""

from __future__ import annotations

import torch
from torch import nn

from .classifier import eval_mode, model_device


def topk(
    model: nn.Module, images: torch.Tensor, k: int, batch_size: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most probable classes of each image, by softmax over the model's logits.

    `model` maps `[B, 3, H, W]` in [0, 1] to logits `[B, C]` (e.g. a
    `Normalized`); `images` is float `[N, 3, H, W]` in [0, 1], on any device.
    Runs in eval mode (each submodule's flag is restored afterwards) under
    inference mode, `batch_size` images at a time, channels_last on the
    model's device (the fastest layout at the small batches that are best on
    CPU), with float16 autocast on CUDA. `images` is not modified.

    Returns `(probs, indices)`, both `[N, k]` on the CPU: probs float32 in
    descending order, indices int64. Raises ValueError unless 1 <= k <= C,
    batch_size >= 1 and `images` is a non-empty 4-D batch.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty [N, 3, H, W] batch, got {tuple(images.shape)}")

    device = model_device(model)
    probs, indices = [], []
    # Half precision on CUDA (tensor cores); softmax and top-k are taken in float32 below.
    autocast = torch.autocast("cuda", dtype=torch.float16, enabled=device.type == "cuda")
    with eval_mode(model), torch.inference_mode(), autocast:
        for start in range(0, images.shape[0], batch_size):
            # .to() copies whenever device or layout changes; `images` itself
            # is never written to.
            batch = images[start : start + batch_size].to(device=device, memory_format=torch.channels_last)
            logits = model(batch)
            if k > logits.shape[1]:
                raise ValueError(f"k must be at most the {logits.shape[1]} classes, got {k}")
            top = logits.float().softmax(dim=1).topk(k, dim=1)
            probs.append(top.values.cpu())
            indices.append(top.indices.cpu())
    return torch.cat(probs), torch.cat(indices)
