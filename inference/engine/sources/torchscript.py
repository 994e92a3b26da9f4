"""TorchScript files: any network compiled with `torch.jit.script` or `torch.jit.trace`.

The file carries the network and its weights but neither its preprocessing
nor its class names, so the preprocessing must come with the record. The
network takes normalised input, like every other source: a file that
normalises inside is registered with mean (0, 0, 0) and std (1, 1, 1).
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from ..classifier import ClassifierLoadError
from ..preprocessing import Preprocessing
from . import SourceNet
from .checkpoints import error_summary, read_weights_file, torch_archive_kind


def load_torchscript(
    architecture: str,
    weights_path: Path | None,
    preprocessing: Preprocessing | None,
    num_classes: int | None,
) -> SourceNet:
    """Load the TorchScript file at `weights_path` on the CPU.

    `architecture` is only a label for the record; `num_classes` is not
    used (the file fixes its head; the registry checks the output size).
    `preprocessing` is required. Returns a SourceNet without class names.
    Raises ClassifierLoadError for a missing `weights_path` or
    preprocessing, a missing or corrupt file, or a `torch.save` file.
    """
    if weights_path is None:
        raise ClassifierLoadError("source 'torchscript' needs a weights file: the TorchScript file")
    if preprocessing is None:
        raise ClassifierLoadError(
            "source 'torchscript' needs preprocessing (resize, crop, interpolation, mean, std): "
            "a TorchScript file does not carry it"
        )
    data, sha256 = read_weights_file(weights_path)
    if torch_archive_kind(data) == "torch.save":
        raise ClassifierLoadError(
            f"{weights_path} is a torch.save file (a state dict or pickled model), not TorchScript: "
            "register state dicts with source 'torchvision' or 'timm'"
        )
    try:
        net = torch.jit.load(io.BytesIO(data), map_location="cpu")
    # The TorchScript reader reports a corrupt or truncated file as a
    # RuntimeError from its C++ stream reader; anything else it raises
    # means the same for the record.
    except Exception as error:
        raise ClassifierLoadError(
            f"{weights_path} is not a readable TorchScript file (corrupt or truncated?): "
            f"{error_summary(error)}"
        ) from error
    return SourceNet(net=net, preprocessing=preprocessing, class_names=None, weights_sha256=sha256)
