"""The smallest targeted L-inf budget per image (the bias-finding mode)."""

import pytest
import torch

from inference.engine import load_bundled, load_rgb, stack_inputs
from inference.engine.attacks import minimal_targeted_linf, pgd, quantize
from inference.engine.testing import tiny_classifier

from .test_attack_contract import colour_images

NUM_CLASSES = 10
TARGET = 3
STEPS = 5


@pytest.fixture(scope="module")
def model():
    return tiny_classifier(num_classes=NUM_CLASSES, seed=2).model


@pytest.fixture(scope="module")
def images():
    return colour_images(12)


@pytest.fixture(scope="module")
def clean_predictions(model, images):
    with torch.no_grad():
        return model(images).argmax(dim=1)


@pytest.fixture(scope="module")
def found(model, images):
    return minimal_targeted_linf(model, images, TARGET, NUM_CLASSES, max_eps=16, steps=STEPS, batch_size=5)


def reaches_target(model, images, eps):
    """Whether targeted PGD at whole budgets `eps`, run as the search runs it, reaches the target."""
    budget = eps.to(torch.float32) / 255
    targets = torch.full((images.shape[0],), TARGET)
    adversarial = quantize(
        pgd(model, images, targets, eps=budget, step=2.5 * budget / STEPS, steps=STEPS, targeted=True)
    )
    with torch.no_grad():
        return model(adversarial).argmax(dim=1) == TARGET


def test_the_images_cover_all_three_outcomes(found):
    assert (found.eps == 0).any()  # already the target
    assert torch.isinf(found.eps).any()  # out of reach within max_eps
    assert ((found.eps > 0) & torch.isfinite(found.eps)).any()


def test_images_already_classified_as_the_target_need_no_budget(found, images, clean_predictions):
    already = clean_predictions == TARGET

    assert torch.equal(found.eps == 0, already)
    assert torch.equal(found.images[already], images[already])


def test_found_images_are_8_bit_within_their_budget_and_classified_as_the_target(model, found, images):
    reached = torch.isfinite(found.eps)

    assert torch.equal(quantize(found.images), found.images)
    linf = (found.images - images).abs().flatten(1).amax(dim=1) * 255
    assert torch.all(linf[reached] <= found.eps[reached] + 1e-3)
    with torch.no_grad():
        predictions = model(found.images).argmax(dim=1)
    assert torch.equal(predictions, found.predictions)
    assert torch.all(predictions[reached] == TARGET)


def test_one_grey_level_less_than_the_budget_found_does_not_reach_the_target(model, found, images):
    searched = (found.eps > 1) & torch.isfinite(found.eps)
    eps = found.eps[searched]

    assert searched.any()
    assert not reaches_target(model, images[searched], eps - 1).any()
    assert reaches_target(model, images[searched], eps).all()


def test_images_out_of_reach_get_infinity_and_stay_unchanged(model, found, images, clean_predictions):
    missed = torch.isinf(found.eps)

    assert not reaches_target(model, images[missed], torch.full((int(missed.sum()),), 16)).any()
    assert torch.equal(found.images[missed], images[missed])
    assert torch.equal(found.predictions[missed], clean_predictions[missed])


def test_the_search_is_deterministic(model, images, found):
    again = minimal_targeted_linf(model, images, TARGET, NUM_CLASSES, max_eps=16, steps=STEPS, batch_size=5)

    assert torch.equal(again.eps, found.eps)
    assert torch.equal(again.images, found.images)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"target_class": NUM_CLASSES}, "target_class"),
        ({"target_class": -1}, "target_class"),
        ({"max_eps": 0}, "max_eps"),
        ({"max_eps": 256}, "max_eps"),
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments_raise_a_value_error_naming_them(model, images, kwargs, named):
    arguments = {"target_class": TARGET, "max_eps": 8, "steps": 2, "batch_size": 4, **kwargs}
    target_class = arguments.pop("target_class")

    with pytest.raises(ValueError, match=named):
        minimal_targeted_linf(model, images, target_class, NUM_CLASSES, **arguments)


def test_a_cat_needs_a_smaller_budget_than_coffee_to_become_a_tabby(skimage_data):
    bundled = load_bundled()
    photos = stack_inputs(
        [load_rgb(skimage_data / name) for name in ("coffee.png", "chelsea.png")], bundled.preprocessing
    )
    tabby = 281

    found = minimal_targeted_linf(bundled.model, photos, tabby, bundled.num_classes, max_eps=8, steps=5)

    coffee, cat = found.eps.tolist()
    assert 0 < cat < coffee
    assert found.predictions[1] == tabby
