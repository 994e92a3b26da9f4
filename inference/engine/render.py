"""Saliency intensities as colour: the colour map, the overlay on the stimulus, lossless PNG.

Colour map: cividis (Nuñez, Anderton & Renslow 2018), matplotlib's 256-entry
table rounded to 8 bits and embedded here, so rendering needs no matplotlib.
It is perceptually uniform (equal steps in intensity look like equal steps in
colour, dark blue to yellow, monotonic in lightness) and was optimised so
that viewers with red-green colour-vision deficiency see nearly the same map
as everyone else: participants with and without such a deficiency get the
same stimulus.

Overlay: the heatmap is alpha-blended onto the stimulus with an opacity that
grows with intensity, `a = alpha * intensity`, so regions the model ignores
show the stimulus unchanged and participants can still see what the image
is; colour and opacity both encode relevance. Output is at the stimulus size
(the model-input crop): a map of another size is resized bilinearly first.
Intensities come from `saliency.to_intensity`, whose scale is shared across
conditions; nothing here rescales them.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

# matplotlib.colormaps["cividis"].colors * 255, rounded: 256 RGB triples as hex.
_CIVIDIS_HEX = (
    "00224e00234f00245100255300255400265600275800285900285b00295d002a5f002a61002b62002c64002c66002d68"
    "002e6a002e6c002f6d00306f0030700031700031710132710533710833700c34700f357012357014367016377018376f"
    "1a386f1c396f1e3a6f203a6f213b6e233c6e243c6e263d6e273e6e293f6e2a3f6d2b406d2d416d2e416d2f426d31436d"
    "32436d33446d34456c35456c36466c38476c39486c3a486c3b496c3c4a6c3d4a6c3e4b6c3f4c6c404c6c414d6c424e6c"
    "434e6c444f6c45506c46516c47516c48526c49536c4a536c4b546c4c556c4d556c4e566c4f576c50576c51586d52596d"
    "535a6d545a6d555b6d555c6d565c6d575d6d585e6d595e6e5a5f6e5b606e5c616e5d616e5e626e5e636f5f636f60646f"
    "61656f62656f636670646770656870656870666970676a71686a71696b716a6c716b6d726c6d726c6e726d6f726e6f73"
    "6f70737071737172747272747273747374757474757575757676767777767777777878777979777a7a787b7a787c7b78"
    "7d7c787e7c787e7d787f7e78807f78817f788280798381798482798582798683798784788885788985788a86788b8778"
    "8c88788d88788e89788f8a78908b78918b78928c78928d78938e78948e77958f779690779791779892779992779a9376"
    "9b94769c95769d95769e96769f9775a09875a19975a29975a39a74a49b74a59c74a69c74a79d73a89e73a99f73aaa073"
    "aba072aca172ada272aea371afa471b0a571b1a570b3a670b4a76fb5a86fb6a96fb7a96eb8aa6eb9ab6dbaac6dbbad6d"
    "bcae6cbdae6cbeaf6bbfb06bc0b16ac1b26ac2b369c3b369c4b468c5b568c6b667c7b767c8b866c9b965cbb965ccba64"
    "cdbb63cebc63cfbd62d0be62d1bf61d2c060d3c05fd4c15fd5c25ed6c35dd7c45cd9c55cdac65bdbc75adcc859ddc858"
    "dec958dfca57e0cb56e1cc55e2cd54e4ce53e5cf52e6d051e7d150e8d24fe9d34eead34cebd44bedd54aeed649efd748"
    "f0d846f1d945f2da44f3db42f5dc41f6dd3ff7de3ef8df3cf9e03afbe138fce236fde334fee434fee535fee636fee838"
)
CIVIDIS: np.ndarray = np.frombuffer(bytes.fromhex(_CIVIDIS_HEX), dtype=np.uint8).reshape(256, 3)
CIVIDIS.flags.writeable = False


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
