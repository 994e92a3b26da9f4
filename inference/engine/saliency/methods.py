"""Saliency maps with Captum: Grad-CAM, gradient, SmoothGrad, Integrated Gradients, Occlusion.

Every method explains the target class's logit (the score before softmax),
in pixel space: the model takes [0, 1] RGB and normalises inside, so the
maps refer to the pixels participants see. Raw maps keep the method's own
units and sign; `normalize.py` turns them into display intensities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..classifier import eval_mode, model_device
from ..predict import topk
from .captum_loader import captum_attr
from .layers import gradcam_layer, resolve_layer
from .params import (
    PARAMS_BY_METHOD,
    GradCamParams,
    GradientParams,
    IntegratedGradientsParams,
    MethodParams,
    OcclusionParams,
    SmoothGradParams,
    check_method,
)

Forward = Callable[[torch.Tensor], torch.Tensor]


def explain(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    method: str,
    params: MethodParams | None = None,
    *,
    seed: int = 0,
    batch_size: int = 8,
) -> torch.Tensor:
    """Saliency maps of `images` for the classes `targets`, one `[H, W]` map per image.

    `model` maps `[B, 3, H, W]` in [0, 1] to logits `[B, C]` (a `Normalized`);
    `images` is float `[N, 3, H, W]` in [0, 1] on any device; `targets` is an
    integer tensor `[N]` of class indices in [0, C) (e.g. `predicted_classes`).
    `params` must match `method` (None: its defaults). Methods and raw maps:

    - "gradcam" (Selvaraju et al. 2017): Captum LayerGradCam on `params.layer`
      (default `gradcam_layer`), ReLU'd, upsampled bilinearly to H x W; >= 0.
    - "gradient" (Simonyan et al. 2014): |d logit / d pixel|, max over RGB; >= 0.
    - "smoothgrad" (Smilkov et al. 2017): the mean over `nt_samples` noisy
      copies (x + Gaussian noise of sd `stdevs`, not clipped) of |gradient|,
      max over RGB; >= 0. The noise is drawn once from a generator seeded
      with `seed` (same seed, same noise on the same kind of device) and
      every image gets the same draws: an image's map does not depend on
      the other images in the call, and clean and adversarial versions of
      an image are compared under the same noise.
    - "integrated_gradients" (Sundararajan et al. 2017): (x - baseline) times
      the path integral of the gradient (`n_steps`, Gauss-Legendre), summed
      over RGB; signed.
    - "occlusion" (Zeiler & Fergus 2014): logit drop when a `window` square of
      grey `baseline` covers the pixel, averaged over the windows covering it;
      signed (negative where hiding the region raises the score).

    `batch_size` is how many model inputs go through one pass: images for
    gradient and Grad-CAM; for the others, noisy copies, path points or
    occluded copies, of several images at once when batch_size allows (8 suits
    2 CPU cores, GPUs want more). It changes the maps by float rounding only,
    except on CUDA with TF32 convolutions (PyTorch's default for cuDNN), where
    maps moved by up to 25 % of their peak on single pixels between batch
    sizes; set `torch.backends.cudnn.allow_tf32 = False` for reproducible maps.
    Runs in eval mode with frozen parameters; training flags and requires_grad
    are restored, `images`, `targets` and the global RNG are left untouched.

    Returns float32 `[N, H, W]` on the CPU. Raises ValueError for an unknown
    method, mismatched or invalid params, images that are not `[N, 3, H, W]`
    in [0, 1], targets of the wrong shape or out of range, or a bad
    seed / batch size.
    """
    method = check_method(method)
    params = _checked_params(method, params)
    _check_images(images)
    targets = _checked_targets(targets, images.shape[0])
    for name, value, low in (("seed", seed, 0), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if isinstance(params, OcclusionParams) and params.window > min(images.shape[2:]):
        raise ValueError(
            f"window must not exceed the image size {tuple(images.shape[2:])}, got {params.window}"
        )

    device = model_device(model)
    with eval_mode(model), _frozen(model), torch.inference_mode(False), torch.enable_grad():
        forward = _checked_forward(model, int(targets.max()))
        # A copy in the model's layout: Captum toggles requires_grad on the
        # tensors it is given, and the caller's images must not change.
        inputs = images.detach().to(
            device=device, dtype=torch.float32, memory_format=torch.channels_last, copy=True
        )
        targets = targets.to(device)
        maps = _EXPLAINERS[method](forward, model, inputs, targets, params, seed, batch_size)
    return maps.detach().float().cpu()


def predicted_classes(model: nn.Module, images: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """The top-1 class of each image (`[N, 3, H, W]` in [0, 1]) as int64 `[N]` on the CPU."""
    return topk(model, images, k=1, batch_size=batch_size)[1][:, 0]


def _gradcam(forward, model, inputs, targets, params: GradCamParams, seed, batch_size) -> torch.Tensor:
    name = params.layer or gradcam_layer(model, tuple(inputs.shape[2:]))
    explainer = captum_attr().LayerGradCam(forward, resolve_layer(model, name))
    maps = []
    for chunk, target in _chunks(inputs, targets, batch_size):
        cam = explainer.attribute(chunk, target=target, relu_attributions=True)
        if cam.dim() != 4:
            raise ValueError(
                f"layer {name!r} gives {cam.dim()}-D Grad-CAM maps; it needs a [N, C, h, w] output"
            )
        maps.append(
            F.interpolate(cam.detach(), size=inputs.shape[2:], mode="bilinear", align_corners=False)[:, 0]
        )
    return torch.cat(maps)


def _gradient(forward, model, inputs, targets, params: GradientParams, seed, batch_size) -> torch.Tensor:
    explainer = captum_attr().Saliency(forward)
    return torch.cat(
        [
            explainer.attribute(chunk, target=target, abs=True).amax(dim=1)
            for chunk, target in _chunks(inputs, targets, batch_size)
        ]
    )


def _smoothgrad(forward, model, inputs, targets, params: SmoothGradParams, seed, batch_size) -> torch.Tensor:
    # Captum's NoiseTunnel draws the noise of a whole batch from the global
    # RNG, so an image's noise would depend on its neighbours in the batch.
    # Here one seeded draw serves every image: a map depends only on the
    # image, the parameters and the seed, and several images share a pass.
    saliency = captum_attr().Saliency(forward)
    samples = params.nt_samples
    noise = _seeded_noise((samples, *inputs.shape[1:]), params.stdevs, seed, inputs.device)
    maps = []
    for chunk, target in _chunks(inputs, targets, max(1, batch_size // samples)):
        noisy = chunk.detach().repeat_interleave(samples, dim=0) + noise.repeat(chunk.shape[0], 1, 1, 1)
        gradients = [
            saliency.attribute(batch.detach().requires_grad_(), target=batch_target, abs=True)
            for batch, batch_target in zip(
                noisy.split(batch_size), target.repeat_interleave(samples).split(batch_size), strict=True
            )
        ]
        per_sample = torch.cat(gradients).view(chunk.shape[0], samples, *chunk.shape[1:])
        maps.append(per_sample.mean(dim=1).amax(dim=1))
    return torch.cat(maps)


def _seeded_noise(shape: tuple[int, ...], stdev: float, seed: int, device: torch.device) -> torch.Tensor:
    """Gaussian noise of standard deviation `stdev` from a generator of its own (the global RNG is untouched).

    The same seed gives the same noise on the same kind of device; CPU and
    CUDA generators differ.
    """
    generator = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(shape, generator=generator, device=device).mul_(stdev)


def _integrated_gradients(
    forward, model, inputs, targets, params: IntegratedGradientsParams, seed, batch_size
) -> torch.Tensor:
    explainer = captum_attr().IntegratedGradients(forward)
    maps = []
    # Whole images per chunk; Captum then puts batch_size // images path points of each in a pass.
    for chunk, target in _chunks(inputs, targets, max(1, batch_size // params.n_steps)):
        attribution = explainer.attribute(
            chunk,
            baselines=params.baseline,
            target=target,
            n_steps=params.n_steps,
            method="gausslegendre",
            internal_batch_size=batch_size,
        )
        maps.append(attribution.detach().sum(dim=1))
    return torch.cat(maps)


def _occlusion(forward, model, inputs, targets, params: OcclusionParams, seed, batch_size) -> torch.Tensor:
    explainer = captum_attr().Occlusion(forward)
    maps = []
    for chunk, target in _chunks(inputs, targets, batch_size):
        # Several images share a pass when there are enough of them, several
        # windows of one image otherwise: either way about batch_size inputs.
        attribution = explainer.attribute(
            chunk,
            sliding_window_shapes=(3, params.window, params.window),
            strides=(3, params.stride, params.stride),
            baselines=params.baseline,
            target=target,
            perturbations_per_eval=max(1, batch_size // chunk.shape[0]),
        )
        # The window covers all three channels, so they hold the same values.
        maps.append(attribution.detach().mean(dim=1))
    return torch.cat(maps)


_EXPLAINERS = {
    "gradcam": _gradcam,
    "gradient": _gradient,
    "smoothgrad": _smoothgrad,
    "integrated_gradients": _integrated_gradients,
    "occlusion": _occlusion,
}


def _chunks(
    inputs: torch.Tensor, targets: torch.Tensor, size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive (images, targets) chunks; the images are leaves requiring grad
    (Captum warns and flips the flag itself otherwise)."""
    for chunk, target in zip(inputs.split(size), targets.split(size), strict=True):
        yield chunk.detach().requires_grad_(), target


def _checked_params(method: str, params: MethodParams | None) -> MethodParams:
    expected = PARAMS_BY_METHOD[method]
    if params is None:
        return expected()
    if type(params) is not expected:
        raise ValueError(f"params for {method!r} must be {expected.__name__}, got {type(params).__name__}")
    return params


def _check_images(images: torch.Tensor) -> None:
    if (
        not isinstance(images, torch.Tensor)
        or images.dim() != 4
        or images.shape[0] == 0
        or images.shape[1] != 3
    ):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a non-empty [N, 3, H, W] batch, got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floats in [0, 1], got {images.dtype}")
    if not bool(((images >= 0) & (images <= 1)).all()):
        raise ValueError("images must be floats in [0, 1] (values outside it or NaN found)")


def _checked_targets(targets: torch.Tensor, count: int) -> torch.Tensor:
    if not isinstance(targets, torch.Tensor) or targets.shape != (count,):
        shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        raise ValueError(f"targets must be a [N] tensor with N = {count} images, got {shape}")
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise ValueError(f"targets must be integer class indices, got {targets.dtype}")
    if bool((targets < 0).any()):
        raise ValueError(f"targets must be class indices >= 0, got {targets.tolist()}")
    return targets.long()


def _checked_forward(model: nn.Module, largest_target: int) -> Forward:
    """The model with channels_last inputs, refusing targets beyond its classes.

    The class count is only known from the logits, so the check runs on the
    first forward pass, before any gradient work.
    """

    def forward(batch: torch.Tensor) -> torch.Tensor:
        logits = model(batch.contiguous(memory_format=torch.channels_last))
        if logits.dim() != 2 or largest_target >= logits.shape[1]:
            raise ValueError(
                f"targets must be below the model's {logits.shape[-1]} classes, got {largest_target}"
            )
        return logits

    return forward


@contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    # Input gradients cost about a third less without parameter gradients.
    flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    model.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
