"""Penultimate-layer features of a classifier, distances between them, and nearest neighbours.

The features are what example-based explanations work on: MMD-critic picks a
class's prototypes and criticisms in this space, and `nearest` finds the
images of a class that the model sees as most alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .classifier import eval_mode, model_device

METRICS = ("cosine", "euclidean")


def final_linear(model: nn.Module) -> nn.Linear:
    """The model's last registered `nn.Linear`, taken to be its classification layer.

    timm and torchvision classifiers register their head last (`fc`,
    `classifier`, `head`); `penultimate_features` checks on every batch that
    this layer's output really is the model's output. Raises ValueError when
    the model has no `nn.Linear`, e.g. a TorchScript module, whose submodules
    are not `nn.Linear` instances and cannot be hooked.
    """
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(
            f"{type(model).__name__} has no nn.Linear final layer to take features from "
            "(TorchScript modules cannot be hooked)"
        )
    return linears[-1]


def penultimate_features(model: nn.Module, images: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """The input of the model's final linear layer for each image: its penultimate features.

    `model` maps `[B, 3, H, W]` in [0, 1] to logits `[B, C]` (e.g. a
    `Normalized`) and ends in an `nn.Linear` (see `final_linear`); its logits
    are `final_linear(model)(features)`. For the bundled EfficientNet-Lite0 the
    features are the 1280 globally pooled channels; ResNet-50 gives 2048.
    `images` is float `[N, 3, H, W]` in [0, 1] on any device and is not
    modified. Runs in eval mode (each submodule's flag restored afterwards)
    under inference mode, `batch_size` images at a time, channels_last on the
    model's device, like `topk`.

    Returns float32 `[N, d]` on the CPU. Raises ValueError for an empty or
    non-4-D batch, a batch_size below 1, a model without a final
    `nn.Linear`, or one whose last `nn.Linear` is not what produces its output.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty [N, 3, H, W] batch, got {tuple(images.shape)}")

    layer = final_linear(model)
    captured: dict[str, torch.Tensor] = {}

    def capture(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        captured["input"], captured["output"] = inputs[0], output

    device = model_device(model)
    features = []
    handle = layer.register_forward_hook(capture)
    try:
        with eval_mode(model), torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                batch = images[start : start + batch_size].to(
                    device=device, memory_format=torch.channels_last
                )
                logits = model(batch)
                features.append(_checked_features(captured, logits))
                captured.clear()
    finally:
        handle.remove()
    return torch.cat(features)


def _checked_features(captured: dict[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
    # A head that averages two linears (distilled ViTs) or a model that
    # transforms its logits after the last Linear would silently give
    # features that do not explain the prediction; refuse those instead.
    if "output" not in captured or not torch.equal(captured["output"], logits):
        raise ValueError(
            "the model's last nn.Linear does not produce its output, so it is not the final layer"
        )
    features = captured["input"]
    if features.dim() != 2:
        raise ValueError(f"the final nn.Linear takes {features.dim()}-D input, expected [batch, features]")
    return features.float().cpu()


def squared_distances(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Euclidean distances ||a_i - b_j||^2 between the rows of a `[p, d]` and b `[q, d]`.

    Computed in float64 as ||a||^2 + ||b||^2 - 2 a.b (one matrix product),
    clamped at 0, on a's device. Identical rows of `b` get bitwise identical
    columns, so that exact duplicates tie exactly (the distances are computed
    once per distinct row). With `b` None, `a` against itself: the result is
    also exactly symmetric with an exactly zero diagonal, which the MMD-critic
    kernel relies on. Returns float64 `[p, q]` (`[p, p]` when b is None).
    """
    a = a.to(torch.float64)
    if b is not None:
        return _per_distinct_row(b.to(a.device, torch.float64), lambda rows: _gram_squared_distances(a, rows))
    unique, inverse = torch.unique(a, dim=0, return_inverse=True)
    distinct = unique.shape[0] == a.shape[0]
    rows = a if distinct else unique
    square = _gram_squared_distances(rows, rows)
    square = (square + square.T) / 2
    square.fill_diagonal_(0)
    return square if distinct else square[inverse][:, inverse]


def nearest(
    query: torch.Tensor, bank: torch.Tensor, k: int, metric: str = "cosine"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k rows of `bank` nearest to each row of `query`, nearest first.

    `query` is `[q, d]`, `bank` `[n, d]` (e.g. `penultimate_features` of the
    images of one class), any float dtype. metric "cosine": 1 - cos(angle), in
    [0, 2] (a zero vector is at distance 1 from everything); "euclidean":
    ||x - y||. Distances are computed in float64; equal distances (e.g.
    duplicate rows in the bank) are ordered by bank index, so the result is
    deterministic. Inputs are not modified.

    Returns `(indices, distances)`: int64 and float32, both `[q, k]`, on the
    query's device. Raises ValueError for an unknown metric, k outside
    1..n, or inputs that are not 2-D with the same d.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if query.dim() != 2 or bank.dim() != 2 or query.shape[1] != bank.shape[1]:
        raise ValueError(
            f"query and bank must be [q, d] and [n, d], got {tuple(query.shape)}, {tuple(bank.shape)}"
        )
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= bank.shape[0]:
        raise ValueError(f"k must be an integer in 1..{bank.shape[0]}, got {k!r}")

    bank = bank.to(device=query.device, dtype=torch.float64)
    if metric == "cosine":
        directions = F.normalize(query.to(torch.float64), dim=1)
        distances = _per_distinct_row(bank, lambda rows: 1 - directions @ F.normalize(rows, dim=1).T)
    else:
        distances = squared_distances(query, bank).sqrt()
    # A stable sort keeps equal distances in bank order; topk promises no order among ties.
    ordered, indices = distances.sort(dim=1, stable=True)
    return indices[:, :k], ordered[:, :k].float()


def _gram_squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    square = (a * a).sum(dim=1)[:, None] + (b * b).sum(dim=1)[None, :] - 2 * (a @ b.T)
    return square.clamp_(min=0)


def _per_distinct_row(
    bank: torch.Tensor, distances_to: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    # A matrix product may round the same dot product differently at
    # different positions; computing each distinct row once and copying the
    # column makes duplicates tie exactly.
    unique, inverse = torch.unique(bank, dim=0, return_inverse=True)
    if unique.shape[0] == bank.shape[0]:
        return distances_to(bank)
    return distances_to(unique)[:, inverse]
