"""8-bit quantisation and the distances stored with every adversarial image.

An adversarial image is shown to participants as a lossless 8-bit PNG, so
success and distances are measured on the quantised image, never on the
float one the attack produced.
"""

from __future__ import annotations

import torch


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Round float images in [0, 1] to 8 bits: `round(255 * x)` as uint8, same shape and device.

    Values outside [0, 1] are clamped first. For `[N, 3, H, W]` input, the
    HWC array that PIL writes as PNG is `to_uint8(x)[i].permute(1, 2, 0).numpy()`.
    """
    return images.detach().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)


def from_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to float32 k/255, the same arithmetic as `preprocessing.to_model_input`.

    So `from_uint8(to_uint8(x))` equals, bit for bit, the tensor obtained by
    decoding the stored PNG (without resizing: it is already at model size).
    """
    return pixels.to(torch.float32).div(255.0)


def quantize(images: torch.Tensor) -> torch.Tensor:
    """`images` as they will be stored: float32 k/255, same shape and device; the input is not modified."""
    return from_uint8(to_uint8(images))


def linf_distance(images: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """Per-image L-inf distance in 1/255 units: `255 * max |x - x0|`, float32 `[N]` on the images' device.

    Rounded to 1/1000 of a grey level, so that between two 8-bit images it is
    the whole number of grey levels it stands for: float32 k/255 values
    carry errors of about 1e-5 grey levels.
    """
    levels = _difference(images, originals).abs().flatten(1).amax(dim=1).mul(255.0)
    return levels.round(decimals=3).to(torch.float32)


def l2_distance(images: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """Per-image L2 distance `||x - x0||_2` in [0, 1] pixel units, float32 `[N]` on the images' device."""
    return _difference(images, originals).flatten(1).norm(dim=1).to(torch.float32)


def _difference(images: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    return images.to(torch.float64) - originals.to(device=images.device, dtype=torch.float64)
