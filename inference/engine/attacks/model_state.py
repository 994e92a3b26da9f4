"""The model state every attack runs in: eval mode, frozen parameters, both restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from ..classifier import eval_mode


@contextmanager
def attack_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put `model` in eval mode with `requires_grad=False` on every parameter; restore both on exit.

    Attacks need gradients with respect to the input only: with frozen
    parameters autograd skips the weight gradients, which cuts the cost of a
    backward pass by about a third. Each parameter's flag and each
    submodule's training flag come back exactly as they were.
    """
    flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    with eval_mode(model):
        model.requires_grad_(False)
        try:
            yield model
        finally:
            for parameter, flag in flags:
                parameter.requires_grad_(flag)
