"""Image decoding and the resize / crop that turns a photo into model input.

Normalisation (mean / std) is deliberately not applied here: it lives inside
`classifier.Normalized`, so that attacks and saliency maps work on the same
[0, 1] pixels that participants see.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, TypeAlias

import numpy as np
import torch
from PIL import Image, ImageOps

from .preprocessing_params import INTERPOLATION_NAMES, Preprocessing

# Keyed by the names Preprocessing accepts (preprocessing_params.INTERPOLATION_NAMES).
INTERPOLATIONS: dict[str, Image.Resampling] = {
    name: Image.Resampling[name.upper()] for name in INTERPOLATION_NAMES
}

ImageSource: TypeAlias = str | os.PathLike[str] | BinaryIO


def load_rgb(source: ImageSource) -> Image.Image:
    """Decode an image file (path or binary file object) into an RGB PIL image.

    16-bit greyscale is scaled to 8 bits; 32-bit integer and float images
    have no standard display range and raise ValueError.

    The EXIF orientation is applied because browsers apply it too, so the
    model sees the picture the way participants do. Transparent images are
    composited onto white (the colour of the trial page) rather than keeping
    whatever colour hides under transparent pixels.
    """
    with Image.open(source) as image:
        # exif_transpose returns a new, fully loaded image, so it outlives the file.
        return _as_rgb(ImageOps.exif_transpose(image))


def _as_rgb(image: Image.Image) -> Image.Image:
    # Returns `image` itself when it is RGB already: every caller goes on to
    # make a new image (resize, crop), so a copy here would be wasted work.
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16"):
        # PIL's own conversion clips 16-bit values at 255 (almost all white).
        pixels = np.asarray(image, dtype=np.uint16).astype(np.float32) / 257.0
        return Image.fromarray(np.rint(pixels).astype(np.uint8)).convert("RGB")
    if image.mode in ("I", "F"):
        raise ValueError(f"cannot display a {image.mode!r} mode image: its pixel range is unknown")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def resize_short_side(image: Image.Image, size: int, interpolation: str = "bicubic") -> Image.Image:
    """Resize so that the shorter side is `size` pixels, keeping the aspect ratio.

    The long side is truncated the way torchvision's `Resize(int)` does, so
    the published preprocessing of torchvision and timm models is reproduced
    exactly.
    """
    width, height = image.size
    short, long = min(width, height), max(width, height)
    new_long = int(size * long / short)
    new_size = (size, new_long) if width <= height else (new_long, size)
    if new_size == image.size:
        return image.copy()
    return image.resize(new_size, resample=INTERPOLATIONS[interpolation])


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """Crop the central `size` x `size` square (rounding as torchvision does)."""
    width, height = image.size
    if width < size or height < size:
        raise ValueError(f"cannot crop {size}x{size} from a {width}x{height} image")
    left = round((width - size) / 2.0)
    top = round((height - size) / 2.0)
    return image.crop((left, top, left + size, top + size))


def resize_and_crop(image: Image.Image, preprocessing: Preprocessing) -> Image.Image:
    """Return the 8-bit RGB `crop` x `crop` image the model sees (and participants can be shown)."""
    resized = resize_short_side(_as_rgb(image), preprocessing.resize, preprocessing.interpolation)
    return center_crop(resized, preprocessing.crop)


def to_model_input(image: Image.Image, preprocessing: Preprocessing) -> torch.Tensor:
    """Resize, centre crop and convert one PIL image to a tensor.

    Returns float32 `[3, crop, crop]` in [0, 1], RGB, not normalised.
    """
    pixels = np.array(resize_and_crop(image, preprocessing), dtype=np.uint8)
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous().float().div_(255.0)


def stack_inputs(images: Sequence[Image.Image], preprocessing: Preprocessing) -> torch.Tensor:
    """Apply `to_model_input` to each image: returns float32 `[N, 3, crop, crop]` in [0, 1].

    Raises ValueError for an empty sequence.
    """
    if len(images) == 0:
        raise ValueError("images must hold at least one image")
    return torch.stack([to_model_input(image, preprocessing) for image in images])


def load_model_inputs(
    sources: Sequence[ImageSource],
    preprocessing: Preprocessing,
    workers: int | None = None,
) -> torch.Tensor:
    """Decode and preprocess image files: `stack_inputs` of `load_rgb`, in parallel.

    `workers` threads (default: torch's thread count) share the work; Pillow
    releases the GIL while decoding and resampling, so on 2 CPU cores this
    halves the decoding time that top-k from files spends besides the
    forward pass. Returns float32 `[N, 3, crop, crop]` in [0, 1], in the
    order of `sources`, identical to the sequential result. Raises
    ValueError for an empty sequence; decoding errors propagate.
    """
    if len(sources) == 0:
        raise ValueError("sources must hold at least one image")
    if workers is None:
        workers = torch.get_num_threads()

    def prepare(source: ImageSource) -> torch.Tensor:
        return to_model_input(load_rgb(source), preprocessing)

    if workers == 1:
        return torch.stack([prepare(source) for source in sources])
    with ThreadPoolExecutor(max_workers=min(workers, len(sources))) as pool:
        return torch.stack(list(pool.map(prepare, sources)))
