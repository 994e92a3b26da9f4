"""explain(): the contract every saliency method keeps, and checks that the maps mean something.

Tiny seeded models for almost everything; the real bundled model once per module.
"""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from inference.engine import Normalized, load_bundled, load_rgb, stack_inputs
from inference.engine.saliency import (
    METHODS,
    GradCamParams,
    GradientParams,
    IntegratedGradientsParams,
    OcclusionParams,
    SmoothGradParams,
    explain,
    gradcam_layer,
    predicted_classes,
)
from inference.engine.testing import tiny_classifier

ESPRESSO = 967
# Small settings that keep the tiny-model tests at milliseconds.
FAST_PARAMS = {
    "gradcam": GradCamParams(),
    "gradient": GradientParams(),
    "smoothgrad": SmoothGradParams(nt_samples=4),
    "integrated_gradients": IntegratedGradientsParams(n_steps=8),
    "occlusion": OcclusionParams(window=8, stride=4),
}


@pytest.fixture(scope="module")
def tiny():
    return tiny_classifier(num_classes=10, seed=0).model


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def check_saliency(method, model, images, targets, params, seed=0):
    """The contract of every method: shape, dtype, finiteness, determinism, no side effects.

    Returns the maps so that callers can check what they mean.
    """
    images_before, targets_before = images.clone(), targets.clone()
    training = [module.training for module in model.modules()]
    requires_grad = [parameter.requires_grad for parameter in model.parameters()]
    rng_before = torch.random.get_rng_state()

    maps = explain(model, images, targets, method, params, seed=seed)
    again = explain(model, images, targets, method, params, seed=seed)

    n, _, height, width = images.shape
    assert maps.shape == (n, height, width)
    assert maps.dtype == torch.float32 and maps.device.type == "cpu"
    assert torch.isfinite(maps).all()
    assert maps.abs().amax(dim=(1, 2)).gt(0).all(), "every image gets a non-zero map"
    assert torch.equal(maps, again)
    assert torch.equal(images, images_before) and torch.equal(targets, targets_before)
    assert not images.requires_grad
    assert [module.training for module in model.modules()] == training
    assert [parameter.requires_grad for parameter in model.parameters()] == requires_grad
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    return maps


@pytest.mark.parametrize("method", METHODS)
def test_every_method_keeps_the_contract_for_the_predicted_and_for_another_class(method, tiny, images):
    predicted = predicted_classes(tiny, images)
    other = (predicted + 1) % 10

    for_predicted = check_saliency(method, tiny, images, predicted, FAST_PARAMS[method])
    for_other = check_saliency(method, tiny, images, other, FAST_PARAMS[method])

    assert not torch.allclose(for_predicted, for_other)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_restores_a_deliberately_mixed_model(method, images):
    model = tiny_classifier(seed=3).model
    model.net[1].train()  # one batch norm in training mode, the rest in eval
    model.net[0].weight.requires_grad_(True)  # one trainable tensor, the rest frozen
    targets = torch.tensor([0, 1, 2])

    check_saliency(method, model, images, targets, FAST_PARAMS[method])

    assert model.net[1].training and not model.net[4].training
    assert model.net[0].weight.requires_grad and not model.net[3].weight.requires_grad
    assert model.net[0].weight.grad is None


@pytest.mark.parametrize("method", METHODS)
def test_inputs_on_another_layout_and_dtype_give_the_same_maps(method, tiny, images):
    targets = torch.tensor([4, 5, 6])
    reference = explain(tiny, images, targets, method, FAST_PARAMS[method])

    other = explain(
        tiny,
        images.double().contiguous(memory_format=torch.channels_last),
        targets,
        method,
        FAST_PARAMS[method],
    )

    torch.testing.assert_close(other, reference)


def _linear_model(height=8, width=8, classes=4):
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * height * width, classes))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        nn.init.normal_(net[1].weight)
    return Normalized(net, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)).eval().requires_grad_(False)


def test_gradient_of_a_linear_model_is_its_absolute_weights_max_over_channels():
    model = _linear_model()
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([1, 3])

    maps = explain(model, images, targets, "gradient")

    weights = model.net[1].weight.view(4, 3, 8, 8)
    torch.testing.assert_close(maps, weights[targets].abs().amax(dim=1))


def test_integrated_gradients_of_a_linear_model_are_input_times_weights_summed_over_channels():
    model = _linear_model()
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([0, 2])

    maps = explain(model, images, targets, "integrated_gradients", IntegratedGradientsParams(n_steps=4))

    weights = model.net[1].weight.view(4, 3, 8, 8)
    torch.testing.assert_close(maps, (images * weights[targets]).sum(dim=1))


def test_integrated_gradients_add_up_to_the_logit_difference_from_the_baseline(tiny, images):
    targets = predicted_classes(tiny, images)
    grey = 0.5

    maps = explain(
        tiny, images, targets, "integrated_gradients", IntegratedGradientsParams(n_steps=64, baseline=grey)
    )

    with torch.no_grad():
        logits = tiny(images).gather(1, targets[:, None])[:, 0]
        baseline_logits = tiny(torch.full_like(images, grey)).gather(1, targets[:, None])[:, 0]
    torch.testing.assert_close(maps.sum(dim=(1, 2)), logits - baseline_logits, atol=0.02, rtol=0.05)


class _TopLeftScore(nn.Module):
    """Logit 0 is the sum of the top-left 8x8 pixels (all channels); logit 1 its negative."""

    def forward(self, x):
        score = x[:, :, :8, :8].sum(dim=(1, 2, 3))
        return torch.stack([score, -score], dim=1)


def test_occluding_the_region_that_carries_the_score_lowers_it_and_nothing_else_matters():
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    params = OcclusionParams(window=4, stride=4)

    maps = explain(_TopLeftScore(), images, torch.tensor([0, 0]), "occlusion", params)

    # Non-overlapping windows: each pixel's drop is the sum of its window, shared by 3 channels.
    window_sums = F.avg_pool2d(images.sum(dim=1, keepdim=True), 4) * 16
    expected = F.interpolate(window_sums, scale_factor=4, mode="nearest")[:, 0]
    expected[:, 8:, :] = 0
    expected[:, :, 8:] = 0
    torch.testing.assert_close(maps, expected)
    assert (maps[:, :8, :8] > 0).all()


def test_occlusion_is_negative_where_hiding_the_region_raises_the_score():
    images = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    params = OcclusionParams(window=4, stride=4)

    maps = explain(_TopLeftScore(), images, torch.tensor([1]), "occlusion", params)

    assert (maps[:, :8, :8] < 0).all()


def test_occlusion_is_the_same_one_image_at_a_time_or_batched(tiny, images):
    targets = torch.tensor([1, 2, 3])
    batched = explain(tiny, images, targets, "occlusion", FAST_PARAMS["occlusion"], batch_size=8)

    alone = [
        explain(tiny, images[i : i + 1], targets[i : i + 1], "occlusion", FAST_PARAMS["occlusion"])
        for i in range(3)
    ]

    torch.testing.assert_close(batched, torch.cat(alone))


def test_smoothgrad_with_vanishing_noise_is_the_gradient(tiny, images):
    targets = torch.tensor([0, 1, 2])

    smooth = explain(tiny, images, targets, "smoothgrad", SmoothGradParams(nt_samples=3, stdevs=1e-7))

    torch.testing.assert_close(smooth, explain(tiny, images, targets, "gradient"))


def test_smoothgrad_is_the_mean_absolute_gradient_over_seeded_noisy_copies_max_over_channels(tiny, images):
    # Pins the noise too: stored maps stay reproducible from (image, params, seed).
    params = SmoothGradParams(nt_samples=5, stdevs=0.1)
    targets = torch.tensor([7, 8, 9])
    noise = torch.randn((5, 3, 32, 32), generator=torch.Generator().manual_seed(11)) * 0.1
    noisy = (images[:, None] + noise).reshape(15, 3, 32, 32).requires_grad_()
    score = tiny(noisy).gather(1, targets.repeat_interleave(5)[:, None]).sum()
    (gradients,) = torch.autograd.grad(score, noisy)
    expected = gradients.abs().view(3, 5, 3, 32, 32).mean(dim=1).amax(dim=1)

    maps = explain(tiny, images, targets, "smoothgrad", params, seed=11)

    torch.testing.assert_close(maps, expected)


def test_smoothgrad_noise_depends_on_the_seed_but_not_on_the_other_images_or_the_batch_size(tiny, images):
    params = SmoothGradParams(nt_samples=6, stdevs=0.2)
    targets = torch.tensor([0, 1, 2])
    maps = explain(tiny, images, targets, "smoothgrad", params, seed=5)

    alone = explain(tiny, images[2:], targets[2:], "smoothgrad", params, seed=5)
    other_seed = explain(tiny, images, targets, "smoothgrad", params, seed=6)
    other_batching = explain(tiny, images, targets, "smoothgrad", params, seed=5, batch_size=6)

    torch.testing.assert_close(alone[0], maps[2])
    torch.testing.assert_close(other_batching, maps)
    assert not torch.allclose(other_seed, maps)


def test_gradcam_is_the_relu_of_channel_weighted_activations_upsampled_bilinearly(tiny, images):
    targets = torch.tensor([3, 4, 5])
    activations = {}
    handle = tiny.net[5].register_forward_hook(lambda module, args, output: activations.update(a=output))
    try:
        x = images.clone().requires_grad_()
        score = tiny(x).gather(1, targets[:, None]).sum()
        (gradients,) = torch.autograd.grad(score, activations["a"])
    finally:
        handle.remove()
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = (weights * activations["a"]).sum(dim=1, keepdim=True).relu()
    expected = F.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False)[:, 0]

    maps = explain(tiny, images, targets, "gradcam")

    torch.testing.assert_close(maps, expected.detach())
    assert (maps >= 0).all()


def test_gradcam_on_an_explicit_layer_matches_the_default_and_refuses_an_unknown_one(tiny, images):
    targets = torch.tensor([0, 1, 2])
    explicit = explain(tiny, images, targets, "gradcam", GradCamParams(layer="net.5"))

    torch.testing.assert_close(explicit, explain(tiny, images, targets, "gradcam"))
    with pytest.raises(ValueError, match="net.77"):
        explain(tiny, images, targets, "gradcam", GradCamParams(layer="net.77"))
    with pytest.raises(ValueError, match="net.8"):
        explain(tiny, images, targets, "gradcam", GradCamParams(layer="net.8"))  # the linear layer: 2-D


def test_gradcam_layer_is_the_last_spatial_map_of_the_network(tiny):
    resnet = torchvision.models.resnet18(weights=None, num_classes=10)

    assert gradcam_layer(tiny, (32, 32)) == "net.5"
    assert gradcam_layer(resnet, (64, 64)) == "layer4"
    assert gradcam_layer(Normalized(resnet, (0.5,) * 3, (0.5,) * 3), (64, 64)) == "net.layer4"


def test_gradcam_layer_refuses_a_network_without_a_spatial_map():
    with pytest.raises(ValueError, match="name the Grad-CAM layer"):
        gradcam_layer(_linear_model(), (8, 8))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "lime"}, "method must be one of"),
        ({"params": GradientParams()}, "must be SmoothGradParams"),
        ({"images": torch.rand(2, 1, 32, 32)}, r"\[N, 3, H, W\]"),
        ({"images": torch.rand(0, 3, 32, 32)}, r"\[N, 3, H, W\]"),
        ({"images": torch.rand(2, 3, 32, 32) * 255}, r"in \[0, 1\]"),
        ({"images": torch.ones(2, 3, 32, 32, dtype=torch.uint8)}, r"floats in \[0, 1\]"),
        ({"targets": torch.tensor([0])}, "targets must be a"),
        ({"targets": torch.tensor([0.0, 1.0])}, "integer class indices"),
        ({"targets": torch.tensor([0, -1])}, ">= 0"),
        ({"targets": torch.tensor([0, 10])}, "below the model's 10 classes"),
        ({"seed": -1}, "seed"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_explain_rejects_bad_arguments_naming_the_problem(tiny, change, message):
    arguments = {
        "model": tiny,
        "images": torch.rand(2, 3, 32, 32),
        "targets": torch.tensor([0, 1]),
        "method": "smoothgrad",
        "params": SmoothGradParams(nt_samples=2),
    }
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        explain(**arguments)


def test_occlusion_window_larger_than_the_image_is_refused(tiny, images):
    with pytest.raises(ValueError, match="window"):
        explain(tiny, images, torch.tensor([0, 1, 2]), "occlusion", OcclusionParams(window=33, stride=4))


def test_explain_works_under_inference_mode(tiny, images):
    targets = torch.tensor([0, 1, 2])
    expected = explain(tiny, images, targets, "gradient")

    with torch.inference_mode():
        maps = explain(tiny, images, targets, "gradient")

    torch.testing.assert_close(maps, expected)


@pytest.fixture(scope="module")
def bundled():
    return load_bundled()


@pytest.fixture(scope="module")
def coffee(bundled, skimage_data):
    return stack_inputs([load_rgb(skimage_data / "coffee.png")], bundled.preprocessing)


def test_bundled_model_gradcam_layer_is_bn2(bundled):
    assert gradcam_layer(bundled.model) == "net.bn2"


def test_gradcam_for_espresso_lights_up_the_cup_rather_than_the_corners(bundled, coffee):
    maps = explain(bundled.model, coffee, torch.tensor([ESPRESSO]), "gradcam")[0]

    centre = maps[56:168, 56:168].mean()
    corners = [
        maps[rows, cols].mean()
        for rows in (slice(0, 56), slice(168, 224))
        for cols in (slice(0, 56), slice(168, 224))
    ]
    assert centre > 2 * max(corners)


def test_predicted_class_of_the_coffee_photo_is_espresso(bundled, coffee):
    assert predicted_classes(bundled.model, coffee).tolist() == [ESPRESSO]
