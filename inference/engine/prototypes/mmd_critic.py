"""MMD-critic: a class's prototypes and its criticisms (Kim, Khanna, Koyejo, NeurIPS 2016).

Prototypes are the points whose empirical distribution is closest, in maximum
mean discrepancy (MMD) under an RBF kernel, to that of all the points;
criticisms are the points the prototypes represent worst, by the witness
function, kept apart from each other by a log-det diversity term.

This selects exactly what the reference code (`mmd.py` of
github.com/BeenKim/MMD-critic, `greedy_select_protos` and
`select_criticism_regularized` on a dense kernel) selects on the same kernel
matrix, in the same order, but in O(n (m + c^2)) after the O(n^2) kernel
column sums instead of O(n (m^2 + c m + c^3)): running sums replace the
per-step re-sums over the selection, and an incremental Cholesky factor
replaces the per-step matrix inverse. Sums are accumulated in the reference's order (numpy sums
axis 0 row by row), so prototype and witness scores are bitwise those of the
reference; only the log-det term is computed differently (rounding-level
differences), and ties go to the smallest index as with `np.argmax`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..features import squared_distances
from .kernels import median_heuristic_gamma_from_squared_distances, rbf_from_squared_distances

REGULARIZERS = ("logdet", None)

# A criticism whose Schur complement is below this fraction of its kernel
# diagonal lies (numerically) in the span of the earlier ones; see
# `select_criticisms`.
_DEPENDENT = 1e-12


class MMDCritic(NamedTuple):
    """Prototypes and criticisms as int64 indices in selection order, and the kernel's gamma."""

    prototypes: torch.Tensor
    criticisms: torch.Tensor
    gamma: float


def select_prototypes(kernel: torch.Tensor, m: int) -> torch.Tensor:
    """Greedily choose m prototypes that minimise MMD^2 between them and all n points.

    Kim et al. 2016, Algorithm 1 as in the reference `greedy_select_protos`:
    with S the prototypes so far, the next one is the candidate c maximising
    2/n sum_i K[i, c] - (2 sum_{s in S} K[s, c] + K[c, c]) / (|S| + 1),
    which is (|S| + 1) times the MMD objective J(S + {c}); ties go to the
    smallest index. `kernel` is a symmetric `[n, n]` kernel matrix (e.g.
    `rbf_kernel`), computed on in float64; 0 <= m <= n.

    Returns int64 `[m]` on the kernel's device, in selection order.
    """
    kernel, column_sums = _checked_kernel(kernel)
    _check_count("m", m, kernel.shape[0])
    return _greedy_prototypes(kernel, column_sums, m)


def select_criticisms(
    kernel: torch.Tensor, prototypes: torch.Tensor, c: int, regularizer: str | None = "logdet"
) -> torch.Tensor:
    """Greedily choose c criticisms: the points the prototypes represent worst.

    Kim et al. 2016, section 3.2, as in the reference
    `select_criticism_regularized`: the score of a candidate x is the absolute
    witness |1/n sum_i K[i, x] - 1/m sum_p K[p, x]| plus, with regularizer
    "logdet", the log-det diversity term log det K[S + {x}] - log det K[S] =
    log |K[x, x] - k_x^T K[S]^-1 k_x| for the criticisms S chosen so far
    (on the first pick the reference subtracts log |K[x, x]|, which is 0 for
    an RBF kernel; kept). Prototypes are never criticisms; ties go to the
    smallest index. `kernel` is a symmetric positive semi-definite `[n, n]`
    matrix; `prototypes` 1-D int indices (at least one when c > 0);
    0 <= c <= n - len(prototypes).

    Where the reference raises (np.linalg.inv of a singular matrix: a
    criticism in the span of the earlier ones, which it only picks when every
    candidate left is), the dependent criticism is left out of later log-det
    terms, as a pseudo-inverse would.

    Returns int64 `[c]` on the kernel's device, in selection order.
    """
    if regularizer not in REGULARIZERS:
        raise ValueError(f"regularizer must be one of {REGULARIZERS}, got {regularizer!r}")
    kernel, column_sums = _checked_kernel(kernel)
    n = kernel.shape[0]
    protos = _checked_prototypes(prototypes, n)
    _check_count("c", c, n - len(protos))
    if c > 0 and not protos:
        raise ValueError("criticisms need at least one prototype")
    return _greedy_criticisms(kernel, column_sums, protos, c, regularizer)


def mmd_critic(
    features: torch.Tensor, m: int, c: int, gamma: float | None = None, regularizer: str | None = "logdet"
) -> MMDCritic:
    """MMD-critic prototypes and criticisms of one set of points (e.g. one class's features).

    Builds the RBF kernel exp(-gamma ||x_i - x_j||^2) in float64 (gamma by the
    median heuristic, `median_heuristic_gamma`, unless given), then
    `select_prototypes` and `select_criticisms`. `features` is `[n, d]`
    (e.g. `penultimate_features`), any float dtype, n >= 1. A set too small
    for m + c gives min(m, n) prototypes and min(c, n - prototypes)
    criticisms. Cost: O(n^2 d) time and O(n^2) memory for the kernel.

    Returns `MMDCritic(prototypes, criticisms, gamma)`: int64 indices into
    `features` on its device, in selection order, and the gamma used.
    """
    if features.dim() != 2 or features.shape[0] == 0:
        raise ValueError(f"features must be a non-empty [n, d] matrix, got {tuple(features.shape)}")
    n = features.shape[0]
    _check_count("m", m)
    _check_count("c", c)
    if c > 0 and m == 0:
        raise ValueError("criticisms need at least one prototype")
    if regularizer not in REGULARIZERS:
        raise ValueError(f"regularizer must be one of {REGULARIZERS}, got {regularizer!r}")
    square = squared_distances(features)
    if gamma is None:
        gamma = median_heuristic_gamma_from_squared_distances(square)
    kernel = rbf_from_squared_distances(square, gamma)
    del square
    # The O(n^2) column sums are shared by both selections.
    kernel, column_sums = _checked_kernel(kernel)
    prototypes = _greedy_prototypes(kernel, column_sums, min(m, n))
    c = min(c, n - len(prototypes))
    criticisms = _greedy_criticisms(kernel, column_sums, prototypes.tolist(), c, regularizer)
    return MMDCritic(prototypes, criticisms, float(gamma))


def mmd_critic_per_class(
    features: torch.Tensor,
    labels: torch.Tensor,
    m: int,
    c: int,
    gamma: float | None = None,
    regularizer: str | None = "logdet",
) -> dict[int, MMDCritic]:
    """`mmd_critic` on the features of each class separately, as in the paper's per-class use.

    `labels` is int `[n]`, one class per row of `features` `[n, d]`. Each
    class gets its own kernel, with its own median-heuristic gamma unless
    `gamma` is given. Returns {class: MMDCritic} in ascending class order, with
    indices into `features` (not into the class).
    """
    if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"labels must be [n] for features {tuple(features.shape)}, got {tuple(labels.shape)}"
        )
    labels = labels.to(features.device)
    results = {}
    for label in labels.unique(sorted=True).tolist():
        members = (labels == label).nonzero().squeeze(1)
        found = mmd_critic(features[members], m, c, gamma, regularizer)
        results[int(label)] = MMDCritic(members[found.prototypes], members[found.criticisms], found.gamma)
    return results


def _greedy_prototypes(kernel: torch.Tensor, column_sums: torch.Tensor, m: int) -> torch.Tensor:
    n = kernel.shape[0]
    column_sums = 2 * column_sums / n
    diagonal = kernel.diagonal()
    # Running sum of the chosen prototypes' kernel rows: the reference's
    # per-step re-sum over the selection, accumulated in the same order.
    selected_sums = torch.zeros(n, dtype=torch.float64, device=kernel.device)
    available = torch.ones(n, dtype=torch.bool, device=kernel.device)
    selected: list[int] = []
    for size in range(m):
        if size == 0:
            scores = column_sums - diagonal.abs()
        else:
            scores = column_sums - (selected_sums * 2 + diagonal) / (size + 1)
        choice = _best_available(scores, available)
        selected.append(choice)
        available[choice] = False
        selected_sums += kernel[choice]
    return torch.tensor(selected, dtype=torch.int64, device=kernel.device)


def _greedy_criticisms(
    kernel: torch.Tensor, column_sums: torch.Tensor, protos: list[int], c: int, regularizer: str | None
) -> torch.Tensor:
    n = kernel.shape[0]
    available = torch.ones(n, dtype=torch.bool, device=kernel.device)
    available[torch.tensor(protos, dtype=torch.int64, device=kernel.device)] = False
    scores = _witness(kernel, column_sums, protos)
    diagonal = kernel.diagonal()
    # residual[x] = K[x, x] - k_x^T K[S]^-1 k_x, the Schur complement that the
    # log-det term takes the log of; `factor` holds the rows of L^-1 K[S, :]
    # for the Cholesky factor L of K[S].
    residual = diagonal.clone()
    factor: list[torch.Tensor] = []
    selected: list[int] = []
    for step in range(c):
        if regularizer is None:
            total = scores
        elif step == 0:
            total = scores - _log(diagonal.abs())
        else:
            total = scores + _log(residual.abs())
        choice = _best_available(total, available)
        selected.append(choice)
        available[choice] = False
        if regularizer is not None and step < c - 1:
            _extend_factor(kernel, factor, residual, choice)
    return torch.tensor(selected, dtype=torch.int64, device=kernel.device)


def _column_sums(kernel: torch.Tensor) -> torch.Tensor:
    # Row by row, as numpy's axis-0 sum does in the reference: torch's own
    # reduction order differs in the last bits, which could break a tie the
    # other way.
    sums = kernel[0].clone()
    for row in kernel[1:]:
        sums += row
    return sums


def _witness(kernel: torch.Tensor, column_sums: torch.Tensor, prototypes: list[int]) -> torch.Tensor:
    # |mean over all points - mean over the prototypes| of each kernel column,
    # with the reference's operations in its order.
    n = kernel.shape[0]
    if not prototypes:
        return torch.zeros(n, dtype=torch.float64, device=kernel.device)
    prototype_sums = kernel[prototypes[0]].clone()
    for index in prototypes[1:]:
        prototype_sums += kernel[index]
    return (column_sums / n - prototype_sums / len(prototypes)).abs()


def _extend_factor(
    kernel: torch.Tensor, factor: list[torch.Tensor], residual: torch.Tensor, choice: int
) -> None:
    """Add `choice` to the Cholesky factor of K[S] and update every point's Schur complement.

    The new row of L^-1 K[S, :] is (K[choice, :] - sum_j f_j[choice] f_j) / sqrt(residual[choice]);
    one O(n |S|) step instead of the reference's fresh inverse and O(n |S|^2) products.
    """
    pivot = residual[choice].item()
    if pivot <= _DEPENDENT * abs(kernel[choice, choice].item()):
        return
    row = kernel[choice].clone()
    # One row at a time rather than a matrix-vector product: identical
    # columns then stay bitwise identical, so duplicates keep tying exactly.
    for earlier in factor:
        row -= earlier[choice] * earlier
    row /= pivot**0.5
    factor.append(row)
    residual -= row * row


def _log(values: torch.Tensor) -> torch.Tensor:
    # log x as xlogy(1, x). On the CPU torch.log goes through MKL's VML in
    # parallel chunks of 2048 elements; on a busy 2-core machine every such
    # call waited about 15 ms for the second thread (measured), a hundred times
    # the work, once per criticism. xlogy is an ordinary elementwise kernel
    # that stays on one thread at this size.
    return torch.xlogy(1.0, values)


def _best_available(scores: torch.Tensor, available: torch.Tensor) -> int:
    # The first maximum among the available points, as np.argmax over the
    # ascending np.setdiff1d candidates in the reference. Scores are never
    # NaN (the kernel is finite), but can all be -inf (log 0 of duplicates):
    # then the first available point, as np.argmax would take.
    masked = scores.masked_fill(~available, -math.inf)
    choice = int(masked.argmax())
    if masked[choice] == -math.inf:
        choice = int(available.byte().argmax())
    return choice


def _checked_kernel(kernel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel in float64 and its column sums; ValueError unless non-empty, square, float, finite."""
    if kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] == 0:
        raise ValueError(f"kernel must be a non-empty square matrix, got {tuple(kernel.shape)}")
    if not kernel.is_floating_point():
        raise ValueError(f"kernel must be a float matrix, got {kernel.dtype}")
    kernel = kernel.to(torch.float64)
    column_sums = _column_sums(kernel)
    # A NaN or infinity anywhere reaches its column's sum: an O(n) check
    # instead of a pass over all n^2 entries.
    if not bool(torch.isfinite(column_sums).all()):
        raise ValueError("kernel must be finite")
    return kernel, column_sums


def _checked_prototypes(prototypes: torch.Tensor, n: int) -> list[int]:
    protos = torch.as_tensor(prototypes).tolist()
    if not isinstance(protos, list) or not all(isinstance(index, int) for index in protos):
        raise ValueError("prototypes must be a 1-D sequence of integer indices")
    if any(not 0 <= index < n for index in protos) or len(set(protos)) != len(protos):
        raise ValueError(f"prototypes must be distinct indices in 0..{n - 1}")
    return protos


def _check_count(name: str, value: int, limit: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if limit is not None and value > limit:
        raise ValueError(f"{name} must be at most {limit} here, got {value}")
