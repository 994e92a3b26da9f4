"""A straightforward transcription of the MMD-critic reference selection, for tests and the benchmark.

Source: `mmd.py` of https://github.com/BeenKim/MMD-critic (Kim, Khanna, Koyejo,
"Examples are not enough, learn to criticize!", NeurIPS 2016), functions
`greedy_select_protos` and `select_criticism_regularized` on a dense kernel
matrix (`is_K_sparse=False`, as `run_digits.py` calls them). Ported from
Python 2 to Python 3 and numpy float64 with the same operations in the same
order, so that the scores, and therefore the argmax, are those of the original:

- every greedy step rescans all candidates and re-sums the kernel rows of the
  whole selection (O(m^2 n) for m selections over n points);
- candidates come from `np.setdiff1d` (ascending) and `np.argmax` takes the
  first maximum, so ties go to the smallest index;
- criticisms: witness |mean_i K[i, c] - mean_p K[p, c]| plus, with
  reg="logdet", log |K[c, c] - k_c^T K_S^-1 k_c| for the criticisms S chosen
  so far (the inverse recomputed with `np.linalg.inv` after every pick), and
  minus log |K[c, c]| on the first pick, signs as in the original.

Left out: the sparse-matrix branches, the `candidate_indices` subset of
`greedy_select_protos` (callers pass all indices), the "iterative" regulariser,
and the inverse that `greedy_select_protos` computes after each pick but never
uses (it only matters in that it raises on a singular selection).
"""

from __future__ import annotations

import numpy as np


def greedy_select_protos(K: np.ndarray, m: int) -> np.ndarray:
    """Indices of m prototypes chosen greedily from all n rows of the dense kernel K."""
    n = np.shape(K)[0]
    colsum = 2 * np.sum(K, axis=0) / n

    selected = np.array([], dtype=int)
    for _ in range(m):
        candidates = np.setdiff1d(range(n), selected)

        s1array = colsum[candidates]
        if len(selected) > 0:
            temp = K[selected, :][:, candidates]
            s2array = np.sum(temp, axis=0) * 2 + np.diagonal(K)[candidates]
            s2array = s2array / (len(selected) + 1)
            s1array = s1array - s2array
        else:
            s1array = s1array - (np.abs(np.diagonal(K)[candidates]))

        argmax = candidates[np.argmax(s1array)]
        selected = np.append(selected, argmax)
    return selected


def select_criticism_regularized(
    K: np.ndarray, selectedprotos: np.ndarray, m: int, reg: str | None = "logdet"
) -> np.ndarray:
    """Indices of m criticisms given the prototypes; reg is "logdet" or None (the original's 'None')."""
    n = np.shape(K)[0]
    selected = np.array([], dtype=int)
    candidates2 = np.setdiff1d(range(n), selectedprotos)
    inverse_of_prev_selected = None

    colsum = np.sum(K, axis=0) / n

    for _ in range(m):
        candidates = np.setdiff1d(candidates2, selected)

        s1array = colsum[candidates]

        temp = K[selectedprotos, :][:, candidates]
        s2array = np.sum(temp, axis=0)
        s2array = s2array / (len(selectedprotos))

        s1array = np.abs(s1array - s2array)
        if reg == "logdet":
            if inverse_of_prev_selected is not None:
                temp = K[selected, :][:, candidates]
                temp2 = np.array(np.dot(inverse_of_prev_selected, temp))
                regularizer = temp2 * temp
                regcolsum = np.sum(regularizer, axis=0)
                regularizer = np.log(np.abs(np.diagonal(K)[candidates] - regcolsum))
                s1array = s1array + regularizer
            else:
                s1array = s1array - np.log(np.abs(np.diagonal(K)[candidates]))
        argmax = candidates[np.argmax(s1array)]

        selected = np.append(selected, argmax)
        if reg == "logdet":
            KK = K[selected, :][:, selected]
            inverse_of_prev_selected = np.linalg.inv(KK)
    return selected
