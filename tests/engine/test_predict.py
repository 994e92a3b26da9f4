import pytest
import torch

from inference.engine import stack_inputs, topk
from inference.engine.testing import random_images, tiny_classifier


@pytest.fixture(scope="module")
def classifier():
    return tiny_classifier(num_classes=10, seed=0)


@pytest.fixture(scope="module")
def images(classifier):
    return stack_inputs(random_images(11, seed=5), classifier.preprocessing)


def test_topk_returns_k_probabilities_and_class_indices_per_image(classifier, images):
    probs, indices = topk(classifier.model, images, k=3)

    assert probs.shape == indices.shape == (11, 3)
    assert probs.dtype == torch.float32 and indices.dtype == torch.int64
    assert probs.device.type == indices.device.type == "cpu"
    assert indices.min() >= 0 and indices.max() < 10


def test_topk_probabilities_are_the_largest_softmax_values_in_descending_order(classifier, images):
    probs, indices = topk(classifier.model, images, k=4)

    with torch.inference_mode():
        full = classifier.model(images).softmax(dim=1)
    assert torch.all(probs[:, :-1] >= probs[:, 1:])
    assert torch.all(probs.sum(dim=1) <= 1 + 1e-6)
    torch.testing.assert_close(probs, full.gather(1, indices))
    torch.testing.assert_close(probs[:, 0], full.max(dim=1).values)


def test_top_10_of_10_classes_sums_to_one(classifier, images):
    probs, indices = topk(classifier.model, images, k=10)

    torch.testing.assert_close(probs.sum(dim=1), torch.ones(11))
    assert torch.equal(indices.sort(dim=1).values, torch.arange(10).expand(11, 10))


def test_batch_size_does_not_change_the_results(classifier, images):
    probs_1, indices_1 = topk(classifier.model, images, k=5, batch_size=1)
    probs_8, indices_8 = topk(classifier.model, images, k=5, batch_size=8)

    torch.testing.assert_close(probs_1, probs_8, atol=1e-5, rtol=0)
    assert torch.equal(indices_1, indices_8)


def test_topk_does_not_mutate_the_images(classifier, images):
    before = images.clone()

    topk(classifier.model, images, k=2, batch_size=4)

    assert torch.equal(images, before)
    assert images.is_contiguous()


def test_topk_runs_in_eval_mode_and_restores_the_training_flags():
    model = tiny_classifier(seed=1).model
    images = stack_inputs(random_images(4, seed=2), tiny_classifier(seed=1).preprocessing)
    expected = topk(model, images, k=3)
    model.train()
    model.net[1].eval()
    running_mean = model.net[1].running_mean.clone()

    probs, indices = topk(model, images, k=3)

    assert model.training and model.net[4].training and not model.net[1].training
    assert torch.equal(model.net[1].running_mean, running_mean)
    torch.testing.assert_close(probs, expected[0])
    assert torch.equal(indices, expected[1])


@pytest.mark.parametrize("k", [0, -1, 11, 2.0, True])
def test_k_outside_one_to_the_number_of_classes_is_rejected(classifier, images, k):
    with pytest.raises(ValueError, match="k must"):
        topk(classifier.model, images, k=k)


@pytest.mark.parametrize("batch_size", [0, -3, 1.5])
def test_a_non_positive_batch_size_is_rejected(classifier, images, batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        topk(classifier.model, images, k=1, batch_size=batch_size)


@pytest.mark.parametrize("shape", [(0, 3, 32, 32), (3, 32, 32)])
def test_an_empty_or_unbatched_input_is_rejected(classifier, shape):
    with pytest.raises(ValueError, match="images"):
        topk(classifier.model, torch.zeros(shape), k=1)
