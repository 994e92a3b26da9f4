"""The in-house FGSM / BIM / PGD functions (pixel-unit budgets), on a tiny seeded model.

Their agreement with ART is in test_attacks_art.py; the contract they keep
through `run_attack` in test_attack_contract.py.
"""

import pytest
import torch

from inference.engine.attacks import fgsm, pgd
from inference.engine.testing import tiny_classifier

from .test_attack_contract import colour_images


@pytest.fixture(scope="module")
def model():
    return tiny_classifier(num_classes=10, seed=2).model


@pytest.fixture(scope="module")
def images():
    return colour_images(8)


@pytest.fixture(scope="module")
def labels(model, images):
    with torch.no_grad():
        return model(images).argmax(dim=1)


def loss_of(model, images, labels):
    with torch.no_grad():
        return torch.nn.functional.cross_entropy(model(images), labels, reduction="none")


def test_fgsm_moves_every_pixel_by_eps_unless_clipped(model, images, labels):
    eps = 4 / 255

    adversarial = fgsm(model, images, labels, eps=eps)

    moved = (adversarial - images).abs()
    clipped = (adversarial == 0) | (adversarial == 1)
    assert torch.all(((moved - eps).abs() < 1e-6) | clipped)


def test_untargeted_pgd_raises_the_loss_of_the_label(model, images, labels):
    adversarial = pgd(model, images, labels, eps=8 / 255, step=2 / 255, steps=5)

    assert torch.all(loss_of(model, adversarial, labels) > loss_of(model, images, labels))


def test_targeted_pgd_lowers_the_loss_of_the_target(model, images, labels):
    targets = (labels + 1) % 10

    adversarial = pgd(model, images, targets, eps=8 / 255, step=2 / 255, steps=5, targeted=True)

    assert torch.all(loss_of(model, adversarial, targets) < loss_of(model, images, targets))


def test_l2_pgd_stays_in_the_l2_ball_and_the_unit_range(model, images, labels):
    adversarial = pgd(model, images, labels, eps=0.5, step=0.2, steps=5, norm="l2")

    assert torch.all((adversarial - images).flatten(1).norm(dim=1) <= 0.5 + 1e-5)
    assert adversarial.min() >= 0 and adversarial.max() <= 1


def test_per_image_budgets_bound_each_image_separately(model, images, labels):
    eps = torch.linspace(1, 8, images.shape[0]) / 255

    adversarial = pgd(model, images, labels, eps=eps, step=eps / 4, steps=5)

    reached = (adversarial - images).abs().flatten(1).amax(dim=1)
    assert torch.all(reached <= eps + 1e-6)
    assert torch.all(reached >= eps - 1e-6)  # the sign step always uses the whole budget here


def test_the_random_start_is_uniform_in_the_linf_ball(model, images, labels):
    generator = torch.Generator().manual_seed(0)
    grey = torch.full((4, 3, 32, 32), 0.5)

    # One step of size ~0 leaves the random start where it was drawn.
    start = pgd(model, grey, labels[:4], eps=0.25, step=1e-9, steps=1, random_start=True, generator=generator)

    offsets = (start - grey).flatten()
    assert offsets.abs().max() <= 0.25
    assert offsets.mean().abs() < 0.01 and abs(offsets.std().item() - 0.25 / 3**0.5) < 0.01


def test_the_random_start_does_not_depend_on_how_images_are_batched(model, images, labels):
    def run(batches):
        generator = torch.Generator().manual_seed(3)
        parts = [
            pgd(
                model,
                images[b],
                labels[b],
                eps=4 / 255,
                step=1 / 255,
                steps=2,
                random_start=True,
                generator=generator,
            )
            for b in batches
        ]
        return torch.cat(parts)

    whole = run([slice(0, 8)])
    halves = run([slice(0, 4), slice(4, 8)])

    torch.testing.assert_close(whole, halves, atol=1e-6, rtol=0)


def test_a_random_start_without_a_generator_is_refused(model, images, labels):
    with pytest.raises(ValueError, match="generator"):
        pgd(model, images, labels, eps=4 / 255, step=1 / 255, steps=2, random_start=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eps": 0.0, "step": 0.01, "steps": 2}, "positive"),
        ({"eps": 0.01, "step": -0.01, "steps": 2}, "positive"),
        ({"eps": torch.ones(3), "step": 0.01, "steps": 2}, "one per image"),
        ({"eps": 0.01, "step": 0.01, "steps": 0}, "steps"),
        ({"eps": 0.01, "step": 0.01, "steps": 2, "norm": "l1"}, "norm"),
    ],
)
def test_bad_budgets_steps_and_norms_are_refused(model, images, labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pgd(model, images, labels, **kwargs)


def test_pgd_returns_images_on_the_input_device_without_touching_them(model, images, labels):
    before = images.clone()

    adversarial = pgd(model, images, labels, eps=4 / 255, step=1 / 255, steps=2)

    assert adversarial.device == images.device and adversarial.dtype == torch.float32
    assert torch.equal(images, before)


def test_pgd_makes_one_forward_pass_per_step(model, images, labels):
    calls = []
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        pgd(model, images, labels, eps=4 / 255, step=1 / 255, steps=7)
    finally:
        handle.remove()

    assert len(calls) == 7
