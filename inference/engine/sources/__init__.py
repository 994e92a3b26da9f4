"""Where a classifier's network comes from: one module per source.

Every source turns the fields of a classifier record (architecture, weights
file, preprocessing) into a `SourceNet`, never downloading and raising
`ClassifierLoadError` for anything wrong with those fields. Wrapping the net
for inference and checking its output is the registry's job, done the same
way for every source.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..preprocessing import Preprocessing


@dataclass(frozen=True)
class SourceNet:
    """A network with its weights loaded, before it is wrapped for inference.

    `net` takes normalised `[N, 3, crop, crop]` input (on the CPU, in
    whatever mode its builder left it); `preprocessing` is the one given or
    else the publisher's; `class_names` name the output indices when the
    publisher does; `weights_sha256` hashes the bytes the weights were read
    from.
    """

    net: nn.Module
    preprocessing: Preprocessing
    class_names: tuple[str, ...] | None
    weights_sha256: str
