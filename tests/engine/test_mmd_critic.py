import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from sklearn.metrics.pairwise import rbf_kernel as sklearn_rbf_kernel

from inference.engine.prototypes import (
    MMDCritic,
    median_heuristic_gamma,
    mmd_critic,
    mmd_critic_per_class,
    rbf_kernel,
    select_criticisms,
    select_prototypes,
)

from .mmd_critic_reference import greedy_select_protos, select_criticism_regularized

# The reference takes log(0) = -inf for a duplicate of a chosen criticism, by design.
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")


def _mixture(n: int, d: int, seed: int, clusters: int = 4) -> torch.Tensor:
    """n points from a mixture of Gaussians of different spreads, so that some points are outliers."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(clusters, d, generator=generator) * 3
    assignment = torch.randint(clusters, (n,), generator=generator)
    spread = torch.rand(clusters, generator=generator)[assignment, None] + 0.3
    return centres[assignment] + spread * torch.randn(n, d, generator=generator)


def _rbf(x: torch.Tensor) -> torch.Tensor:
    return rbf_kernel(x, median_heuristic_gamma(x))


def _with_duplicates(n: int, d: int, seed: int) -> torch.Tensor:
    # Every point twice and one point five times: each score ties with its
    # twin's, so every pick exercises the tie-break.
    x = _mixture(n // 2, d, seed)
    return torch.cat([x, x, x[3:4].expand(3, d)])


def _lattice() -> torch.Tensor:
    # A symmetric 7 x 7 grid: mirror-image points have mathematically equal
    # scores, which only equal arithmetic breaks the same way.
    axis = torch.arange(7, dtype=torch.float64)
    return torch.cartesian_prod(axis, axis)


def _polynomial_kernel(x: torch.Tensor) -> torch.Tensor:
    # Not an RBF: a diagonal that differs per point exercises the |K[c, c]|
    # and the first-pick log |K[c, c]| terms of the reference.
    x = x.double()
    return (x @ x.T / x.shape[1] + 1) ** 2


KERNELS = {
    "mixture": lambda: _rbf(_mixture(240, 16, seed=0)),
    "mixture, other seed": lambda: _rbf(_mixture(180, 5, seed=1)),
    "high dimension": lambda: _rbf(_mixture(120, 300, seed=2)),
    "duplicates": lambda: _rbf(_with_duplicates(160, 8, seed=3)),
    "lattice": lambda: _rbf(_lattice()),
    "given gamma": lambda: rbf_kernel(_mixture(150, 10, seed=4), gamma=0.5),
    "polynomial kernel": lambda: _polynomial_kernel(_mixture(150, 10, seed=5)),
}


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize(("m", "c"), [(1, 1), (6, 4), (20, 12)])
@pytest.mark.parametrize("regularizer", ["logdet", None])
def test_selection_equals_the_reference_transcription(name, m, c, regularizer):
    kernel = KERNELS[name]()
    reference_prototypes = greedy_select_protos(kernel.numpy(), m)
    reference_criticisms = select_criticism_regularized(kernel.numpy(), reference_prototypes, c, regularizer)

    prototypes = select_prototypes(kernel, m)
    criticisms = select_criticisms(kernel, prototypes, c, regularizer)

    assert prototypes.tolist() == reference_prototypes.tolist()
    assert criticisms.tolist() == reference_criticisms.tolist()


def test_selection_equals_the_reference_on_a_larger_set_down_to_the_last_point():
    kernel = _rbf(_mixture(600, 32, seed=6))
    m, c = 60, 540
    reference_prototypes = greedy_select_protos(kernel.numpy(), m)

    prototypes = select_prototypes(kernel, m)
    criticisms = select_criticisms(kernel, prototypes, c, regularizer=None)

    assert prototypes.tolist() == reference_prototypes.tolist()
    assert (
        criticisms.tolist()
        == select_criticism_regularized(kernel.numpy(), prototypes.numpy(), c, None).tolist()
    )
    assert sorted(prototypes.tolist() + criticisms.tolist()) == list(range(600))


def test_long_log_det_selection_equals_the_reference():
    kernel = _rbf(_mixture(400, 12, seed=7))
    prototypes = select_prototypes(kernel, 15)

    criticisms = select_criticisms(kernel, prototypes, 60)

    assert (
        criticisms.tolist() == select_criticism_regularized(kernel.numpy(), prototypes.numpy(), 60).tolist()
    )


def _mmd_squared(kernel: np.ndarray, subset: list[int]) -> float:
    return kernel.mean() - 2 * kernel[:, subset].mean() + kernel[np.ix_(subset, subset)].mean()


def test_reference_prototypes_greedily_minimise_the_mmd_of_the_paper():
    # Checks the transcription against Kim et al.'s objective written out
    # directly: MMD^2 = mean K(X, X) - 2 mean K(X, S) + mean K(S, S).
    kernel = _rbf(_mixture(90, 6, seed=8)).numpy()

    prototypes = greedy_select_protos(kernel, 8).tolist()

    for size in range(8):
        chosen = prototypes[:size]
        candidates = [index for index in range(90) if index not in chosen]
        best = min(candidates, key=lambda index: _mmd_squared(kernel, [*chosen, index]))
        assert prototypes[size] == best


def test_reference_criticisms_maximise_witness_plus_log_det_gain():
    kernel = _rbf(_mixture(90, 6, seed=9)).numpy()
    prototypes = greedy_select_protos(kernel, 5)
    witness = np.abs(kernel.mean(axis=0) - kernel[prototypes].mean(axis=0))

    criticisms = select_criticism_regularized(kernel, prototypes, 6).tolist()

    for size in range(6):
        chosen = criticisms[:size]
        candidates = [index for index in range(90) if index not in chosen and index not in prototypes]
        before = np.linalg.slogdet(kernel[np.ix_(chosen, chosen)])[1] if chosen else 0.0

        def score(index: int, chosen=chosen, before=before) -> float:
            subset = [*chosen, index]
            return witness[index] + np.linalg.slogdet(kernel[np.ix_(subset, subset)])[1] - before

        assert criticisms[size] == max(candidates, key=score)


def test_prototypes_start_at_the_centre_of_the_biggest_cluster_then_cover_the_other():
    points = torch.tensor([[-0.1], [0.0], [0.1], [5.0], [5.1]])

    prototypes = select_prototypes(rbf_kernel(points, gamma=1.0), 2)

    assert prototypes.tolist() == [1, 3]


def test_log_det_term_keeps_a_duplicated_outlier_from_being_criticised_twice():
    inliers = torch.linspace(-3, 3, 9)[:, None]
    points = torch.cat([inliers, torch.tensor([[8.0], [8.0], [-6.0]])])
    kernel = rbf_kernel(points, gamma=1.0)
    prototypes = select_prototypes(kernel, 3)
    assert max(prototypes.tolist()) < 9

    plain = select_criticisms(kernel, prototypes, 2, regularizer=None)
    diverse = select_criticisms(kernel, prototypes, 2, regularizer="logdet")

    assert plain.tolist() == [9, 10]
    assert diverse.tolist() == [9, 11]


def test_criticisms_of_identical_points_continue_where_the_reference_raises():
    kernel = rbf_kernel(torch.ones(4, 3), gamma=1.0)
    prototypes = select_prototypes(kernel, 1)

    criticisms = select_criticisms(kernel, prototypes, 3)

    assert prototypes.tolist() == [0] and criticisms.tolist() == [1, 2, 3]
    with pytest.raises(np.linalg.LinAlgError):
        select_criticism_regularized(kernel.numpy(), prototypes.numpy(), 3)


def test_selection_does_not_modify_the_kernel_or_prototypes():
    kernel = _rbf(_mixture(50, 4, seed=10))
    before = kernel.clone()
    prototypes = select_prototypes(kernel, 5)
    kept = prototypes.clone()

    select_criticisms(kernel, prototypes, 5)

    assert torch.equal(kernel, before) and torch.equal(prototypes, kept)


def test_a_float32_kernel_selects_like_its_float64_copy():
    kernel = rbf_kernel(_mixture(80, 6, seed=11), gamma=0.05).float()

    prototypes = select_prototypes(kernel, 7)

    assert prototypes.tolist() == greedy_select_protos(kernel.double().numpy(), 7).tolist()


def test_rbf_kernel_is_sklearns_and_exactly_symmetric_with_a_unit_diagonal():
    x = _mixture(60, 7, seed=12)
    x[40] = x[2]

    kernel = rbf_kernel(x, gamma=0.03)

    assert kernel.dtype == torch.float64
    np.testing.assert_allclose(kernel.numpy(), sklearn_rbf_kernel(x.double().numpy(), gamma=0.03), atol=1e-12)
    assert torch.equal(kernel, kernel.T)
    assert torch.all(kernel.diagonal() == 1)
    assert torch.equal(kernel[:, 2], kernel[:, 40])


@pytest.mark.parametrize("n", [2, 9, 40])
def test_median_heuristic_is_one_over_twice_the_squared_median_pairwise_distance(n):
    x = _mixture(n, 5, seed=n)

    expected = 1 / (2 * np.median(pdist(x.double().numpy())) ** 2)

    assert median_heuristic_gamma(x) == pytest.approx(expected, rel=1e-12)


def test_median_heuristic_skips_zero_distances_only_when_they_are_the_median():
    half_identical = torch.tensor([[0.0, 0.0]] * 3 + [[3.0, 4.0]])
    mostly_identical = torch.tensor([[0.0, 0.0]] * 4 + [[3.0, 4.0]])

    assert median_heuristic_gamma(half_identical) == pytest.approx(1 / (2 * 2.5**2))
    assert median_heuristic_gamma(mostly_identical) == pytest.approx(1 / (2 * 5**2))
    assert median_heuristic_gamma(torch.ones(3, 2)) == 1.0
    assert median_heuristic_gamma(torch.ones(1, 2)) == 1.0


@pytest.mark.parametrize("gamma", [0, -1.0, float("inf"), float("nan"), True])
def test_gamma_must_be_positive_and_finite(gamma):
    with pytest.raises(ValueError, match="gamma"):
        rbf_kernel(torch.zeros(3, 2), gamma)


def test_mmd_critic_uses_the_median_heuristic_and_selects_like_the_parts():
    features = _mixture(100, 12, seed=13).float()
    gamma = median_heuristic_gamma(features)
    kernel = rbf_kernel(features, gamma)

    result = mmd_critic(features, m=5, c=3)

    assert isinstance(result, MMDCritic)
    assert result.gamma == gamma
    assert torch.equal(result.prototypes, select_prototypes(kernel, 5))
    assert torch.equal(result.criticisms, select_criticisms(kernel, result.prototypes, 3))
    assert result.prototypes.dtype == result.criticisms.dtype == torch.int64


def test_mmd_critic_takes_a_given_gamma():
    features = _mixture(30, 3, seed=14)

    result = mmd_critic(features, m=2, c=2, gamma=0.25)

    assert result.gamma == 0.25
    assert torch.equal(result.prototypes, select_prototypes(rbf_kernel(features, 0.25), 2))


def test_mmd_critic_on_a_set_smaller_than_m_plus_c_returns_what_there_is():
    features = _mixture(5, 3, seed=15)

    small = mmd_critic(features, m=3, c=4)
    single = mmd_critic(features[:1], m=2, c=1)

    assert len(small.prototypes) == 3 and len(small.criticisms) == 2
    assert sorted(small.prototypes.tolist() + small.criticisms.tolist()) == list(range(5))
    assert single.prototypes.tolist() == [0] and single.criticisms.tolist() == []


def test_per_class_selection_indexes_the_full_feature_matrix():
    features = torch.cat([_mixture(30, 4, seed=16), _mixture(20, 4, seed=17) + 10])
    labels = torch.tensor([7] * 30 + [2] * 20)[torch.randperm(50, generator=torch.Generator().manual_seed(0))]
    features = features[torch.randperm(50, generator=torch.Generator().manual_seed(0))]

    results = mmd_critic_per_class(features, labels, m=3, c=2)

    assert list(results) == [2, 7]
    for label, result in results.items():
        members = (labels == label).nonzero().squeeze(1)
        alone = mmd_critic(features[members], m=3, c=2)
        assert result.gamma == alone.gamma
        assert torch.equal(result.prototypes, members[alone.prototypes])
        assert torch.equal(result.criticisms, members[alone.criticisms])
        assert torch.all(labels[torch.cat([result.prototypes, result.criticisms])] == label)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda k: select_prototypes(k, 7), "m must be at most 6"),
        (lambda k: select_prototypes(k, -1), "m must be a non-negative"),
        (lambda k: select_prototypes(k[:, :5], 1), "square"),
        (lambda k: select_prototypes(k[:0, :0], 0), "non-empty"),
        (lambda k: select_prototypes(k > 0, 1), "float"),
        (lambda k: select_prototypes(k * float("nan"), 1), "finite"),
        (lambda k: select_criticisms(k, torch.tensor([0, 1]), 5), "c must be at most 4"),
        (lambda k: select_criticisms(k, torch.tensor([0, 0]), 1), "distinct"),
        (lambda k: select_criticisms(k, torch.tensor([6]), 1), "distinct"),
        (lambda k: select_criticisms(k, torch.tensor([], dtype=torch.int64), 1), "at least one prototype"),
        (lambda k: select_criticisms(k, torch.tensor([0]), 1, regularizer="iterative"), "regularizer"),
    ],
)
def test_invalid_selection_arguments_are_rejected(call, message):
    kernel = rbf_kernel(_mixture(6, 2, seed=18), gamma=1.0)

    with pytest.raises(ValueError, match=message):
        call(kernel)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"m": 0, "c": 1}, "at least one prototype"),
        ({"m": -1, "c": 0}, "m must be a non-negative"),
        ({"m": 1, "c": 1.5}, "c must be a non-negative"),
        ({"m": 1, "c": 1, "regularizer": "iterative"}, "regularizer"),
    ],
)
def test_invalid_mmd_critic_arguments_are_rejected(arguments, message):
    with pytest.raises(ValueError, match=message):
        mmd_critic(_mixture(6, 2, seed=20), **arguments)


def test_mmd_critic_rejects_features_that_are_not_a_non_empty_matrix():
    with pytest.raises(ValueError, match="features"):
        mmd_critic(torch.zeros(0, 3), m=1, c=0)
    with pytest.raises(ValueError, match="features"):
        mmd_critic(torch.zeros(3), m=1, c=0)


def test_zero_criticisms_need_no_prototypes():
    kernel = rbf_kernel(_mixture(6, 2, seed=19), gamma=1.0)

    assert select_criticisms(kernel, torch.tensor([], dtype=torch.int64), 0).tolist() == []
