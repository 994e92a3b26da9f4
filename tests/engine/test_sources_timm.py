"""timm models by name with a local checkpoint (written here from randomly initialised nets)."""

import hashlib
import math
import re

import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.data import resolve_data_config

from inference.engine import ClassifierLoadError, Preprocessing, load_classifier
from inference.engine.sources.timm_models import imagenet_class_names, preprocessing_from_data_config
from inference.labelsets import imagenet_1k

ARCHITECTURE = "mobilenetv3_small_050"  # 1.6 M parameters
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SMALL = Preprocessing(resize=64, crop=64, interpolation="bicubic", mean=IMAGENET_MEAN, std=IMAGENET_STD)


def _net(seed, **kwargs):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return timm.create_model(ARCHITECTURE, pretrained=False, **kwargs).eval()


@pytest.fixture(scope="module")
def net():
    return _net(seed=0)


@pytest.fixture(scope="module")
def checkpoint(net, tmp_path_factory):
    """A timm training checkpoint: the state dict nested among other entries."""
    path = tmp_path_factory.mktemp("timm") / "checkpoint.pth.tar"
    torch.save({"epoch": 12, "arch": ARCHITECTURE, "state_dict": net.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def loaded(checkpoint):
    return load_classifier("timm", ARCHITECTURE, weights_path=checkpoint)


def _logits_match(loaded, net, size):
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    mean = torch.tensor(loaded.preprocessing.mean).view(1, 3, 1, 1)
    std = torch.tensor(loaded.preprocessing.std).view(1, 3, 1, 1)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.model(x), net((x - mean) / std))


def test_a_checkpoint_gives_the_nets_logits_on_normalised_pixels(loaded, net):
    _logits_match(loaded, net, 224)


def test_the_sha256_is_that_of_the_checkpoint_file(loaded, checkpoint):
    assert loaded.weights_sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest()


def test_the_preprocessing_is_timms_resolved_data_config(loaded, net):
    config = resolve_data_config(model=net)

    assert loaded.preprocessing == Preprocessing(
        resize=256, crop=224, interpolation="bicubic", mean=IMAGENET_MEAN, std=IMAGENET_STD
    )
    assert loaded.preprocessing.crop == config["input_size"][1]
    assert loaded.preprocessing.resize == math.floor(config["input_size"][1] / config["crop_pct"])


def test_a_1000_class_model_is_named_with_imagenet_lemmas(loaded):
    assert loaded.num_classes == 1000
    assert loaded.class_names[967] == "espresso"
    assert loaded.class_names == imagenet_1k().names


def test_a_safetensors_file_loads_the_same_net(net, tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(net.state_dict(), path)

    loaded = load_classifier("timm", ARCHITECTURE, path, SMALL.to_dict())

    _logits_match(loaded, net, 64)
    assert loaded.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_ema_weights_of_a_checkpoint_are_loaded(net, tmp_path):
    ema = _net(seed=1)
    path = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": net.state_dict(), "state_dict_ema": ema.state_dict()}, path)

    loaded = load_classifier("timm", ARCHITECTURE, path, SMALL.to_dict())

    _logits_match(loaded, ema, 64)


def test_expected_classes_sizes_the_head_and_drops_the_imagenet_names(tmp_path):
    ten = _net(seed=2, num_classes=10)
    path = tmp_path / "ten.pth"
    torch.save(ten.state_dict(), path)

    loaded = load_classifier("timm", ARCHITECTURE, path, SMALL.to_dict(), expected_classes=10)

    assert loaded.num_classes == 10 and loaded.class_names is None
    _logits_match(loaded, ten, 64)


def test_a_pretrained_tag_selects_its_own_preprocessing(tmp_path):
    net = timm.create_model("resnet10t.c3_in1k", pretrained=False)
    path = tmp_path / "resnet10t.pth"
    torch.save(net.state_dict(), path)

    loaded = load_classifier("timm", "resnet10t.c3_in1k", path)

    # Trained at 176 px with crop_pct 0.875: resize = floor(176 / 0.875).
    assert (loaded.preprocessing.crop, loaded.preprocessing.resize) == (176, 201)


def test_a_checkpoint_of_another_width_names_the_shape_mismatches(checkpoint):
    message = r"do not fit timm mobilenetv3_small_075 .*shape mismatch\(es\): blocks\.0\.0\.conv_pw\.weight"
    with pytest.raises(ClassifierLoadError, match=message):
        load_classifier("timm", "mobilenetv3_small_075", checkpoint, SMALL.to_dict())


def test_a_checkpoint_of_another_family_names_missing_and_unexpected_keys(checkpoint):
    with pytest.raises(ClassifierLoadError, match=r"missing key\(s\): .*unexpected key\(s\): conv_stem"):
        load_classifier("timm", "resnet10t", checkpoint, SMALL.to_dict())


def test_timm_needs_a_weights_file():
    with pytest.raises(ClassifierLoadError, match="source 'timm' needs a weights file"):
        load_classifier("timm", ARCHITECTURE)


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(ClassifierLoadError, match=re.escape(f"{tmp_path / 'absent.pth'} does not exist")):
        load_classifier("timm", ARCHITECTURE, tmp_path / "absent.pth")


def test_a_corrupt_checkpoint_is_a_load_error(checkpoint, tmp_path):
    path = tmp_path / "truncated.pth"
    path.write_bytes(checkpoint.read_bytes()[:4096])

    with pytest.raises(ClassifierLoadError, match="truncated.pth is not a readable torch weights file"):
        load_classifier("timm", ARCHITECTURE, path)


def test_an_unknown_model_suggests_close_names(checkpoint):
    with pytest.raises(ClassifierLoadError, match=r"'resnet10x' for source 'timm'.*close: .*resnet10t"):
        load_classifier("timm", "resnet10x", checkpoint)


def test_an_unknown_pretrained_tag_is_named(checkpoint):
    with pytest.raises(ClassifierLoadError, match=r"Invalid pretrained tag \(nope\)"):
        load_classifier("timm", "resnet10t.nope", checkpoint)


def test_a_squashing_preprocessing_must_be_given_explicitly(tmp_path):
    # This tag resizes to 384x384 whatever the aspect ratio; a centre crop
    # cannot reproduce that, so the registry refuses to guess.
    architecture = "convnextv2_nano.fcmae_ft_in22k_in1k_384"

    with pytest.raises(ClassifierLoadError, match=r"crop mode 'squash'.*give preprocessing explicitly"):
        load_classifier("timm", architecture, tmp_path / "unused.pth")


def test_data_configs_map_to_a_resize_and_centre_crop():
    config = {
        "input_size": (3, 176, 176),
        "interpolation": "bilinear",
        "mean": (0.5, 0.5, 0.5),
        "std": (0.5, 0.5, 0.5),
        "crop_pct": 0.875,
        "crop_mode": "center",
    }

    assert preprocessing_from_data_config(config) == Preprocessing(
        201, 176, "bilinear", (0.5,) * 3, (0.5,) * 3
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"input_size": (3, 224, 256)}, "not square"),
        ({"crop_mode": "border"}, "not a centre crop"),
        ({"interpolation": "nearest"}, "interpolation"),
    ],
)
def test_data_configs_a_centre_crop_cannot_reproduce_are_refused(change, problem):
    config = {
        "input_size": (3, 224, 224),
        "interpolation": "bicubic",
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "crop_pct": 0.9,
    } | change

    with pytest.raises(ValueError, match=problem):
        preprocessing_from_data_config(config)


@pytest.mark.parametrize(
    ("subset", "count"),
    [("imagenet-12k", 11821), ("imagenet-22k", 21841), ("imagenet-21k-goog", 21843)],
)
def test_larger_imagenet_subsets_name_every_class(subset, count):
    # timm infers the subset from the class count; a name list of another
    # length would make the registry refuse a valid model.
    names = imagenet_class_names(subset)

    assert len(names) == count and all(names)
