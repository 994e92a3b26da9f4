import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inference.engine import load_bundled, load_rgb, stack_inputs
from inference.engine.classifier import Normalized
from inference.engine.features import final_linear, nearest, penultimate_features, squared_distances
from inference.engine.testing import random_images, tiny_classifier
from inference.samples import sample_files


@pytest.fixture(scope="module")
def classifier():
    return tiny_classifier(num_classes=10, seed=0)


@pytest.fixture(scope="module")
def images(classifier):
    return stack_inputs(random_images(11, seed=3), classifier.preprocessing)


def _logits(model, images):
    with torch.inference_mode():
        return model(images)


def test_features_are_the_input_of_the_final_linear_layer(classifier, images):
    features = penultimate_features(classifier.model, images)

    assert features.shape == (11, 16)
    assert features.dtype == torch.float32 and features.device.type == "cpu"
    torch.testing.assert_close(final_linear(classifier.model)(features), _logits(classifier.model, images))


def test_batch_size_does_not_change_the_features(classifier, images):
    one = penultimate_features(classifier.model, images, batch_size=1)
    four = penultimate_features(classifier.model, images, batch_size=4)

    torch.testing.assert_close(one, four, atol=1e-6, rtol=0)


def test_features_leave_images_and_training_flags_as_they_were():
    model = tiny_classifier(seed=1).model
    images = stack_inputs(random_images(3, seed=2), tiny_classifier(seed=1).preprocessing)
    before = images.clone()
    expected = penultimate_features(model, images)
    model.train()
    model.net[1].eval()
    running_mean = model.net[4].running_mean.clone()

    features = penultimate_features(model, images)

    assert model.training and model.net[4].training and not model.net[1].training
    assert torch.equal(model.net[4].running_mean, running_mean)
    assert torch.equal(images, before)
    torch.testing.assert_close(features, expected)
    assert not final_linear(model)._forward_hooks


def test_a_model_without_a_final_linear_layer_is_rejected(images):
    pooled = Normalized(
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), (0.5,) * 3, (0.5,) * 3
    )

    with pytest.raises(ValueError, match="no nn.Linear"):
        penultimate_features(pooled, images)


def test_a_traced_torchscript_model_is_rejected_with_a_clear_error(classifier, images):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(classifier.model, images[:2])

    with pytest.raises(ValueError, match="TorchScript"):
        penultimate_features(traced, images)


def test_a_model_that_transforms_the_last_linear_output_is_rejected(classifier, images):
    squashed = nn.Sequential(classifier.model, nn.Tanh())

    with pytest.raises(ValueError, match="not the final layer"):
        penultimate_features(squashed, images)
    assert not final_linear(squashed)._forward_hooks


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, True])
def test_a_non_positive_batch_size_is_rejected(classifier, images, batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        penultimate_features(classifier.model, images, batch_size=batch_size)


@pytest.mark.parametrize("shape", [(0, 3, 32, 32), (3, 32, 32)])
def test_an_empty_or_unbatched_input_is_rejected(classifier, shape):
    with pytest.raises(ValueError, match="images"):
        penultimate_features(classifier.model, torch.zeros(shape))


def test_squared_distances_match_cdist():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 5, generator=generator), torch.randn(4, 5, generator=generator)

    torch.testing.assert_close(squared_distances(a, b), torch.cdist(a.double(), b.double()) ** 2)
    torch.testing.assert_close(squared_distances(a), torch.cdist(a.double(), a.double()) ** 2)


def test_self_distances_are_exactly_symmetric_and_duplicates_exactly_equal():
    x = torch.randn(40, 33, generator=torch.Generator().manual_seed(1)) * 10
    x[30] = x[4]
    x[31] = x[4]

    square = squared_distances(x)

    assert torch.equal(square, square.T)
    assert torch.all(square.diagonal() == 0)
    assert square[4, 30] == square[30, 31] == 0
    assert torch.equal(square[:, 4], square[:, 30]) and torch.equal(square[:, 4], square[:, 31])


def test_nearest_returns_the_k_closest_bank_rows_nearest_first():
    generator = torch.Generator().manual_seed(2)
    query, bank = torch.randn(5, 8, generator=generator), torch.randn(30, 8, generator=generator)

    for metric, distances in [
        ("euclidean", torch.cdist(query, bank)),
        ("cosine", 1 - F.normalize(query, dim=1) @ F.normalize(bank, dim=1).T),
    ]:
        indices, found = nearest(query, bank, k=4, metric=metric)

        assert indices.shape == found.shape == (5, 4)
        assert indices.dtype == torch.int64 and found.dtype == torch.float32
        expected = distances.sort(dim=1).values[:, :4]
        torch.testing.assert_close(found, expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(distances.gather(1, indices), expected, atol=1e-5, rtol=0)


def test_nearest_orders_equal_distances_by_bank_index():
    generator = torch.Generator().manual_seed(3)
    bank = torch.randn(12, 6, generator=generator)
    bank[9] = bank[2]
    bank[5] = bank[2]
    query = bank[2:3] + 1e-3 * torch.randn(1, 6, generator=generator)

    for metric in ("cosine", "euclidean"):
        indices, distances = nearest(query, bank, k=4, metric=metric)

        assert indices[0, :3].tolist() == [2, 5, 9]
        assert distances[0, 0] == distances[0, 1] == distances[0, 2] < distances[0, 3]


def test_cosine_distance_to_a_zero_vector_is_one():
    bank = torch.tensor([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])

    indices, distances = nearest(torch.tensor([[2.0, 0.0]]), bank, k=3)

    assert indices.tolist() == [[1, 0, 2]]
    torch.testing.assert_close(distances, torch.tensor([[0.0, 1.0, 2.0]]))


@pytest.mark.parametrize("k", [0, 4, 1.0, True])
def test_nearest_rejects_k_outside_one_to_the_bank_size(k):
    with pytest.raises(ValueError, match="k must"):
        nearest(torch.zeros(1, 2), torch.ones(3, 2), k=k)


def test_nearest_rejects_an_unknown_metric_or_mismatched_shapes():
    with pytest.raises(ValueError, match="metric"):
        nearest(torch.zeros(1, 2), torch.ones(3, 2), k=1, metric="manhattan")
    with pytest.raises(ValueError, match="query and bank"):
        nearest(torch.zeros(1, 2), torch.ones(3, 4), k=1)


@pytest.fixture(scope="module")
def bundled():
    return load_bundled()


@pytest.fixture(scope="module")
def samples():
    """(name, path) of every third foolbox photo and of coffee: eight photos to look for neighbours among."""
    files = sample_files()
    chosen = files[:20:3] + [entry for entry in files if entry[2] == "skimage/coffee.png"]
    return [(name, path) for path, _, name in chosen]


@pytest.fixture(scope="module")
def sample_inputs(bundled, samples):
    return stack_inputs([load_rgb(path) for _, path in samples], bundled.preprocessing)


@pytest.fixture(scope="module")
def sample_features(bundled, sample_inputs):
    return penultimate_features(bundled.model, sample_inputs)


def test_bundled_model_features_are_1280_pooled_channels_that_give_its_logits(
    bundled, sample_inputs, sample_features
):
    head = final_linear(bundled.model)

    assert head is bundled.model.net.classifier
    assert sample_features.shape == (len(sample_inputs), 1280)
    torch.testing.assert_close(
        F.linear(sample_features, head.weight, head.bias),
        _logits(bundled.model, sample_inputs),
        atol=1e-4,
        rtol=1e-4,
    )


def test_a_mirrored_photo_is_nearest_to_its_original_among_the_samples(
    bundled, samples, sample_inputs, sample_features
):
    coffee = [name for name, _ in samples].index("skimage/coffee.png")
    mirrored = penultimate_features(bundled.model, sample_inputs[coffee : coffee + 1].flip(-1))

    for metric in ("cosine", "euclidean"):
        indices, _ = nearest(mirrored, sample_features, k=1, metric=metric)

        assert indices.item() == coffee
