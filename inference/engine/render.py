"""Saliency intensities as colour: the colour map, the overlay on the stimulus, lossless PNG.

Colour map: cividis (see colormap.py, which holds the table without torch so that
the participant page's legend is drawn from the same entries).

Overlay: the heatmap is alpha-blended onto the stimulus with an opacity that
grows with intensity, `a = alpha * intensity`, so regions the model ignores
show the stimulus unchanged and participants can still see what the image
is; colour and opacity both encode relevance. Output is at the stimulus size
(the model-input crop): a map of another size is resized bilinearly first.
Intensities come from `saliency.to_intensity`, with the image set's scale or
the map's own (saliency.normalize); nothing here rescales them.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from .colormap import CIVIDIS


def heatmap_rgb(intensity: Any) -> np.ndarray:
    """Colour `intensity` (`[H, W]` floats in [0, 1], array or CPU tensor) with cividis.

    Each value selects table entry `round(255 * intensity)`: 0 is dark blue
    (0, 34, 78), 1 is yellow (254, 232, 56). Returns uint8 `[H, W, 3]`.
    Raises ValueError for another shape or values outside [0, 1] or NaN.
    """
    values = _intensity(intensity)
    return CIVIDIS[np.rint(values * 255).astype(np.intp)]


def overlay(image: np.ndarray, intensity: Any, alpha: float = 0.5) -> np.ndarray:
    """The stimulus with the heatmap blended on top, opacity `alpha * intensity` per pixel.

    `image` is the stimulus as uint8 `[H, W, 3]`; `intensity` is `[h, w]`
    floats in [0, 1] (resized bilinearly to H x W when the sizes differ);
    `alpha` in [0, 1] is the opacity at full intensity. Per pixel:
    `round((1 - a) * image + a * heatmap_rgb(intensity))`. Returns a new
    uint8 `[H, W, 3]`; `image` is not modified. Raises ValueError for bad
    shapes, dtypes or ranges.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        described = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be a uint8 [H, W, 3] array, got {described}")
    numeric = isinstance(alpha, int | float) and not isinstance(alpha, bool)
    if not (numeric and 0 <= alpha <= 1):
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    values = _intensity(intensity)
    height, width = image.shape[:2]
    if values.shape != (height, width):
        resized = Image.fromarray(values).resize((width, height), Image.Resampling.BILINEAR)
        # Bilinear weights are convex, but float rounding may step just outside [0, 1].
        values = np.clip(np.asarray(resized, dtype=np.float32), 0, 1)
    weight = (np.float32(alpha) * values)[..., None]
    blended = (1 - weight) * image.astype(np.float32) + weight * heatmap_rgb(values).astype(np.float32)
    return np.rint(blended).astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 `[H, W, 3]` (RGB) or `[H, W]` (grey) array as a lossless PNG.

    The same array always gives the same bytes (no timestamps or metadata).
    Raises ValueError for another dtype or shape.
    """
    if (
        not isinstance(array, np.ndarray)
        or array.dtype != np.uint8
        or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3))
    ):
        described = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
        raise ValueError(f"array must be uint8 [H, W, 3] or [H, W], got {described}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _intensity(intensity: Any) -> np.ndarray:
    if hasattr(intensity, "detach"):  # a torch tensor, without importing torch here
        intensity = intensity.detach().cpu().numpy()
    values = np.asarray(intensity, dtype=np.float32)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"intensity must be a non-empty [H, W] array, got shape {values.shape}")
    if not ((values >= 0) & (values <= 1)).all():
        raise ValueError(
            "intensity must be in [0, 1] (see saliency.to_intensity); values outside it or NaN found"
        )
    return values
