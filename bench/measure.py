"""Timing helpers shared by the benchmarks: every benchmark measures its own bound in the
same run, with the runs taking turns so that a noisy neighbour slows them all alike."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def seconds(run: Callable[[], object], device: torch.device | str = "cpu") -> float:
    """Wall time of run(); CUDA kernels run asynchronously, so they are timed to completion."""
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run()
    if cuda:
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def fastest(
    runs: dict[str, Callable[[], object]], repeats: int, device: torch.device | str = "cpu"
) -> dict[str, float]:
    """Fastest seconds of each run after one warm-up each, the runs taking turns every round."""
    for run in runs.values():
        run()
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            best[name] = min(best[name], seconds(run, device))
    return best


def forward(model: torch.nn.Module, images: torch.Tensor, batch_size: int) -> Callable[[], None]:
    """The bare forward pass, batches laid out channels_last beforehand (float16 autocast on
    CUDA, as top-k preparation runs there)."""
    batches = [batch.contiguous(memory_format=torch.channels_last) for batch in images.split(batch_size)]
    autocast = torch.autocast("cuda", dtype=torch.float16, enabled=images.device.type == "cuda")

    def run() -> None:
        with torch.inference_mode(), autocast:
            for batch in batches:
                model(batch)

    return run


def forward_backward(
    model: torch.nn.Module, images: torch.Tensor, targets: torch.Tensor, batch_size: int
) -> Callable[[], None]:
    """Forward, then the gradient of the target logits to the input (parameters frozen):
    what one attack step or one gradient explanation needs."""
    batches = [batch.contiguous(memory_format=torch.channels_last) for batch in images.split(batch_size)]
    target_batches = targets.split(batch_size)

    def run() -> None:
        for batch, target in zip(batches, target_batches, strict=True):
            leaf = batch.detach().requires_grad_()
            score = model(leaf).gather(1, target[:, None]).sum()
            torch.autograd.grad(score, leaf)

    return run
