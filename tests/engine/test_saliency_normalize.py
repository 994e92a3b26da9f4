"""The normalisation policy: one scale per reference set, magnitude clipped into [0, 1]."""

import numpy as np
import pytest
import torch

from inference.engine.saliency import reference_scale, to_intensity


def test_reference_scale_is_the_99th_percentile_of_absolute_relevance_over_all_maps():
    maps = torch.linspace(-100, 100, 201).view(3, 67, 1)

    # |values| are 0..100, each twice except 0; numpy's percentile is the reference.
    assert reference_scale(maps) == pytest.approx(np.percentile(np.abs(maps.numpy()), 99))
    assert reference_scale(maps, q=100) == 100.0


def test_reference_scale_pools_maps_of_different_sizes_given_one_at_a_time():
    rng = np.random.default_rng(0)
    small, large = rng.normal(size=(7, 5)), rng.normal(size=(20, 30))

    pooled = np.concatenate([np.abs(small).ravel(), np.abs(large).ravel()])
    assert reference_scale([small, torch.from_numpy(large)], q=90) == pytest.approx(np.percentile(pooled, 90))


def test_a_map_weaker_than_the_reference_looks_weaker_instead_of_being_stretched():
    reference = torch.rand(4, 16, 16, generator=torch.Generator().manual_seed(0))
    scale = reference_scale(reference)

    weak = to_intensity(reference[:1] * 0.25, scale)
    strong = to_intensity(reference[:1], scale)

    assert weak.max() <= 0.26
    torch.testing.assert_close(weak, torch.clamp(reference[:1] * 0.25 / scale, 0, 1))
    assert (weak <= strong).all()


def test_intensity_ignores_sign_and_saturates_above_the_scale():
    maps = torch.tensor([[-4.0, -1.0, 0.0, 1.0, 2.0, 8.0]])

    intensity = to_intensity(maps, scale=2.0)

    assert intensity.tolist() == [[1.0, 0.5, 0.0, 0.5, 1.0, 1.0]]
    assert intensity.dtype == torch.float32


def test_all_zero_reference_gives_scale_zero_and_any_relevance_full_intensity():
    zeros = torch.zeros(2, 4, 4)
    scale = reference_scale(zeros)

    maps = torch.tensor([[0.0, 1e-9, -3.0]])

    assert scale == 0.0
    assert to_intensity(zeros, scale).eq(0).all()
    assert to_intensity(maps, scale).tolist() == [[0.0, 1.0, 1.0]]


def test_to_intensity_leaves_the_raw_maps_untouched():
    maps = torch.tensor([[-3.0, 5.0]])
    before = maps.clone()

    to_intensity(maps, 1.0)

    assert torch.equal(maps, before)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: reference_scale(torch.ones(2, 2), q=0), "q must be"),
        (lambda: reference_scale(torch.ones(2, 2), q=101), "q must be"),
        (lambda: reference_scale([]), "at least one pixel"),
        (lambda: reference_scale(torch.tensor([[1.0, float("nan")]])), "finite"),
        (lambda: to_intensity(torch.ones(2, 2), -1.0), "scale must be"),
        (lambda: to_intensity(torch.ones(2, 2), float("inf")), "scale must be"),
        (lambda: to_intensity(torch.tensor([float("inf")]), 1.0), "finite"),
    ],
)
def test_bad_inputs_are_refused_naming_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("q", [99.0, 100.0, 50.0, 0.5, 99.9])
def test_the_streamed_scale_equals_the_scale_of_all_maps_at_once(q):
    from inference.engine.saliency import streamed_reference_scale

    generator = torch.Generator().manual_seed(3)
    maps = [torch.randn(n, n, generator=generator) for n in (7, 16, 3, 16, 1)]
    maps.append(torch.full((5, 5), 2.0))  # ties at a large value
    assert streamed_reference_scale(lambda: iter(maps), q) == pytest.approx(
        reference_scale(maps, q), abs=1e-6
    )


def test_the_streamed_scale_refuses_what_the_scale_refuses():
    from inference.engine.saliency import streamed_reference_scale

    with pytest.raises(ValueError, match="at least one pixel"):
        streamed_reference_scale(lambda: iter([]))
    with pytest.raises(ValueError, match="finite"):
        streamed_reference_scale(lambda: iter([torch.tensor([[float("nan")]])]))
    with pytest.raises(ValueError, match="q must be"):
        streamed_reference_scale(lambda: iter([torch.ones(2, 2)]), q=0)
