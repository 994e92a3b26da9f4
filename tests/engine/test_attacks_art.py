"""In-house FGSM / BIM / PGD against ART's, and the library-backed DeepFool and C&W on mixed batches.

Tolerances of the ART cross-checks: both sides do the same arithmetic on the
same torch model (ART's PyTorchClassifier runs it), so the float images agree
to float32 rounding: the L2 normaliser's summation order, and, on the real
model, convolution kernels picked for channels_last versus contiguous
inputs (gradients off by ~1e-6 relative). Such differences can tip a pixel
that sits on a rounding boundary by one grey level after quantisation, so
the 8-bit images may differ in a handful of pixels (at most 0.1 %), by one
level each; success must be the same image by image, and distances agree
to one grey level (L-inf) and 0.1 % (L2).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from inference.engine import load_bundled, load_rgb, stack_inputs
from inference.engine.attacks import (
    AttackParams,
    carlini_wagner,
    deepfool,
    l2_distance,
    linf_distance,
    quantize,
    run_attack,
)
from inference.engine.testing import tiny_classifier

from .test_attack_contract import colour_images

NUM_CLASSES = 10


def art_classifier(model, num_classes, image_shape):
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=image_shape,
        nb_classes=num_classes,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )


def art_attack(classifier, params: AttackParams, batch_size: int):
    """ART's counterpart of `params` (budgets converted from 1/255 units)."""
    from art.attacks.evasion import BasicIterativeMethod, FastGradientMethod, ProjectedGradientDescent

    norm = np.inf if params.norm == "linf" else 2
    eps = params.eps / 255
    common = {"targeted": params.targeted, "batch_size": batch_size}
    if params.attack == "fgsm":
        return FastGradientMethod(classifier, norm=norm, eps=eps, **common)
    if params.attack == "bim":
        return BasicIterativeMethod(
            classifier, eps=eps, eps_step=params.step / 255, max_iter=params.steps, verbose=False, **common
        )
    return ProjectedGradientDescent(
        classifier,
        norm=norm,
        eps=eps,
        eps_step=params.step / 255,
        max_iter=params.steps,
        num_random_init=0,
        verbose=False,
        **common,
    )


def assert_same_as_art(model, images, labels, params, num_classes):
    """Run `params` in-house (through run_attack) and in ART; compare as the module docstring says."""
    ours = run_attack(model, images, labels, params, num_classes, batch_size=images.shape[0])
    aim = ours.targets if params.targeted else labels
    classifier = art_classifier(model, num_classes, tuple(images.shape[1:]))
    raw = art_attack(classifier, params, images.shape[0]).generate(images.numpy(), aim.numpy())
    theirs = quantize(torch.from_numpy(raw))
    with torch.no_grad():
        predictions = model(theirs).argmax(dim=1)
    success = predictions == aim if params.targeted else predictions != labels

    assert torch.equal(ours.success, success)
    differing = ours.images != theirs
    assert differing.float().mean() <= 1e-3
    assert (ours.images - theirs).abs().max() <= 1 / 255 + 1e-6
    torch.testing.assert_close(ours.linf, linf_distance(theirs, images), atol=1.0, rtol=0)
    torch.testing.assert_close(ours.l2, l2_distance(theirs, images), atol=1e-6, rtol=1e-3)
    return ours


@pytest.fixture(scope="module")
def tiny():
    return tiny_classifier(num_classes=NUM_CLASSES, seed=2).model


@pytest.fixture(scope="module")
def images():
    return colour_images(12)


@pytest.fixture(scope="module")
def labels(tiny, images):
    with torch.no_grad():
        return tiny(images).argmax(dim=1)


CROSS_CHECKS = {
    "fgsm_linf": AttackParams("fgsm", eps=16),
    "fgsm_l2_targeted": AttackParams("fgsm", norm="l2", eps=510, targeting="given", target_class=3),
    "bim_linf": AttackParams("bim", eps=8, step=2, steps=10),
    "bim_linf_targeted": AttackParams("bim", eps=16, step=4, steps=10, targeting="given", target_class=3),
    "pgd_linf": AttackParams("pgd", eps=8, steps=10),
    "pgd_linf_targeted": AttackParams("pgd", eps=8, steps=10, targeting="given", target_class=5),
    "pgd_l2": AttackParams("pgd", norm="l2", eps=128, steps=10),
    "pgd_l2_targeted": AttackParams("pgd", norm="l2", eps=255, steps=10, targeting="given", target_class=3),
}


@pytest.mark.parametrize("name", sorted(CROSS_CHECKS))
def test_in_house_attack_matches_art_on_the_tiny_model(tiny, images, labels, name):
    result = assert_same_as_art(tiny, images, labels, CROSS_CHECKS[name], NUM_CLASSES)

    # Each case fools some images and not others, so equal success is informative.
    assert result.success.any() and not result.success.all()


def test_deepfool_matches_arts_all_class_deepfool_on_a_batch_of_different_classes(tiny, images, labels):
    from art.attacks.evasion import DeepFool

    images, labels = images[:6], labels[:6]
    assert len(set(labels.tolist())) >= 3
    ours = deepfool(tiny, images, labels, candidates=4)
    # ART's DeepFool is correct only with a gradient for every class.
    classifier = art_classifier(tiny, NUM_CLASSES, (3, 32, 32))
    theirs = torch.from_numpy(
        DeepFool(classifier, nb_grads=NUM_CLASSES, epsilon=0.02, verbose=False).generate(images.numpy())
    )

    with torch.no_grad():
        assert torch.all(tiny(ours).argmax(dim=1) != labels)
        assert torch.all(tiny(theirs).argmax(dim=1) != labels)
    # ART applies the 2 % overshoot once at the end, Foolbox at every step.
    torch.testing.assert_close(l2_distance(ours, images), l2_distance(theirs, images), rtol=0.05, atol=1e-4)


def test_deepfool_gives_each_image_the_same_result_in_a_batch_as_alone(tiny, images, labels):
    batch = deepfool(tiny, images[:6], labels[:6], candidates=4)
    alone = torch.cat([deepfool(tiny, images[i : i + 1], labels[i : i + 1], candidates=4) for i in range(6)])

    torch.testing.assert_close(batch, alone, atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def cw_batch(tiny, images, labels):
    return carlini_wagner(tiny, images[:6], labels[:6], steps=50, binary_search_steps=5, initial_const=0.1)


def test_carlini_wagner_fools_every_image_with_no_more_than_deepfools_perturbation(
    tiny, images, labels, cw_batch
):
    fooled = deepfool(tiny, images[:6], labels[:6], candidates=4)

    with torch.no_grad():
        assert torch.all(tiny(cw_batch).argmax(dim=1) != labels[:6])
    assert torch.all(l2_distance(cw_batch, images[:6]) <= 1.02 * l2_distance(fooled, images[:6]))


def test_carlini_wagner_in_a_batch_is_close_to_image_by_image(tiny, images, labels, cw_batch):
    alone = torch.cat(
        [
            carlini_wagner(
                tiny, images[i : i + 1], labels[i : i + 1], steps=50, binary_search_steps=5, initial_const=0.1
            )
            for i in range(6)
        ]
    )

    # Only Adam's early stop looks at the whole batch's loss; the rest is per image.
    torch.testing.assert_close(
        l2_distance(cw_batch, images[:6]), l2_distance(alone, images[:6]), rtol=0.05, atol=1e-3
    )


def test_carlini_wagner_finds_perturbations_no_larger_than_arts(tiny, images, labels, cw_batch):
    from art.attacks.evasion import CarliniL2Method

    classifier = art_classifier(tiny, NUM_CLASSES, (3, 32, 32))
    # A starting constant high enough for ART to fool all six within the same budget of steps.
    attack = CarliniL2Method(
        classifier, max_iter=20, binary_search_steps=5, initial_const=10.0, batch_size=6, verbose=False
    )
    theirs = torch.from_numpy(attack.generate(images[:6].numpy(), labels[:6].numpy()))

    with torch.no_grad():
        assert torch.all(tiny(theirs).argmax(dim=1) != labels[:6])
    ours_l2, theirs_l2 = l2_distance(cw_batch, images[:6]), l2_distance(theirs, images[:6])
    # Seen here: ART's broken search for c costs up to 40 % more on some images.
    assert torch.all(ours_l2 <= 1.05 * theirs_l2)
    assert ours_l2.sum() <= 0.9 * theirs_l2.sum()


def test_targeted_carlini_wagner_reaches_the_target(tiny, images, labels):
    # Classes 3 and 6 are among those the tiny model predicts, so they can be reached.
    targets = torch.where(labels[:4] == 3, 6, 3)

    adversarial = carlini_wagner(
        tiny, images[:4], targets, targeted=True, steps=50, binary_search_steps=5, initial_const=0.1
    )

    with torch.no_grad():
        assert torch.equal(tiny(adversarial).argmax(dim=1), targets)


def test_deepfool_runs_where_no_git_executable_is_installed(tmp_path):
    # Foolbox imports GitPython, which refuses to load without git unless told otherwise.
    script = (
        "import torch\n"
        "from inference.engine.attacks import deepfool\n"
        "from inference.engine.testing import tiny_classifier\n"
        "model = tiny_classifier(seed=2).model\n"
        "images = torch.full((1, 3, 32, 32), 0.5)\n"
        "deepfool(model, images, model(images).argmax(dim=1), steps=2, candidates=3)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "GIT_PYTHON_REFRESH"}
    env["PATH"] = str(tmp_path)  # an empty directory: no git
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])  # the repository root

    completed = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )

    assert completed.returncode == 0, completed.stderr[-2000:]


# The real bundled model on two real photos, loaded once for this module.


@pytest.fixture(scope="module")
def bundled():
    return load_bundled()


@pytest.fixture(scope="module")
def photos(bundled, skimage_data):
    return stack_inputs(
        [load_rgb(skimage_data / name) for name in ("coffee.png", "chelsea.png")], bundled.preprocessing
    )


@pytest.fixture(scope="module")
def photo_labels(bundled, photos):
    with torch.no_grad():
        return bundled.model(photos).argmax(dim=1)


@pytest.mark.parametrize(
    "params",
    [
        AttackParams("pgd", eps=1, steps=3),
        AttackParams("pgd", norm="l2", eps=64, steps=3, targeting="least_likely"),
    ],
    ids=["linf", "l2_least_likely"],
)
def test_in_house_pgd_matches_art_on_the_bundled_model(bundled, photos, photo_labels, params):
    assert_same_as_art(bundled.model, photos, photo_labels, params, bundled.num_classes)


def test_one_grey_level_of_pgd_fools_the_bundled_model_on_real_photos(bundled, photos, photo_labels):
    result = run_attack(bundled.model, photos, photo_labels, AttackParams("pgd", eps=1, steps=5), 1000)

    assert photo_labels[0] == 967  # coffee is an espresso
    assert result.success.all()
    assert torch.equal(result.linf, torch.ones(2))


def test_deepfool_on_the_bundled_model_survives_quantisation_with_a_few_grey_levels(
    bundled, photos, photo_labels
):
    params = AttackParams("deepfool", steps=20, candidates=4)

    result = run_attack(bundled.model, photos, photo_labels, params, bundled.num_classes)

    assert result.success.all()
    assert result.linf.max() <= 16 and result.l2.max() < 1.0


def test_targeted_pgd_reaches_the_least_likely_class_of_the_bundled_model(bundled, photos, photo_labels):
    params = AttackParams("pgd", eps=8, steps=10, targeting="least_likely")

    result = run_attack(bundled.model, photos, photo_labels, params, bundled.num_classes)

    assert result.success.all()
    assert torch.equal(result.predictions, result.targets)
