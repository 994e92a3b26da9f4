"""Rendering: the cividis table, heatmap colours, the overlay on the stimulus, lossless PNG."""

import io

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from inference.engine.render import CIVIDIS, heatmap_rgb, overlay, png_bytes


def _stimulus(height=6, width=8):
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_embedded_table_is_matplotlibs_cividis_rounded_to_8_bits():
    expected = np.rint(np.asarray(matplotlib.colormaps["cividis"].colors) * 255).astype(np.uint8)

    assert CIVIDIS.shape == (256, 3) and CIVIDIS.dtype == np.uint8
    np.testing.assert_array_equal(CIVIDIS, expected)


def test_heatmap_colours_zero_and_one_with_the_ends_of_the_table():
    rgb = heatmap_rgb(np.array([[0.0, 1.0], [0.5, 0.25]], dtype=np.float32))

    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, 0], CIVIDIS[0])
    np.testing.assert_array_equal(rgb[0, 1], CIVIDIS[255])
    np.testing.assert_array_equal(rgb[1, 0], CIVIDIS[128])
    np.testing.assert_array_equal(rgb[1, 1], CIVIDIS[64])


def test_heatmap_lightness_grows_with_intensity():
    rgb = heatmap_rgb(np.linspace(0, 1, 256, dtype=np.float32)[None, :]).astype(float)[0]

    luma = rgb @ np.array([0.2126, 0.7152, 0.0722])
    assert (np.diff(luma) > 0).mean() > 0.95


def test_overlay_leaves_unimportant_pixels_exactly_as_they_were():
    image = _stimulus()

    result = overlay(image, np.zeros((6, 8), dtype=np.float32), alpha=0.9)

    np.testing.assert_array_equal(result, image)


def test_overlay_at_full_intensity_blends_alpha_of_the_top_colour():
    image = _stimulus()
    ones = np.ones((6, 8), dtype=np.float32)

    opaque = overlay(image, ones, alpha=1.0)
    half = overlay(image, ones, alpha=0.5)

    np.testing.assert_array_equal(opaque, np.broadcast_to(CIVIDIS[255], (6, 8, 3)))
    expected = np.rint((image.astype(np.float32) + CIVIDIS[255].astype(np.float32)) / 2)
    np.testing.assert_array_equal(half, expected.astype(np.uint8))


def test_overlay_is_at_the_stimulus_size_when_the_map_is_smaller():
    image = _stimulus(64, 48)
    coarse = np.zeros((8, 6), dtype=np.float32)
    coarse[:4] = 1.0  # top half relevant

    result = overlay(image, torch.from_numpy(coarse), alpha=1.0)

    assert result.shape == (64, 48, 3) and result.dtype == np.uint8
    np.testing.assert_array_equal(result[:24], np.broadcast_to(CIVIDIS[255], (24, 48, 3)))
    np.testing.assert_array_equal(result[-24:], image[-24:])


def test_overlay_is_deterministic_and_leaves_the_image_untouched():
    image = _stimulus()
    before = image.copy()
    intensity = np.random.default_rng(1).random((6, 8), dtype=np.float32)

    first, second = overlay(image, intensity), overlay(image, intensity)

    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(image, before)


def test_png_is_lossless_and_the_same_bytes_every_time():
    array = _stimulus(5, 7)

    data = png_bytes(array)

    assert data == png_bytes(array)
    assert data.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(decoded), array)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: heatmap_rgb(np.array([[1.5]])), r"\[0, 1\]"),
        (lambda: heatmap_rgb(np.array([[np.nan]])), r"\[0, 1\]"),
        (lambda: heatmap_rgb(np.zeros((2, 2, 1))), r"\[H, W\]"),
        (lambda: overlay(np.zeros((4, 4, 3)), np.zeros((4, 4))), "uint8"),
        (lambda: overlay(np.zeros((4, 4), np.uint8), np.zeros((4, 4))), "uint8"),
        (lambda: overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4)), alpha=1.5), "alpha"),
        (lambda: png_bytes(np.zeros((4, 4, 3), np.float32)), "uint8"),
        (lambda: png_bytes(np.zeros((4, 4, 4), np.uint8)), "uint8"),
    ],
)
def test_bad_inputs_are_refused_naming_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()
