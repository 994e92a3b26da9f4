"""The contract every attack keeps through `run_attack`, checked on a tiny seeded model.

8-bit output in [0, 1], success and distances measured on that output,
inputs untouched, model flags restored, determinism under a seed.
"""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from inference.engine.attacks import AttackParams, from_uint8, run_attack, to_uint8
from inference.engine.preprocessing import load_rgb
from inference.engine.testing import tiny_classifier

NUM_CLASSES = 10

# Small settings so that each runs in well under a second on the tiny model.
CONTRACT_PARAMS = {
    "fgsm": AttackParams("fgsm", eps=8),
    "bim": AttackParams("bim", eps=8, steps=5),
    "pgd_linf": AttackParams("pgd", eps=8, steps=5, random_start=True, seed=7),
    "pgd_l2": AttackParams("pgd", norm="l2", eps=128, steps=5, random_start=True, seed=7),
    "pgd_given": AttackParams("pgd", eps=16, steps=5, targeting="given", target_class=3),
    "pgd_least_likely": AttackParams("pgd", eps=16, steps=5, targeting="least_likely"),
    "deepfool": AttackParams("deepfool", steps=20, candidates=4),
    "cw": AttackParams("cw", steps=30, binary_search_steps=4, initial_const=0.1),
}


def colour_images(count: int = 6, seed: int = 0) -> torch.Tensor:
    """8-bit [count, 3, 32, 32] images: a seeded colour per image plus faint noise.

    Plain noise images all get the same class from an untrained tiny model;
    different colours give `tiny_classifier(seed=2)` several classes, which
    batch bugs need to show.
    """
    generator = torch.Generator().manual_seed(seed)
    colours = torch.rand(count, 3, 1, 1, generator=generator)
    noise = 0.1 * torch.rand(count, 3, 32, 32, generator=generator)
    return from_uint8(to_uint8(colours + noise))


@pytest.fixture(scope="module")
def classifier():
    return tiny_classifier(num_classes=NUM_CLASSES, seed=2)


@pytest.fixture(scope="module")
def images():
    return colour_images()


@pytest.fixture(scope="module")
def labels(classifier, images):
    with torch.no_grad():
        return classifier.model(images).argmax(dim=1)


@pytest.fixture(scope="module")
def outcomes(classifier, images, labels):
    """Each attack's (params, result, copy of the inputs), computed once on first use."""
    computed = {}

    def get(name):
        if name not in computed:
            params = CONTRACT_PARAMS[name]
            before = images.clone()
            result = run_attack(classifier.model, images, labels, params, NUM_CLASSES, batch_size=4)
            computed[name] = (params, result, before)
        return computed[name]

    return get


@pytest.fixture(params=sorted(CONTRACT_PARAMS))
def outcome(request, outcomes):
    return outcomes(request.param)


BUDGETED = sorted(name for name, params in CONTRACT_PARAMS.items() if params.eps is not None)
# The untrained tiny model cannot be pushed to its least likely class; that case is
# checked on the real model in test_attacks_art.py.
FOOLING = sorted(name for name, params in CONTRACT_PARAMS.items() if params.targeting != "least_likely")


def test_the_colour_images_fall_into_several_classes(labels):
    assert len(set(labels.tolist())) >= 3


def test_result_images_are_8_bit_values_in_the_unit_range_with_the_input_shape(outcome, images):
    _, result, _ = outcome

    assert result.images.shape == images.shape and result.images.dtype == torch.float32
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert torch.equal(from_uint8(to_uint8(result.images)), result.images)


def test_attack_leaves_the_input_images_unchanged(outcome, images):
    _, _, before = outcome

    assert torch.equal(images, before)


def test_predictions_and_success_are_those_of_the_8_bit_images(outcome, classifier, labels):
    params, result, _ = outcome

    with torch.no_grad():
        predictions = classifier.model(result.images).argmax(dim=1)
    assert torch.equal(result.predictions, predictions)
    expected = predictions == result.targets if params.targeted else predictions != labels
    assert torch.equal(result.success, expected)


def test_distances_are_measured_between_the_8_bit_image_and_the_original(outcome, images):
    _, result, _ = outcome

    difference = (result.images - images).flatten(1)
    torch.testing.assert_close(result.linf, difference.abs().amax(dim=1) * 255, atol=1e-3, rtol=0)
    torch.testing.assert_close(result.l2, difference.norm(dim=1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", BUDGETED)
def test_budgeted_attacks_stay_within_their_budget(outcomes, name):
    params, result, _ = outcomes(name)

    # Quantising an 8-bit original plus a perturbation within a whole number
    # of grey levels cannot leave the budget.
    if params.norm == "linf":
        assert result.linf.max() <= params.eps
    else:
        # Rounding each pixel moves the L2 norm by at most sqrt(pixels) / 510.
        assert result.l2.max() <= params.eps / 255 + np.sqrt(3 * 32 * 32) / 510


@pytest.mark.parametrize("name", FOOLING)
def test_the_attack_fools_the_tiny_model_on_some_images(outcomes, name):
    _, result, _ = outcomes(name)

    assert result.success.any()


def test_running_again_with_the_same_parameters_gives_identical_images(outcome, classifier, images, labels):
    params, result, _ = outcome

    again = run_attack(classifier.model, images, labels, params, NUM_CLASSES, batch_size=4)

    assert torch.equal(again.images, result.images)


def test_record_holds_the_stored_facts_as_plain_json_values(outcome):
    params, result, _ = outcome

    record = result.record(0)

    assert record["params"] == params.to_dict()
    assert record["prediction"] == int(result.predictions[0])
    assert record["success"] is bool(result.success[0])
    assert isinstance(record["linf"], float) and isinstance(record["l2"], float)
    assert record["target"] == (None if result.targets is None else int(result.targets[0]))


def test_an_image_reloaded_from_its_png_is_classified_as_reported(outcome, classifier):
    _, result, _ = outcome

    buffer = io.BytesIO()
    Image.fromarray(to_uint8(result.images[0]).permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    buffer.seek(0)
    pixels = torch.from_numpy(np.array(load_rgb(buffer))).permute(2, 0, 1)
    reloaded = from_uint8(pixels).unsqueeze(0)

    assert torch.equal(reloaded, result.images[:1])
    with torch.no_grad():
        assert int(classifier.model(reloaded).argmax()) == int(result.predictions[0])


def test_model_training_and_requires_grad_flags_are_restored(classifier, images, labels):
    model = classifier.model
    model.train()
    model.net[1].eval()  # a deliberately mixed state must come back as it was
    model.net[0].weight.requires_grad_(True)
    try:
        for params in CONTRACT_PARAMS.values():
            run_attack(model, images[:2], labels[:2], params, NUM_CLASSES)

            assert model.training and model.net[0].training and not model.net[1].training
            assert model.net[0].weight.requires_grad and not model.net[0].bias.requires_grad
    finally:
        model.eval().requires_grad_(False)


def test_the_random_start_follows_the_seed(classifier, images, labels):
    params = CONTRACT_PARAMS["pgd_linf"]
    other_seed = AttackParams.from_dict({**params.to_dict(), "seed": 8})

    first = run_attack(classifier.model, images, labels, params, NUM_CLASSES).images
    same = run_attack(classifier.model, images, labels, params, NUM_CLASSES).images
    other = run_attack(classifier.model, images, labels, other_seed, NUM_CLASSES).images

    assert torch.equal(first, same)
    assert not torch.equal(first, other)


def test_a_target_class_the_model_does_not_have_is_refused(classifier, images, labels):
    params = AttackParams("pgd", eps=4, targeting="given", target_class=NUM_CLASSES)

    with pytest.raises(ValueError, match="target_class"):
        run_attack(classifier.model, images, labels, params, NUM_CLASSES)


@pytest.mark.parametrize(
    "bad_labels",
    [
        torch.tensor([0, 1, 2, 3, 4, NUM_CLASSES]),
        torch.tensor([0, 1, 2, 3, 4, -1]),
        torch.zeros(5, dtype=torch.int64),
    ],
    ids=["too_large", "negative", "wrong_count"],
)
def test_labels_outside_the_model_classes_or_of_the_wrong_shape_are_refused(classifier, images, bad_labels):
    with pytest.raises(ValueError, match="labels"):
        run_attack(classifier.model, images, bad_labels, CONTRACT_PARAMS["fgsm"], NUM_CLASSES)


def test_least_likely_targets_are_the_argmin_of_the_clean_logits(classifier, images, labels):
    params = CONTRACT_PARAMS["pgd_least_likely"]

    result = run_attack(classifier.model, images, labels, params, NUM_CLASSES)

    with torch.no_grad():
        assert torch.equal(result.targets, classifier.model(images).argmin(dim=1))


@pytest.mark.parametrize("name", ["pgd_linf", "deepfool", "cw"])
def test_images_and_labels_made_in_inference_mode_are_accepted(classifier, images, name):
    # topk hands out its classes as inference tensors; the Django side passes them on.
    with torch.inference_mode():
        frozen_images = images[:2].clone()
        frozen_labels = classifier.model(frozen_images).argmax(dim=1)

    result = run_attack(classifier.model, frozen_images, frozen_labels, CONTRACT_PARAMS[name], NUM_CLASSES)

    assert result.images.shape == frozen_images.shape
