"""Weight files read into state dicts, and state dicts fitted to networks, with errors that name the problem.

Shared by the sources that load a state dict into a freshly built network.
A file is read once into memory and both its sha256 and its tensors come
from those bytes, so the recorded hash is that of exactly what was loaded,
even if the file is replaced meanwhile.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..classifier import ClassifierLoadError

# Where training scripts nest the state dict inside a checkpoint, in the
# order timm's `create_model(checkpoint_path=...)` prefers them (EMA first).
NESTED_STATE_DICT_KEYS = ("state_dict_ema", "state_dict", "model")
# DataParallel / DistributedDataParallel prefix every key with this.
_WRAPPER_PREFIX = "module."
# Keys named per kind of mismatch: enough to recognise the problem, short
# enough for an admin message.
_KEYS_NAMED = 5


def read_weights_file(path: Path) -> tuple[bytes, str]:
    """Read the whole file at `path`; returns its bytes and their hex sha256.

    Raises ClassifierLoadError naming the path when it is missing, not a
    regular file, unreadable or empty.
    """
    if not path.exists():
        raise ClassifierLoadError(f"weights file {path} does not exist")
    if not path.is_file():
        raise ClassifierLoadError(f"weights path {path} is not a file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ClassifierLoadError(f"cannot read weights file {path}: {error.strerror or error}") from error
    if not data:
        raise ClassifierLoadError(f"weights file {path} is empty")
    return data, hashlib.sha256(data).hexdigest()


def read_state_dict(path: Path) -> tuple[Mapping[str, torch.Tensor], str]:
    """Read a state dict (torch file or safetensors) from `path`, on the CPU; never unpickles code.

    Accepts a plain state dict, or a checkpoint dict holding one under
    "state_dict_ema", "state_dict" or "model" (tried in that order, as timm
    does); a "module." prefix left by DataParallel is removed. Returns the
    state dict and the sha256 of the file's bytes. Raises
    ClassifierLoadError for a missing, corrupt or truncated file, a
    TorchScript file, a pickled model, or a dict without tensors.
    """
    data, sha256 = read_weights_file(path)
    if _is_safetensors(data):
        state_dict = _load_safetensors(path, data)
    else:
        state_dict = _state_dict_in(path, _torch_load(path, data))
    return _without_wrapper_prefix(state_dict), sha256


def torch_archive_kind(data: bytes) -> str | None:
    """The kind of torch zip archive `data` is: "torchscript", "torch.save", or None if not one.

    TorchScript archives hold compiled code next to the tensors
    (`constants.pkl`); `torch.save` archives do not. A truncated zip has
    no readable directory, so it is neither.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return None
    return "torchscript" if any(name.endswith("/constants.pkl") for name in names) else "torch.save"


def fit_state_dict(net: nn.Module, state_dict: Mapping[str, torch.Tensor], *, path: Path, what: str) -> None:
    """Load `state_dict` into `net` strictly.

    `what` describes the network for the message ("torchvision resnet18
    with 1000 classes"). Raises ClassifierLoadError naming the file and a
    few of the missing keys, unexpected keys and shape mismatches.
    """
    incompatible: dict[str, list[str]] = {}

    def record(module: nn.Module, keys: Any) -> None:
        # Runs after the whole tree is loaded and before torch raises, so
        # the missing and unexpected keys survive a shape mismatch.
        incompatible["missing"] = list(keys.missing_keys)
        incompatible["unexpected"] = list(keys.unexpected_keys)

    handle = net.register_load_state_dict_post_hook(record)
    try:
        net.load_state_dict(state_dict, strict=True)
    # Modules' own loading code raises more than RuntimeError (torchvision's
    # MNASNet raises ValueError for a file without version metadata).
    except Exception as error:
        problems = _mismatches(net, state_dict, incompatible) or [error_summary(error)]
        raise ClassifierLoadError(
            f"the weights in {path} do not fit {what}: {'; '.join(problems)}"
        ) from error
    finally:
        handle.remove()


def _mismatches(
    net: nn.Module, state_dict: Mapping[str, torch.Tensor], incompatible: dict[str, list[str]]
) -> list[str]:
    model_state = net.state_dict()
    shapes = [
        f"{key} (file {list(tensor.shape)}, model {list(model_state[key].shape)})"
        for key, tensor in state_dict.items()
        if key in model_state and tensor.shape != model_state[key].shape
    ]
    problems = []
    for kind, keys in (
        ("missing key(s)", incompatible.get("missing", [])),
        ("unexpected key(s)", incompatible.get("unexpected", [])),
        ("shape mismatch(es)", shapes),
    ):
        if keys:
            more = ", ..." if len(keys) > _KEYS_NAMED else ""
            problems.append(f"{len(keys)} {kind}: {', '.join(keys[:_KEYS_NAMED])}{more}")
    return problems


def _is_safetensors(data: bytes) -> bool:
    # A safetensors file starts with the little-endian length of a JSON header.
    header_length = int.from_bytes(data[:8], "little")
    return len(data) > 8 and data[8:9] == b"{" and 8 + header_length <= len(data)


def _load_safetensors(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(data)
    except SafetensorError as error:
        raise ClassifierLoadError(f"{path} is not a readable safetensors file: {error}") from error


def _torch_load(path: Path, data: bytes) -> Any:
    if torch_archive_kind(data) == "torchscript":
        raise ClassifierLoadError(
            f"{path} is a TorchScript file, not a state dict: register it with source 'torchscript'"
        )
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    # On a corrupt file torch.load raises whatever its zip reader or
    # unpickler hits (RuntimeError, UnpicklingError, EOFError, even KeyError).
    except Exception as error:
        # The weights-only unpickler refuses any class outside torch's tensor
        # types; only its message tells that refusal from a corrupt pickle.
        if isinstance(error, pickle.UnpicklingError) and "Unsupported global" in str(error):
            raise ClassifierLoadError(
                f"{path} holds pickled Python objects, not only tensors (a whole pickled model?): "
                "save `model.state_dict()` instead; arbitrary pickles are never loaded"
            ) from error
        raise ClassifierLoadError(
            f"{path} is not a readable torch weights file (corrupt or truncated?): {error_summary(error)}"
        ) from error


def _state_dict_in(path: Path, loaded: Any) -> Mapping[str, torch.Tensor]:
    if not isinstance(loaded, Mapping):
        raise ClassifierLoadError(f"{path} holds a {type(loaded).__name__}, not a state dict")
    if _is_tensor_dict(loaded):
        return loaded
    for key in NESTED_STATE_DICT_KEYS:
        if _is_tensor_dict(loaded.get(key)):
            return loaded[key]
    keys = ", ".join(sorted(map(str, loaded))[:10])
    raise ClassifierLoadError(
        f"{path} holds a dict (keys: {keys}) without a state dict: expected tensors at the top "
        f"level or under one of {', '.join(NESTED_STATE_DICT_KEYS)}"
    )


def _is_tensor_dict(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(key, str) and isinstance(tensor, torch.Tensor) for key, tensor in value.items())
    )


def _without_wrapper_prefix(state_dict: Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    """Strip "module." as timm's `clean_state_dict` does, keeping the version metadata.

    Modules read the metadata while loading (BatchNorm fills in counters
    that old files lack; torchvision's MNASNet refuses a file without it).
    """
    if not any(key.startswith(_WRAPPER_PREFIX) for key in state_dict):
        return state_dict
    stripped: OrderedDict[str, torch.Tensor] = OrderedDict(
        (key.removeprefix(_WRAPPER_PREFIX), tensor) for key, tensor in state_dict.items()
    )
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        root = _WRAPPER_PREFIX.rstrip(".")
        stripped._metadata = OrderedDict(  # type: ignore[attr-defined]
            ("" if key == root else key.removeprefix(_WRAPPER_PREFIX), value)
            for key, value in metadata.items()
            if key == root or key.startswith(_WRAPPER_PREFIX)
        )
    return stripped


def error_summary(error: BaseException) -> str:
    """ "Type: first line of the message": torch's messages run to many lines of advice."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else '(no message)'}"
