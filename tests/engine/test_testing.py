import numpy as np
import torch

from inference.engine.testing import random_images, tiny_classifier


def test_tiny_classifiers_are_reproducible_from_their_seed():
    first, again, other = (
        tiny_classifier(seed=0),
        tiny_classifier(seed=0),
        tiny_classifier(seed=1),
    )
    x = torch.rand(2, 3, 32, 32)

    with torch.inference_mode():
        torch.testing.assert_close(first.model(x), again.model(x))
    assert first.weights_sha256 == again.weights_sha256 != other.weights_sha256


def test_tiny_classifier_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)

    tiny_classifier(seed=7)

    assert torch.equal(torch.rand(3), expected)


def test_tiny_classifier_has_the_requested_number_of_classes():
    classifier = tiny_classifier(num_classes=4)

    with torch.inference_mode():
        logits = classifier.model(torch.rand(1, 3, 32, 32))

    assert classifier.num_classes == 4 and logits.shape == (1, 4)
    assert classifier.source == "testing"
    assert classifier.preprocessing.crop == 32


def test_random_images_are_seeded_rgb_images_of_the_given_size():
    images = random_images(2, size=(7, 5), seed=3)

    assert [(image.mode, image.size) for image in images] == [("RGB", (7, 5))] * 2
    assert np.array_equal(np.asarray(images[0]), np.asarray(random_images(1, (7, 5), 3)[0]))
    assert not np.array_equal(np.asarray(images[0]), np.asarray(images[1]))
