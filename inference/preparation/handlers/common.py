"""What several handlers share: decoding stored images, and storing lossless PNGs."""

import hashlib
import io

import numpy as np
import PIL.Image
import torch
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from inference import engine
from inference.models import Image


def decode(images: list[Image], loaded: engine.LoadedClassifier):
    """(model inputs [n,3,H,W], the images they are of, {image id: error}) — an image whose
    file is gone or unreadable is reported, and the others are still decoded."""
    try:
        return (
            engine.load_model_inputs([image.file.path for image in images], loaded.preprocessing),
            images,
            {},
        )
    except (OSError, ValueError):
        pass
    good, tensors, errors = [], [], {}
    for image in images:
        try:
            tensors.append(engine.load_model_inputs([image.file.path], loaded.preprocessing))
            good.append(image)
        except (OSError, ValueError) as error:
            errors[image.pk] = f"cannot read the stored image file: {error}"
    if not good:
        return None, [], errors
    return torch.cat(tensors), good, errors


def to_uint8_hwc(images) -> np.ndarray:
    """[n,3,H,W] floats that are exact multiples of 1/255 → uint8 [n,H,W,3], losslessly."""
    pixels = (images.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).numpy()


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # Light compression: still lossless, and several times faster to write than the default.
    PIL.Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def store(data: bytes, folder: str, extension: str = "png") -> tuple[str, str]:
    """Content-addressed storage: (storage name, sha256). The same bytes are written once."""
    digest = hashlib.sha256(data).hexdigest()
    name = f"{folder}/{digest[:2]}/{digest}.{extension}"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(data))
    return name, digest


def load_png_inputs(files) -> torch.Tensor:
    """Stored 8-bit PNGs back as model inputs [n,3,H,W] in [0,1], exactly k/255."""
    arrays = []
    for stored in files:
        with stored.open("rb") as handle:
            arrays.append(np.asarray(PIL.Image.open(handle).convert("RGB")))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def ensure_model_inputs(classifier, images: list[Image], inputs: torch.Tensor) -> None:
    """Store each image as the classifier sees it: the clean stimulus that adversarial and
    explanation stimuli are compared with, pixel for pixel."""
    from inference.models import ModelInput

    have = set(
        ModelInput.objects.filter(classifier=classifier, image__in=images).values_list("image_id", flat=True)
    )
    rows = []
    for image, pixels in zip(images, to_uint8_hwc(inputs), strict=True):
        if image.pk in have:
            continue
        name, digest = store(png_bytes(pixels), "model-inputs")
        rows.append(
            ModelInput(
                image=image,
                classifier=classifier,
                file=name,
                sha256=digest,
                width=pixels.shape[1],
                height=pixels.shape[0],
            )
        )
    ModelInput.objects.bulk_create(rows, ignore_conflicts=True)
