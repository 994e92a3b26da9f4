"""The RBF kernel MMD-critic works on, and its width by the median heuristic."""

from __future__ import annotations

import math

import torch

from ..features import squared_distances


def rbf_kernel(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """The RBF (Gaussian) kernel matrix K[i, j] = exp(-gamma * ||x_i - x_j||^2) of the rows of x.

    The same convention as `sklearn.metrics.pairwise.rbf_kernel`, which the
    MMD-critic reference code uses. `x` is `[n, d]`, any float dtype; gamma > 0.
    Returns float64 `[n, n]` on x's device: exactly symmetric, ones on the
    diagonal, identical columns for identical rows (see `squared_distances`).
    """
    return rbf_from_squared_distances(squared_distances(x), gamma)


def rbf_from_squared_distances(square: torch.Tensor, gamma: float) -> torch.Tensor:
    """exp(-gamma * square) for a matrix of squared distances; gamma must be finite and > 0."""
    if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not (0 < gamma < math.inf):
        raise ValueError(f"gamma must be a positive finite number, got {gamma!r}")
    return torch.exp(-gamma * square)


def median_heuristic_gamma(x: torch.Tensor) -> float:
    """gamma = 1 / (2 * median^2), median over the Euclidean distances of all pairs i < j of rows of x.

    The median heuristic for the Gaussian kernel exp(-||x - y||^2 / (2 sigma^2))
    with sigma the median pairwise distance (Gretton et al., "A kernel
    two-sample test", JMLR 2012), written as the gamma of `rbf_kernel`. The
    median of an even number of distances is the mean of the two middle ones,
    as in `numpy.median`. `x` is `[n, d]`. Returns a float > 0; see
    `median_heuristic_gamma_from_squared_distances` for the degenerate cases.
    """
    return median_heuristic_gamma_from_squared_distances(squared_distances(x))


def median_heuristic_gamma_from_squared_distances(square: torch.Tensor) -> float:
    """`median_heuristic_gamma` from the `[n, n]` squared distances of the points.

    Degenerate cases: when at least half of the pairs are identical points
    (median 0), the median of the non-zero distances is used instead; when
    there is no pair or all points coincide, the kernel is the same for every
    gamma and 1.0 is returned.
    """
    n = square.shape[0]
    pairs = square[torch.ones(n, n, dtype=torch.bool, device=square.device).triu_(diagonal=1)]
    median = _median_distance(pairs)
    if median == 0:
        positive = pairs[pairs > 0]
        if positive.numel() == 0:
            return 1.0
        median = _median_distance(positive)
    return 1.0 / (2.0 * median**2)


def _median_distance(squares: torch.Tensor) -> float:
    """The median of the square roots of `squares`, averaging the two middle values like numpy.

    The middle values are found among the squares (the square root keeps
    their order), so only those two are rooted. torch.median would return
    the lower middle value only.
    """
    count = squares.numel()
    if count == 0:
        return 0.0
    lower = squares.kthvalue((count + 1) // 2).values.sqrt()
    upper = squares.kthvalue(count // 2 + 1).values.sqrt() if count % 2 == 0 else lower
    return float((lower + upper) / 2)
