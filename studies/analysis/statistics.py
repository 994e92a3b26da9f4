"""The statistics behind the results page: plain numpy and the standard library (no
Django, no scipy at run time), each checked in the tests against a reference
implementation (statsmodels, scipy, the `krippendorff` package) on fixed data.

Every estimate comes with the number it rests on; anything that cannot be computed (no
data, one rater) is None with a reason, never NaN.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A value with its interval and the count it rests on; value None says why not."""

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    why_not: str = ""

    @classmethod
    def missing(cls, why: str, n: int = 0) -> Estimate:
        return cls(None, None, None, n, why)


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson(successes: int, n: int, level: float = LEVEL) -> Estimate:
    """A proportion with its Wilson score interval (good at small n and near 0 or 1)."""
    if n == 0:
        return Estimate.missing("no observations")
    z = _z(level)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Estimate(p, centre - half, centre + half, n)


def bootstrap(
    units: Sequence,
    statistic: Callable[[Sequence], float],
    level: float = LEVEL,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """statistic(units) with a percentile bootstrap interval, resampling the units (for
    example items) with replacement; seeded, so the page shows the same interval twice."""
    n = len(units)
    if n == 0:
        return Estimate.missing("no observations")
    value = float(statistic(units))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    stats = np.array([statistic([units[i] for i in row]) for row in draws], dtype=float)
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(value, float(low), float(high), n)


def bootstrap_mean(
    values: Sequence[float], level: float = LEVEL, resamples: int = 2000, seed: int = 0
) -> Estimate:
    """The mean of per-unit values with a percentile bootstrap interval over units; the
    same draws as bootstrap(values, mean), computed in one array operation."""
    n = len(values)
    if n == 0:
        return Estimate.missing("no observations")
    array = np.asarray(values, dtype=float)
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    low, high = np.quantile(array[draws].mean(axis=1), [(1 - level) / 2, (1 + level) / 2])
    return Estimate(float(array.mean()), float(low), float(high), n)


def cluster_permutation_test(
    clusters: Sequence[tuple[str, Sequence[int]]],
    first: str,
    second: str,
    permutations: int = 5000,
    seed: int = 0,
) -> tuple[Estimate, float | None]:
    """Difference in the rate of 1s between two groups whose answers come in clusters (a
    participant's answers), with a two-sided p-value from permuting group labels between
    whole clusters, so repeated answers by one participant are not taken as independent.

    `clusters`: (group, [0/1 answers]) per participant. Returns (difference first −
    second with a cluster bootstrap interval, p-value); p is None when a group is empty."""
    groups = np.array([group for group, _ in clusters])
    sums = np.array([sum(answers) for _, answers in clusters], dtype=float)
    counts = np.array([len(answers) for _, answers in clusters], dtype=float)
    keep = np.isin(groups, [first, second]) & (counts > 0)
    groups, sums, counts = groups[keep], sums[keep], counts[keep]
    is_first = groups == first
    if not is_first.any() or is_first.all():
        return Estimate.missing(
            "each group needs at least one participant with answers", int(counts.sum())
        ), None

    def difference(mask: np.ndarray) -> float:
        return sums[mask].sum() / counts[mask].sum() - sums[~mask].sum() / counts[~mask].sum()

    observed = difference(is_first)
    rng = np.random.default_rng(seed)
    extreme = 1  # the observed labelling is one of the permutations
    for _ in range(permutations):
        if abs(difference(rng.permutation(is_first))) >= abs(observed) - 1e-12:
            extreme += 1
    p_value = extreme / (permutations + 1)
    index = np.arange(len(groups))
    rows_first, rows_second = index[is_first], index[~is_first]
    boot = []
    for _ in range(2000):
        a = rng.choice(rows_first, size=len(rows_first))
        b = rng.choice(rows_second, size=len(rows_second))
        boot.append(sums[a].sum() / counts[a].sum() - sums[b].sum() / counts[b].sum())
    low, high = np.quantile(boot, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Estimate(float(observed), float(low), float(high), int(counts.sum())), float(p_value)


def paired_permutation_test(
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]], permutations: int = 5000, seed: int = 0
) -> tuple[Estimate, float | None]:
    """For participants who answered under both levels (within-subject blocks): the mean of
    their differences in the rate of 1s (first − second), with a two-sided p-value from
    flipping the sign of whole participants' differences and a bootstrap interval over
    participants. `pairs`: ([0/1 answers] under the first level, [...] under the second)."""
    differences = np.array(
        [np.mean(first) - np.mean(second) for first, second in pairs if len(first) and len(second)],
        dtype=float,
    )
    if len(differences) == 0:
        return Estimate.missing("no participant answered under both levels"), None
    observed = float(differences.mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(permutations, len(differences)))
    flipped = np.abs((signs * differences).mean(axis=1))
    p_value = (1 + int(np.sum(flipped >= abs(observed) - 1e-12))) / (permutations + 1)
    draws = rng.integers(0, len(differences), size=(2000, len(differences)))
    low, high = np.quantile(differences[draws].mean(axis=1), [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Estimate(observed, float(low), float(high), len(differences)), float(p_value)


def dprime(hits: int, misses: int, false_alarms: int, correct_rejections: int) -> Estimate:
    """Sensitivity d' = z(hit rate) − z(false-alarm rate), with the log-linear correction
    (Hautus 1995: 0.5 added to every cell) so that perfect rates stay finite; the
    interval is the normal approximation of Gourevitch & Galanter (1967)."""
    signal, noise = hits + misses, false_alarms + correct_rejections
    if signal == 0 or noise == 0:
        return Estimate.missing("needs both altered and unaltered images answered", signal + noise)
    h = (hits + 0.5) / (signal + 1)
    f = (false_alarms + 0.5) / (noise + 1)
    normal = NormalDist()
    value = normal.inv_cdf(h) - normal.inv_cdf(f)
    variance = h * (1 - h) / ((signal + 1) * normal.pdf(normal.inv_cdf(h)) ** 2) + f * (1 - f) / (
        (noise + 1) * normal.pdf(normal.inv_cdf(f)) ** 2
    )
    half = _z(LEVEL) * math.sqrt(variance)
    return Estimate(value, value - half, value + half, signal + noise)


def fleiss_kappa(table: np.ndarray) -> Estimate:
    """Fleiss' kappa for `table[item, category]` = raters who chose the category; every
    item needs the same number of raters (at least two)."""
    table = np.asarray(table, dtype=float)
    if table.ndim != 2 or table.shape[0] == 0:
        return Estimate.missing("no items")
    raters = table.sum(axis=1)
    if raters.min() < 2 or not np.all(raters == raters[0]):
        return Estimate.missing("needs the same number (>= 2) of raters for every item", int(table.shape[0]))
    m = raters[0]
    p_item = ((table * table).sum(axis=1) - m) / (m * (m - 1))
    p_category = table.sum(axis=0) / table.sum()
    expected = (p_category * p_category).sum()
    if expected == 1:
        return Estimate.missing(
            "every rating is in one category: agreement is undefined", int(table.shape[0])
        )
    return Estimate(float((p_item.mean() - expected) / (1 - expected)), n=int(table.shape[0]))


def krippendorff_alpha_nominal(ratings: Sequence[Sequence]) -> Estimate:
    """Krippendorff's alpha for nominal data: `ratings[rater][unit]`, None where a rater did
    not rate a unit. Units with fewer than two ratings do not count (as in Krippendorff 2011)."""
    units = []
    for unit in range(max((len(r) for r in ratings), default=0)):
        units.append(Counter(r[unit] for r in ratings if unit < len(r) and r[unit] is not None))
    return krippendorff_alpha_counts(units)


def krippendorff_alpha_counts(units: Sequence[Mapping]) -> Estimate:
    """Krippendorff's alpha (nominal) from how many ratings of each unit fell in each
    category (`units[u][category]`): for nominal data the coincidence matrix needs nothing
    else, so raters never have to be lined up in a matrix."""
    units = [unit for unit in units if sum(unit.values()) >= 2]
    if not units:
        return Estimate.missing("no item has two or more ratings")
    categories = sorted({c for unit in units for c, n in unit.items() if n}, key=str)
    index = {c: i for i, c in enumerate(categories)}
    coincidence = np.zeros((len(categories), len(categories)))
    for unit in units:
        counts = np.zeros(len(categories))
        for category, n in unit.items():
            if n:
                counts[index[category]] += n
        coincidence += (np.outer(counts, counts) - np.diag(counts)) / (counts.sum() - 1)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    observed = n - np.trace(coincidence)
    expected = (n * n - (n_c * n_c).sum()) / (n - 1)
    if expected == 0:
        return Estimate.missing("every rating is in one category: agreement is undefined", len(units))
    return Estimate(float(1 - observed / expected), n=len(units))
