import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from inference.engine import (
    BUNDLED_PREPROCESSING,
    Preprocessing,
    load_model_inputs,
    load_rgb,
    stack_inputs,
)
from inference.engine.preprocessing import (
    center_crop,
    resize_and_crop,
    resize_short_side,
    to_model_input,
)
from inference.engine.testing import random_images

SMALL = Preprocessing(resize=32, crop=24, interpolation="bilinear", mean=(0.5,) * 3, std=(0.5,) * 3)


def _encoded(image: Image.Image, format: str, **params) -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    ("size", "expected"),
    [((400, 300), (341, 256)), ((300, 400), (256, 341)), ((256, 256), (256, 256))],
)
def test_the_short_side_is_resized_and_the_aspect_ratio_kept(size, expected):
    image = Image.new("RGB", size)

    assert resize_short_side(image, 256, "bicubic").size == expected


def test_center_crop_takes_the_middle_square():
    pixels = np.zeros((10, 20, 3), dtype=np.uint8)
    pixels[:, 5:15] = 255
    cropped = center_crop(Image.fromarray(pixels), 10)

    assert cropped.size == (10, 10)
    assert np.asarray(cropped).min() == 255


def test_model_input_is_a_float32_crop_in_the_unit_interval():
    pixels = np.zeros((47, 61, 3), dtype=np.uint8)
    pixels[:, 30:] = 255

    tensor = to_model_input(Image.fromarray(pixels), SMALL)

    assert tensor.shape == (3, 24, 24)
    assert tensor.dtype == torch.float32
    # Black and white stay 0 and 1: normalisation happens inside the model.
    assert tensor.min() == 0 and tensor.max() == 1


def test_model_input_matches_torchvision_resize_crop_to_tensor():
    image = random_images(1, size=(500, 375), seed=3)[0]
    reference = transforms.Compose(
        [
            transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
        ]
    )

    assert torch.equal(to_model_input(image, BUNDLED_PREPROCESSING), reference(image))


def test_model_input_is_the_8_bit_stimulus_divided_by_255():
    image = random_images(1, size=(50, 40), seed=1)[0]

    stimulus = np.array(resize_and_crop(image, SMALL))
    tensor = to_model_input(image, SMALL)

    assert torch.equal(tensor, torch.from_numpy(stimulus).permute(2, 0, 1).float() / 255)


def test_stack_inputs_batches_images_of_different_sizes():
    images = random_images(2, size=(40, 30)) + random_images(1, size=(30, 60))

    batch = stack_inputs(images, SMALL)

    assert batch.shape == (3, 3, 24, 24)
    assert torch.equal(batch[2], to_model_input(images[2], SMALL))


def test_stack_inputs_rejects_an_empty_list():
    with pytest.raises(ValueError, match="at least one"):
        stack_inputs([], SMALL)


def test_preprocessing_round_trips_through_json():
    data = json.loads(json.dumps(BUNDLED_PREPROCESSING.to_dict()))

    assert Preprocessing.from_dict(data) == BUNDLED_PREPROCESSING


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("resize", 0),
        ("resize", "256"),
        ("resize", True),
        ("crop", 300),
        ("crop", 22.5),
        ("interpolation", "nearest"),
        ("mean", [0.5, 0.5]),
        ("mean", [0.5, 0.5, 1.5]),
        ("mean", "abc"),
        ("std", [0.5, 0.0, 0.5]),
        ("std", [0.5, None, 0.5]),
    ],
)
def test_from_dict_rejects_a_bad_value_naming_the_field(field, value):
    data = BUNDLED_PREPROCESSING.to_dict() | {field: value}

    with pytest.raises(ValueError, match=field):
        Preprocessing.from_dict(data)


def test_from_dict_names_missing_and_unknown_fields():
    data = BUNDLED_PREPROCESSING.to_dict()
    del data["crop"]

    with pytest.raises(ValueError, match="missing.*crop"):
        Preprocessing.from_dict(data)
    with pytest.raises(ValueError, match="unknown.*scale"):
        Preprocessing.from_dict(BUNDLED_PREPROCESSING.to_dict() | {"scale": 1})


@pytest.mark.parametrize(
    ("image", "format"),
    [
        (Image.new("L", (8, 6), 128), "PNG"),
        (Image.new("RGB", (8, 6), (10, 200, 30)).convert("P"), "PNG"),
        (Image.new("RGBA", (8, 6), (10, 200, 30, 255)), "PNG"),
        (Image.new("CMYK", (8, 6), (0, 0, 0, 0)), "JPEG"),
    ],
    ids=["L", "P", "RGBA", "CMYK"],
)
def test_load_rgb_converts_other_modes_to_rgb(image, format):
    loaded = load_rgb(_encoded(image, format))

    assert loaded.mode == "RGB"
    assert loaded.size == (8, 6)
    expected = np.asarray(image.convert("RGB"))
    assert np.abs(np.asarray(loaded).astype(int) - expected).max() <= 2


def test_load_rgb_scales_16_bit_greyscale_instead_of_clipping_it():
    image = Image.new("I;16", (3, 2), 40000)

    loaded = load_rgb(_encoded(image, "PNG"))

    assert loaded.mode == "RGB"
    assert np.all(np.asarray(loaded) == round(40000 / 257))


def test_load_rgb_refuses_images_without_a_display_range():
    with pytest.raises(ValueError, match="'F'"):
        load_rgb(_encoded(Image.new("F", (3, 2), 0.5), "TIFF"))


def test_load_rgb_puts_transparent_pixels_on_white():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))

    assert np.asarray(load_rgb(_encoded(image, "PNG"))).min() == 255


def test_load_rgb_applies_the_exif_orientation_as_browsers_do():
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display

    loaded = load_rgb(_encoded(image, "JPEG", exif=exif))

    assert loaded.size == (20, 40)


def test_load_rgb_reads_a_path(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("LA", (5, 7), (100, 255)).save(path)

    loaded = load_rgb(path)

    assert loaded.mode == "RGB" and loaded.size == (5, 7)
    assert np.all(np.asarray(loaded) == 100)


def test_load_model_inputs_in_parallel_equals_decoding_one_by_one(tmp_path):
    paths = []
    for index, image in enumerate(random_images(5, size=(45, 37), seed=9)):
        paths.append(tmp_path / f"{index}.png")
        image.save(paths[-1])
    sequential = stack_inputs([load_rgb(path) for path in paths], SMALL)

    parallel = load_model_inputs(paths, SMALL, workers=3)

    assert torch.equal(parallel, sequential)
    assert torch.equal(load_model_inputs(paths, SMALL, workers=1), sequential)


def test_load_model_inputs_reads_file_objects():
    image = random_images(1, size=(30, 30))[0]

    batch = load_model_inputs([_encoded(image, "PNG")], SMALL)

    assert torch.equal(batch[0], to_model_input(image, SMALL))


def test_load_model_inputs_rejects_an_empty_list():
    with pytest.raises(ValueError, match="at least one"):
        load_model_inputs([], SMALL)
