"""The results page's statistics against reference implementations on fixed data:
statsmodels (Wilson interval, Fleiss' kappa), the `krippendorff` package, scipy (normal
quantiles for d', a permutation test)."""

import krippendorff
import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.inter_rater import fleiss_kappa as reference_fleiss
from statsmodels.stats.proportion import proportion_confint

from studies.analysis import statistics as s


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (3, 10), (10, 10), (47, 120), (1, 1)])
def test_wilson_interval_matches_statsmodels(successes, n):
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    found = s.wilson(successes, n)
    assert found.value == pytest.approx(successes / n)
    assert (found.low, found.high) == (pytest.approx(low), pytest.approx(high))
    assert found.n == n


def test_a_proportion_of_nothing_says_why_instead_of_nan():
    found = s.wilson(0, 0)
    assert found.value is None and found.why_not == "no observations"


def test_fleiss_kappa_matches_statsmodels():
    # Fleiss (1971)-style table: 10 items, 5 raters each, 3 categories.
    table = np.array(
        [
            [5, 0, 0],
            [2, 3, 0],
            [0, 5, 0],
            [1, 1, 3],
            [0, 0, 5],
            [3, 2, 0],
            [4, 1, 0],
            [0, 2, 3],
            [1, 4, 0],
            [2, 2, 1],
        ]
    )
    assert s.fleiss_kappa(table).value == pytest.approx(reference_fleiss(table, method="fleiss"))


def test_fleiss_kappa_refuses_what_it_cannot_compute():
    assert s.fleiss_kappa(np.array([[1, 0], [0, 1]])).why_not.startswith("needs the same number (>= 2)")
    assert s.fleiss_kappa(np.array([[3, 0], [3, 0]])).why_not.startswith("every rating is in one category")


def test_krippendorff_alpha_matches_the_reference_package_with_missing_ratings():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, size=40)
    ratings = []
    for _ in range(6):
        noisy = np.where(rng.random(40) < 0.25, rng.integers(0, 3, size=40), truth).astype(float)
        noisy[rng.random(40) < 0.3] = np.nan  # raters judge different subsets, as participants do
        ratings.append(noisy)
    matrix = np.array(ratings)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    as_lists = [[None if np.isnan(v) else int(v) for v in row] for row in matrix]
    assert s.krippendorff_alpha_nominal(as_lists).value == pytest.approx(expected)


def test_krippendorff_alpha_needs_two_ratings_of_a_unit():
    assert s.krippendorff_alpha_nominal([[1, None], [None, 2]]).why_not == "no item has two or more ratings"


def test_dprime_uses_the_normal_quantiles_and_the_log_linear_correction():
    found = s.dprime(hits=40, misses=10, false_alarms=5, correct_rejections=45)
    h, f = 40.5 / 51, 5.5 / 51
    assert found.value == pytest.approx(stats.norm.ppf(h) - stats.norm.ppf(f))
    assert found.low < found.value < found.high and found.n == 100
    perfect = s.dprime(hits=20, misses=0, false_alarms=0, correct_rejections=20)
    assert np.isfinite(perfect.value)
    assert s.dprime(3, 2, 0, 0).why_not.startswith("needs both")


def test_bootstrap_interval_is_reproducible_and_covers_the_estimate():
    values = [0, 1, 1, 0, 1, 1, 1, 0, 1, 1]
    first = s.bootstrap(values, np.mean, seed=4)
    assert first == s.bootstrap(values, np.mean, seed=4)
    assert first.value == pytest.approx(0.7) and first.low < 0.7 < first.high


def test_the_cluster_permutation_test_agrees_with_scipy_on_participant_rates():
    rng = np.random.default_rng(8)
    clusters = [("with", list(rng.random(12) < 0.75)) for _ in range(15)]
    clusters += [("without", list(rng.random(12) < 0.45)) for _ in range(15)]
    difference, p_value = s.cluster_permutation_test(clusters, "with", "without", permutations=4000, seed=1)
    # Equal cluster sizes: the pooled difference is the difference of participant means,
    # which scipy's permutation test of the two groups of participant rates also permutes.
    rates = {g: [np.mean(a) for gg, a in clusters if gg == g] for g in ("with", "without")}
    reference = stats.permutation_test(
        (rates["with"], rates["without"]),
        lambda x, y: np.mean(x) - np.mean(y),
        n_resamples=4000,
        random_state=1,
    )
    assert difference.value == pytest.approx(reference.statistic)
    assert p_value == pytest.approx(reference.pvalue, abs=0.01)
    assert difference.low < difference.value < difference.high and difference.n == 360


def test_no_participants_in_a_group_means_no_test():
    difference, p_value = s.cluster_permutation_test([("with", [1, 0])], "with", "without")
    assert difference.value is None and p_value is None


def test_the_vectorised_bootstrap_of_a_mean_draws_exactly_what_the_general_one_draws():
    values = [0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0]
    assert s.bootstrap_mean(values, seed=9) == s.bootstrap(values, np.mean, seed=9)
    assert s.bootstrap_mean([]).why_not == "no observations"


def test_the_paired_permutation_test_agrees_with_scipy_on_participants_own_differences():
    rng = np.random.default_rng(12)
    pairs = [(list(rng.random(6) < 0.7), list(rng.random(6) < 0.5)) for _ in range(14)]
    difference, p_value = s.paired_permutation_test(pairs, permutations=4000, seed=2)
    first = [np.mean(a) for a, _ in pairs]
    second = [np.mean(b) for _, b in pairs]
    reference = stats.permutation_test(
        (first, second),
        lambda x, y: np.mean(np.asarray(x) - np.asarray(y)),
        permutation_type="samples",
        n_resamples=4000,
        random_state=2,
    )
    assert difference.value == pytest.approx(reference.statistic)
    assert p_value == pytest.approx(reference.pvalue, abs=0.02)
    assert difference.low <= difference.value <= difference.high and difference.n == 14
    assert s.paired_permutation_test([([1], [])])[0].why_not == "no participant answered under both levels"
