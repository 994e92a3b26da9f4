"""timm models by name (optionally with a pretrained tag) with a local checkpoint; never downloads.

The model is created with `pretrained=False`, so timm never reaches the
network; the checkpoint is a state dict or a training checkpoint holding
one (.pth, .bin or .safetensors). The preprocessing comes from the model's
pretrained config, which the tag selects ("vit_base_patch16_224.augreg_in1k"
and ".orig_in21k_ft_in1k" differ in mean and std).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from torch import nn

from ..classifier import ClassifierLoadError
from ..preprocessing import Preprocessing
from . import SourceNet
from .checkpoints import fit_state_dict, read_state_dict


def load_timm(
    architecture: str,
    weights_path: Path | None,
    preprocessing: Preprocessing | None,
    num_classes: int | None,
) -> SourceNet:
    """Create timm's `architecture` (e.g. "resnet10t" or "resnet10t.c3_in1k") and load the checkpoint.

    `num_classes` sizes the head (default: the pretrained config's).
    `preprocessing` defaults to `timm.data.resolve_data_config(model=...)`
    (see `preprocessing_from_data_config`). Class names come from
    `timm.data.ImageNetInfo` when the class count is an ImageNet subset's
    (1000: ImageNet-1k), else None. Raises ClassifierLoadError for a
    missing `weights_path`, an unknown name, a missing or corrupt file, or
    a checkpoint that does not fit.
    """
    import timm

    if weights_path is None:
        raise ClassifierLoadError(
            "source 'timm' needs a weights file: a local checkpoint (.pth, .bin or .safetensors); "
            "nothing is downloaded"
        )
    if not timm.is_model(architecture):
        close = difflib.get_close_matches(architecture, timm.list_models(), n=3)
        hint = f" (close: {', '.join(close)})" if close else ""
        raise ClassifierLoadError(
            f"unsupported architecture {architecture!r} for source 'timm': not a timm model{hint}"
        )
    net = _create(architecture, num_classes)
    if preprocessing is None:
        preprocessing = _published_preprocessing(architecture, net)
    state_dict, sha256 = read_state_dict(weights_path)
    fit_state_dict(
        net, state_dict, path=weights_path, what=f"timm {architecture} with {net.num_classes} classes"
    )
    return SourceNet(
        net=net,
        preprocessing=preprocessing,
        class_names=_class_names(net),
        weights_sha256=sha256,
    )


def preprocessing_from_data_config(config: Mapping[str, Any]) -> Preprocessing:
    """Express a timm data config as a Preprocessing, as timm's eval transform applies it.

    `config` is what `timm.data.resolve_data_config` returns: crop = the
    square `input_size`, resize = floor(crop / crop_pct) (timm's
    `transforms_factory`), interpolation, mean, std. Raises ValueError for
    what a resize and centre crop cannot reproduce: a non-square input, a
    crop mode other than "center", an interpolation other than bilinear or
    bicubic.
    """
    _, height, width = config["input_size"]
    if height != width:
        raise ValueError(f"input size {height}x{width} is not square")
    crop_mode = config.get("crop_mode", "center")
    if crop_mode != "center":
        raise ValueError(f"crop mode {crop_mode!r} is not a centre crop")
    return Preprocessing(
        resize=math.floor(height / config["crop_pct"]),
        crop=height,
        interpolation=config["interpolation"],
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
    )


@cache
def imagenet_class_names(subset: str = "imagenet-1k") -> tuple[str, ...]:
    """The first WordNet lemma of each class of an ImageNet subset, in output-index order.

    "imagenet-1k" gives the 1000 names participants read ("tench",
    "espresso"), the same as `inference.labelsets`.
    """
    from timm.data import ImageNetInfo

    info = ImageNetInfo(subset)
    return tuple(
        info.index_to_description(index).split(",")[0].strip() for index in range(info.num_classes())
    )


def _create(architecture: str, num_classes: int | None) -> nn.Module:
    import timm

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    try:
        return timm.create_model(architecture, pretrained=False, **kwargs)
    # An unknown pretrained tag ("resnet10t.nope") passes `is_model` and
    # fails here with a RuntimeError that names it.
    except RuntimeError as error:
        raise ClassifierLoadError(f"cannot create timm model {architecture!r}: {error}") from error


def _published_preprocessing(architecture: str, net: nn.Module) -> Preprocessing:
    from timm.data import resolve_data_config

    try:
        return preprocessing_from_data_config(resolve_data_config(model=net))
    except ValueError as error:
        raise ClassifierLoadError(
            f"the published preprocessing of timm {architecture!r} is not a resize, centre crop and "
            f"normalisation ({error}): give preprocessing explicitly"
        ) from error


def _class_names(net: nn.Module) -> tuple[str, ...] | None:
    from timm.data import infer_imagenet_subset

    subset = infer_imagenet_subset(net)
    return None if subset is None else imagenet_class_names(subset)
