"""torchvision classification models by builder name, with local weights; never downloads.

The weights are a state dict file (`weights_path`) or, without one, the
file of the builder's DEFAULT published weights in the torch hub cache,
`$TORCH_HOME/hub/checkpoints/<published file name>`, where torchvision
itself keeps its downloads.

The builder is called with `weights=None` plus the arguments torchvision
passes when it loads published weights itself: the class count of the
categories, the image size of ViT and MaxViT, and GoogLeNet's and Inception
v3's `transform_input`. Without them a published file either does not fit
or, worse, fits and gives different logits.
"""

from __future__ import annotations

import difflib
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from ..classifier import ClassifierLoadError
from ..preprocessing import Preprocessing
from . import SourceNet
from .checkpoints import fit_state_dict, read_state_dict

# Auxiliary heads only feed the training loss; files are saved with them
# (published) or without them (after torchvision drops them), so they are
# removed before loading and either file fits.
_AUXILIARY_HEADS = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}
# torchvision's DenseNet files predate '.'-free module names: "norm.1" is
# now "norm1" (the pattern torchvision's own densenet loader applies).
_OLD_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def load_torchvision(
    architecture: str,
    weights_path: Path | None,
    preprocessing: Preprocessing | None,
    num_classes: int | None,
) -> SourceNet:
    """Build torchvision's `architecture` (e.g. "resnet18") and load its weights; never downloads.

    `weights_path` is a state dict file; None means the DEFAULT published
    weights' file in the torch hub cache, whose sha256 must start with the
    hash in its published name (as torch.hub checks). `num_classes` sizes
    the head (default: the published categories, which then name the
    classes; other counts have no names). `preprocessing` defaults to the
    published `weights.transforms()`. Raises ClassifierLoadError for an
    unknown architecture, a missing or corrupt file, or weights that do not fit.
    """
    import torchvision

    # Only the top-level module: it holds the classification builders, not
    # detection, segmentation, video or quantized ones.
    names = torchvision.models.list_models(module=torchvision.models)
    if architecture not in names:
        close = difflib.get_close_matches(architecture, names, n=3)
        hint = f" (close: {', '.join(close)})" if close else ""
        raise ClassifierLoadError(
            f"unsupported architecture {architecture!r} for source 'torchvision': "
            f"not a torchvision classification model{hint}"
        )
    weights = torchvision.models.get_model_weights(architecture).DEFAULT
    path = weights_path if weights_path is not None else hub_cache_file(weights)
    state_dict, sha256 = read_state_dict(path)
    if weights_path is None:
        _check_published_hash(path, sha256)
    categories = tuple(weights.meta["categories"])
    classes = num_classes or len(categories)
    net = build_published_net(architecture, weights, classes)
    fit_state_dict(
        net,
        published_format(architecture, net, state_dict),
        path=path,
        what=f"torchvision {architecture} with {classes} classes",
    )
    return SourceNet(
        net=net,
        preprocessing=published_preprocessing(weights) if preprocessing is None else preprocessing,
        class_names=categories if classes == len(categories) else None,
        weights_sha256=sha256,
    )


def published_file_name(weights: Any) -> str:
    """The file name torch.hub saves `weights` (a torchvision WeightsEnum member) under."""
    return os.path.basename(urlparse(weights.url).path)


def hub_cache_file(weights: Any) -> Path:
    """`$TORCH_HOME/hub/checkpoints/<published file name>`; ClassifierLoadError when it is absent."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / published_file_name(weights)
    if not path.is_file():
        raise ClassifierLoadError(
            f"no weights file given and the torch hub cache has no {path} (the published {weights} "
            f"file); nothing is downloaded: fetch {weights.url} into that folder, or give a weights file"
        )
    return path


def build_published_net(architecture: str, weights: Any, num_classes: int) -> nn.Module:
    """torchvision's `architecture` with random weights, built as torchvision builds it for `weights`.

    The auxiliary heads of GoogLeNet and Inception v3 are still there
    (`published_format` removes them); `num_classes` sizes the head.
    """
    import torchvision

    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if architecture in _AUXILIARY_HEADS:
        kwargs |= {"transform_input": True, "aux_logits": True, "init_weights": False}
    elif architecture.startswith("vit_"):
        kwargs["image_size"] = weights.meta["min_size"][0]
    elif architecture.startswith("maxvit_"):
        kwargs["input_size"] = weights.meta["min_size"]
    return torchvision.models.get_model(architecture, weights=None, **kwargs)


def published_format(
    architecture: str, net: nn.Module, state_dict: Mapping[str, torch.Tensor]
) -> Mapping[str, torch.Tensor]:
    """Adapt `state_dict` and `net` to each other the way torchvision's own loaders do.

    DenseNet's old key names are renamed; the auxiliary heads of GoogLeNet
    and Inception v3 are removed from `net` (so `net` is modified) and
    their keys dropped. Returns the state dict to load (the version
    metadata kept); others come back unchanged.
    """
    if architecture.startswith("densenet"):
        return _rekeyed(state_dict, lambda key: _OLD_DENSENET_KEY.sub(r"\1\2", key))
    heads = _AUXILIARY_HEADS.get(architecture)
    if heads is None:
        return state_dict
    net.aux_logits = False
    for head in heads:
        setattr(net, head, None)
    prefixes = tuple(f"{head}." for head in heads)
    return _rekeyed(state_dict, lambda key: None if key.startswith(prefixes) else key)


def published_preprocessing(weights: Any) -> Preprocessing:
    """The resize, crop, interpolation, mean and std of `weights.transforms()`."""
    transforms = weights.transforms()
    try:
        if len(transforms.resize_size) != 1 or len(transforms.crop_size) != 1:
            raise ValueError(
                f"resize {transforms.resize_size} and crop {transforms.crop_size} are not single sizes"
            )
        return Preprocessing(
            resize=transforms.resize_size[0],
            crop=transforms.crop_size[0],
            interpolation=transforms.interpolation.value,
            mean=tuple(transforms.mean),
            std=tuple(transforms.std),
        )
    except ValueError as error:
        raise ClassifierLoadError(
            f"the published preprocessing of {weights} is not a resize, centre crop and "
            f"normalisation ({error}): give preprocessing explicitly"
        ) from error


def _check_published_hash(path: Path, sha256: str) -> None:
    match = torch.hub.HASH_REGEX.search(path.name)
    if match and not sha256.startswith(match.group(1)):
        raise ClassifierLoadError(
            f"the hub cache file {path} has sha256 {sha256[:12]}..., not the published prefix "
            f"{match.group(1)}: a partial download or another file under the published name"
        )


def _rekeyed(
    state_dict: Mapping[str, torch.Tensor], rename: Callable[[str], str | None]
) -> OrderedDict[str, torch.Tensor]:
    """A copy with keys renamed (None drops the key), keeping the metadata modules read when loading."""
    renamed: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, tensor in state_dict.items():
        new_key = rename(key)
        if new_key is not None:
            renamed[new_key] = tensor
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        renamed._metadata = metadata  # type: ignore[attr-defined]
    return renamed
