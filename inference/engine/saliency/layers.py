"""Which layer Grad-CAM explains: the last spatial feature map of the network."""

from __future__ import annotations

import torch
from torch import nn

from ..classifier import eval_mode, model_device


def gradcam_layer(model: nn.Module, image_size: tuple[int, int] = (224, 224)) -> str:
    """The qualified name of the module whose output Grad-CAM should explain.

    Grad-CAM (Selvaraju et al. 2017) weighs the channels of a convolutional
    feature map; the usual choice is the last one before global pooling,
    where features are most semantic and still spatial. Found by one forward
    pass of a black `[1, 3, *image_size]` image (height, width) with forward
    hooks: the module that finishes last among those that run exactly once
    and return a 4-D `[N, C, h, w]` tensor with h * w > 1. Hooks fire when a
    module finishes, so a container (torchvision ResNet's `layer4`, timm's
    `bn2` with its activation inside) wins over its own children; modules that
    run more than once (a shared ReLU) are skipped because Grad-CAM needs one
    activation per image. This gives `net.bn2` for timm `tf_efficientnet_lite0`
    inside `Normalized` and `net.layer4` for torchvision ResNets. Networks
    without such a map (vision transformers, channels-last `[N, h, w, C]`
    outputs) need the layer named explicitly.

    The model's training flags are restored. Raises ValueError when no module
    qualifies.
    """
    finished: list[str] = []
    calls: dict[str, int] = {}
    spatial: set[str] = set()

    def record(name: str):
        def hook(module: nn.Module, args: object, output: object) -> None:
            calls[name] = calls.get(name, 0) + 1
            finished.append(name)
            if (
                isinstance(output, torch.Tensor)
                and output.dim() == 4
                and output.shape[2] * output.shape[3] > 1
            ):
                spatial.add(name)

        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in model.named_modules() if name]
    try:
        with eval_mode(model), torch.no_grad():
            model(torch.zeros(1, 3, *image_size, device=model_device(model)))
    finally:
        for handle in handles:
            handle.remove()
    for name in reversed(finished):
        if name in spatial and calls[name] == 1:
            return name
    raise ValueError(
        f"no module of {type(model).__name__} returns a spatial [N, C, h, w] map for a "
        f"{image_size[0]}x{image_size[1]} image; name the Grad-CAM layer explicitly"
    )


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called `name` (as in `named_modules`); ValueError naming the layer otherwise."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise ValueError(f"layer {name!r} is not a module of {type(model).__name__}") from None
