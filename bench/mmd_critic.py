"""MMD-critic at n = 5,000, d = 1,280: the incremental selection against the reference transcription.

Question: how much faster is the engine's MMD-critic than a straightforward
transcription of the reference code (`tests/engine/mmd_critic_reference.py`,
after github.com/BeenKim/MMD-critic `mmd.py`), and does it select the same
indices? Features: a seeded float32 mixture of 20 Gaussians of different
spreads; RBF kernel in float64 with gamma by the median heuristic; m = 20
prototypes, c = 10 criticisms with the log-det regulariser.

Both sides are timed with the same kernel computation (squared distances,
median heuristic, exp: the engine's functions), and without it on the same
kernel matrix. The kernel alone is this problem's floor (O(n^2 d), the same
for both), so the engine's whole run is also printed against it. Larger m and
c are timed too: the reference re-sums its selection at every step
(O(m^2 n)), which a small m hides behind the O(n^2) column sums both make.
The benchmark fails (exit status 1) unless every configuration selects the
same indices in the same order. Runs take turns within each round so that
machine noise hits them alike; fastest of REPEATS after a warm-up.

Run: `python bench/mmd_critic.py [--device cuda]` (no Django). The
reference always runs in numpy on the CPU, on the device's kernel copied over.
Ends with `RESULT <name> <value> <unit>` lines.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference.engine.features import squared_distances  # noqa: E402
from inference.engine.prototypes import mmd_critic, select_criticisms, select_prototypes  # noqa: E402
from inference.engine.prototypes.kernels import (  # noqa: E402
    median_heuristic_gamma_from_squared_distances,
    rbf_from_squared_distances,
)
from tests.engine.mmd_critic_reference import greedy_select_protos, select_criticism_regularized  # noqa: E402

N, DIMENSIONS, CLUSTERS, SEED = 5000, 1280, 20, 0
M, C = 20, 10
LARGER = ((100, 20), (200, 50))
REPEATS = 3


def mixture(device: torch.device) -> torch.Tensor:
    """N float32 features from CLUSTERS Gaussians with spreads 0.5-1.5 around centres of scale 1."""
    generator = torch.Generator().manual_seed(SEED)
    centres = torch.randn(CLUSTERS, DIMENSIONS, generator=generator)
    assignment = torch.randint(CLUSTERS, (N,), generator=generator)
    spread = torch.rand(CLUSTERS, generator=generator)[assignment, None] + 0.5
    features = centres[assignment] + spread * torch.randn(N, DIMENSIONS, generator=generator)
    return features.to(device)


def kernel_of(features: torch.Tensor) -> torch.Tensor:
    """The RBF kernel with the median-heuristic gamma, as `mmd_critic` builds it."""
    square = squared_distances(features)
    return rbf_from_squared_distances(square, median_heuristic_gamma_from_squared_distances(square))


def incremental(kernel: torch.Tensor, m: int, c: int) -> tuple[list[int], list[int]]:
    prototypes = select_prototypes(kernel, m)
    return prototypes.tolist(), select_criticisms(kernel, prototypes, c).tolist()


def reference(kernel: np.ndarray, m: int, c: int) -> tuple[list[int], list[int]]:
    prototypes = greedy_select_protos(kernel, m)
    return prototypes.tolist(), select_criticism_regularized(kernel, prototypes, c).tolist()


def fastest(runs: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, float]:
    """Fastest seconds of each run after one warm-up each, the runs taking turns in every round."""

    def seconds(run: Callable[[], object]) -> float:
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    for run in runs.values():
        seconds(run)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            best[name] = min(best[name], seconds(run))
    return best


def check_equal(name: str, ours: tuple[list[int], list[int]], theirs: tuple[list[int], list[int]]) -> None:
    if ours != theirs:
        print(f"FAIL {name}: indices differ\n  engine:    {ours}\n  reference: {theirs}")
        raise SystemExit(1)


def check_all_equal(features: torch.Tensor, kernel: torch.Tensor, kernel_cpu: np.ndarray) -> None:
    """Exit with status 1 unless every configuration selects what the reference selects."""
    whole = mmd_critic(features, M, C)
    check_equal(
        "mmd_critic", (whole.prototypes.tolist(), whole.criticisms.tolist()), reference(kernel_cpu, M, C)
    )
    for m, c in ((M, C), *LARGER):
        check_equal(f"m={m} c={c}", incremental(kernel, m, c), reference(kernel_cpu, m, c))
    print(f"indices equal: yes (m={M} c={C} and {', '.join(f'm={m} c={c}' for m, c in LARGER)})")


def report(with_kernel: dict[str, float], selection: dict[tuple[int, int], dict[str, float]]) -> None:
    speedup_with_kernel = with_kernel["reference"] / with_kernel["incremental"]
    over_kernel = with_kernel["incremental"] / with_kernel["kernel"]
    print(f"kernel alone (squared distances, median heuristic, exp): {with_kernel['kernel']:7.3f} s")
    print(
        f"with kernel, m={M} c={C}: incremental {with_kernel['incremental']:7.3f} s, "
        f"reference {with_kernel['reference']:7.3f} s, speed-up {speedup_with_kernel:5.2f}x, "
        f"incremental / kernel alone {over_kernel:.3f}"
    )
    speedups = {}
    for (m, c), times in selection.items():
        speedups[m, c] = times["reference"] / times["incremental"]
        print(
            f"selection only, m={m:>3} c={c:>2}: incremental {times['incremental'] * 1e3:8.1f} ms, "
            f"reference {times['reference'] * 1e3:8.1f} ms, speed-up {speedups[m, c]:5.1f}x"
        )
    print("RESULT mmd_critic_indices_equal 1 bool")
    print(f"RESULT mmd_critic_kernel {with_kernel['kernel']:.3f} s")
    print(f"RESULT mmd_critic_with_kernel {with_kernel['incremental']:.3f} s")
    print(f"RESULT mmd_critic_with_kernel_speedup {speedup_with_kernel:.2f} x")
    print(f"RESULT mmd_critic_with_kernel_over_kernel {over_kernel:.3f} ratio")
    print(f"RESULT mmd_critic_selection {selection[M, C]['incremental'] * 1e3:.1f} ms")
    for (m, c), speedup in speedups.items():
        suffix = "" if (m, c) == (M, C) else f"_m{m}_c{c}"
        print(f"RESULT mmd_critic_selection{suffix}_speedup {speedup:.2f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device for the engine's side (default: cpu)")
    device = torch.device(parser.parse_args().device)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
        f"n={N} d={DIMENSIONS}, fastest of {REPEATS} interleaved runs"
    )
    features = mixture(device)
    kernel = kernel_of(features)
    kernel_cpu = kernel.cpu().numpy()
    check_all_equal(features, kernel, kernel_cpu)

    with_kernel = fastest(
        {
            "kernel": lambda: kernel_of(features),
            "incremental": lambda: mmd_critic(features, M, C),
            "reference": lambda: reference(kernel_of(features).cpu().numpy(), M, C),
        },
        REPEATS,
        device,
    )
    selection = {
        (m, c): fastest(
            {
                "incremental": lambda m=m, c=c: incremental(kernel, m, c),
                "reference": lambda m=m, c=c: reference(kernel_cpu, m, c),
            },
            REPEATS,
            device,
        )
        for m, c in ((M, C), *LARGER)
    }
    report(with_kernel, selection)


if __name__ == "__main__":
    main()
