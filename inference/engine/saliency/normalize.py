"""The normalisation policy: how a raw saliency map becomes display intensities in [0, 1].

    relevance = |raw map|      (Grad-CAM, gradient and SmoothGrad maps are already >= 0)
    intensity = clip(relevance / scale, 0, 1)
    scale     = the 99th percentile of relevance over all pixels of the reference
                maps: the clean images of the preparation, explained by the same
                classifier, method and parameters

By default `scale` is one number per (classifier, method, parameters), not per
image: with one shared scale, a map that is weaker or stronger than another
looks weaker or stronger, and maps are comparable across conditions (clean vs
adversarial, one study arm vs another). Per-image normalisation, which a study
may choose instead, is the same formula with the map itself as its only
reference map (`reference_scale(map)`): every map then reaches full intensity,
so a classifier that barely looks at an adversarial image gets as bright a map
as one that is sure of a clean image, but no map is left almost empty by a set
whose other maps are stronger. The 99th percentile rather than the maximum
keeps a few extreme pixels (gradient maps are spiky) from darkening everything
else; pixels above it saturate. Magnitude is shown, not sign: positive and
negative evidence (Integrated Gradients, Occlusion) look alike; raw maps keep
the sign.

A scale of 0 (all reference maps are zero) is the limit of the formula as
scale goes to 0: every pixel with any relevance is at full intensity, the
rest at 0; nothing is divided by zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

REFERENCE_PERCENTILE = 99.0


def reference_scale(
    maps: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray], q: float = REFERENCE_PERCENTILE
) -> float:
    """The policy's `scale`: the q-th percentile of |maps| over every pixel of every map.

    `maps` is a `[N, H, W]` (or `[H, W]`) tensor or array, or a sequence of
    maps of any sizes (e.g. loaded one file at a time); q is in (0, 100]
    (linear interpolation between pixels, as numpy.percentile). Returns a
    finite float >= 0. Raises ValueError for an empty set of maps, q out of
    range, or non-finite values.
    """
    numeric = isinstance(q, int | float) and not isinstance(q, bool)
    if not (numeric and 0 < q <= 100):
        raise ValueError(f"q must be a number in (0, 100], got {q!r}")
    parts = [maps] if isinstance(maps, torch.Tensor | np.ndarray) else list(maps)
    relevance = np.concatenate([np.abs(_as_array(part)).ravel() for part in parts]) if parts else np.empty(0)
    if relevance.size == 0:
        raise ValueError("maps must hold at least one pixel")
    if not np.isfinite(relevance).all():
        raise ValueError("maps must be finite (NaN or infinity found)")
    return float(np.percentile(relevance, q))


def to_intensity(maps: torch.Tensor, scale: float) -> torch.Tensor:
    """Display intensities `clip(|maps| / scale, 0, 1)` (see the module docstring).

    `maps` is a float tensor of any shape (usually `[N, H, W]` or `[H, W]`);
    `scale` is `reference_scale` of the reference maps, finite and >= 0.
    Returns float32 of the same shape and device in [0, 1]; `maps` is not
    modified. With scale 0, pixels with any relevance get 1 and the others 0.
    Raises ValueError for a negative or non-finite scale or non-finite maps.
    """
    numeric = isinstance(scale, int | float) and not isinstance(scale, bool)
    if not (numeric and math.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
    relevance = maps.detach().abs().float()
    if not bool(torch.isfinite(relevance).all()):
        raise ValueError("maps must be finite (NaN or infinity found)")
    if scale == 0:
        return (relevance > 0).float()
    return (relevance / scale).clamp_(0, 1)


def _as_array(part: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(part, torch.Tensor):
        return part.detach().float().cpu().numpy()
    return np.asarray(part, dtype=np.float32)


def streamed_reference_scale(
    open_maps: Callable[[], Iterable[torch.Tensor | np.ndarray]], q: float = REFERENCE_PERCENTILE
) -> float:
    """`reference_scale` of maps read one at a time, in memory proportional to the top
    (100 - q) % of pixels rather than to all of them: the same number, exactly.

    `open_maps()` must yield the same maps each time it is called (it is read twice: once
    to count the pixels, once to keep the largest ones). The q-th percentile with linear
    interpolation only involves the two order statistics around rank q/100 · (P - 1), and
    both are among the largest P - floor(rank) values.
    """
    numeric = isinstance(q, int | float) and not isinstance(q, bool)
    if not (numeric and 0 < q <= 100):
        raise ValueError(f"q must be a number in (0, 100], got {q!r}")
    total = sum(int(np.asarray(_as_array(part)).size) for part in open_maps())
    if total == 0:
        raise ValueError("maps must hold at least one pixel")
    rank = q / 100 * (total - 1)
    keep = total - math.floor(rank)
    top = np.empty(0, dtype=np.float32)
    for part in open_maps():
        relevance = np.abs(_as_array(part)).ravel()
        if not np.isfinite(relevance).all():
            raise ValueError("maps must be finite (NaN or infinity found)")
        top = np.concatenate([top, relevance])
        if top.size > 2 * keep:
            top = np.partition(top, top.size - keep)[top.size - keep :]
    ordered = np.sort(top)[-keep:]
    low = float(ordered[0])
    high = float(ordered[1]) if keep > 1 else low
    fraction = rank - math.floor(rank)
    return low + (high - low) * fraction
