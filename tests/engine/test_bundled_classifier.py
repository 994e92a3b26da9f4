"""The bundled EfficientNet-Lite0 on real photos (loads the real model once: a few seconds)."""

import pytest
import timm
import torch

from inference.engine import (
    BUNDLED_PREPROCESSING,
    bundled_weights_path,
    describe_bundled,
    load_bundled,
    load_rgb,
    stack_inputs,
    topk,
)
from inference.engine.bundled import map_lukemelas_keys

ESPRESSO = 967
CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat


@pytest.fixture(scope="module")
def classifier():
    return load_bundled()


@pytest.fixture(scope="module")
def lukemelas_state_dict():
    return torch.load(bundled_weights_path(), map_location="cpu", weights_only=True)


def _predict(classifier, paths, k):
    images = stack_inputs([load_rgb(path) for path in paths], classifier.preprocessing)
    return topk(classifier.model, images, k=k)


def test_key_mapping_covers_all_296_tensors_and_loads_strictly(lukemelas_state_dict):
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000)

    mapped = map_lukemelas_keys(lukemelas_state_dict)

    assert len(lukemelas_state_dict) == len(mapped) == 296
    assert set(mapped) == set(net.state_dict())
    result = net.load_state_dict(mapped, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_key_mapping_rejects_a_key_it_does_not_know():
    with pytest.raises(ValueError, match="_blocks.16._bn0.weight"):
        map_lukemelas_keys({"_blocks.16._bn0.weight": torch.zeros(1)})


def test_bundled_classifier_is_frozen_in_eval_mode_with_its_weights_hash(classifier):
    assert classifier.architecture == "tf_efficientnet_lite0"
    assert classifier.num_classes == 1000
    assert classifier.preprocessing == BUNDLED_PREPROCESSING
    assert classifier.weights_sha256.startswith("57934424")
    assert not any(module.training for module in classifier.model.modules())
    assert not any(p.requires_grad for p in classifier.model.parameters())


def test_the_wrapper_normalises_inside_the_model(classifier):
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))

    with torch.inference_mode():
        wrapped = classifier.model(x)
        bare = classifier.model.net((x - 0.5) / 0.5)

    torch.testing.assert_close(wrapped, bare, atol=1e-5, rtol=1e-5)


def test_coffee_is_an_espresso(classifier, skimage_data):
    probs, indices = _predict(classifier, [skimage_data / "coffee.png"], k=1)

    assert indices[0, 0] == ESPRESSO
    assert probs[0, 0] > 0.8


def test_chelsea_is_a_cat_within_the_top_3(classifier, skimage_data):
    _, indices = _predict(classifier, [skimage_data / "chelsea.png"], k=3)

    assert CATS & set(indices[0].tolist())


def test_at_least_18_of_the_20_labelled_imagenet_images_are_in_the_top_5(classifier, foolbox_images):
    _, indices = _predict(classifier, [path for path, _ in foolbox_images], k=5)

    misses = [
        f"{path.name}: top-5 {top5}"
        for (path, label), top5 in zip(foolbox_images, indices.tolist(), strict=True)
        if label not in top5
    ]
    # Printed so that `pytest -rP` shows which images the model gets wrong.
    print(f"top-5 misses ({len(misses)} of {len(foolbox_images)}): {misses}")
    assert len(foolbox_images) == 20
    assert len(misses) <= 2, misses


def test_describe_bundled_hashes_the_weights_without_building_a_model(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("describe_bundled must not build or load the model")

    monkeypatch.setattr(timm, "create_model", refuse)
    monkeypatch.setattr(torch, "load", refuse)

    description = describe_bundled()

    assert description["weights_sha256"].startswith("57934424")
    assert len(description["weights_sha256"]) == 64
    assert description["source"] == "bundled"
    assert description["architecture"] == "tf_efficientnet_lite0"
    assert description["weights_path"] == str(bundled_weights_path())
    assert description["preprocessing"] == BUNDLED_PREPROCESSING.to_dict()
    assert description["num_classes"] == 1000
    assert set(description["library_versions"]) == {"torch", "timm", "torchvision"}


def test_the_same_weights_in_timm_efficientnet_lite0_give_wrong_logits(
    classifier, lukemelas_state_dict, skimage_data
):
    # The trap: `efficientnet_lite0` (symmetric padding, BN eps 1e-5) accepts
    # the keys strictly, so only the logits reveal that it is the wrong net.
    wrong = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000)
    wrong.load_state_dict(map_lukemelas_keys(lukemelas_state_dict), strict=True)
    wrong.eval()
    x = stack_inputs([load_rgb(skimage_data / "coffee.png")], BUNDLED_PREPROCESSING)

    with torch.inference_mode():
        right_logits = classifier.model(x)
        wrong_logits = wrong((x - 0.5) / 0.5)

    assert (right_logits - wrong_logits).abs().max() > 0.5
