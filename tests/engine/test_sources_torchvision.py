"""torchvision models by name with local weights or the hub cache, never downloading.

The weight files are written here from randomly initialised nets; where
torchvision's own loading of published weights is the reference (GoogLeNet,
Inception v3, DenseNet, ViT), its download function is replaced by one that
returns the test's file, so both paths load the same tensors.
"""

import hashlib
import re
import socket
import urllib.request

import pytest
import torch
import torchvision
import torchvision.models._api as torchvision_weights_api
from torchvision.models import ResNet18_Weights, get_model, get_model_weights

from inference.engine import ClassifierLoadError, Preprocessing, load_classifier
from inference.engine.sources import torchvision_models
from inference.engine.sources.torchvision_models import build_published_net, published_file_name

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# A small crop keeps the forward passes of the reference tests cheap; every
# net here pools globally, so any size above its minimum works.
SMALL = Preprocessing(resize=80, crop=80, interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD)


@pytest.fixture(scope="module")
def resnet18():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture(scope="module")
def resnet18_file(resnet18, tmp_path_factory):
    path = tmp_path_factory.mktemp("torchvision") / "resnet18-mine.pth"
    torch.save(resnet18.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def loaded(resnet18_file):
    return load_classifier("torchvision", "resnet18", weights_path=resnet18_file)


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any attempt to reach the network, through torch.hub or otherwise."""

    def refuse(*args, **kwargs):
        raise AssertionError("the registry must never download")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def _normalise(x, preprocessing):
    mean = torch.tensor(preprocessing.mean).view(1, 3, 1, 1)
    std = torch.tensor(preprocessing.std).view(1, 3, 1, 1)
    return (x - mean) / std


def _serve_as_published(monkeypatch, state_dict):
    """Make torchvision's own `weights=...` loading return `state_dict` instead of downloading."""
    monkeypatch.setattr(
        torchvision_weights_api, "load_state_dict_from_url", lambda *args, **kwargs: state_dict
    )


def test_a_local_state_dict_gives_the_nets_logits_on_normalised_pixels(loaded, resnet18):
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))

    with torch.inference_mode():
        torch.testing.assert_close(loaded.model(x), resnet18(_normalise(x, loaded.preprocessing)))


def test_the_sha256_is_that_of_the_weights_file(loaded, resnet18_file):
    assert loaded.weights_sha256 == hashlib.sha256(resnet18_file.read_bytes()).hexdigest()


def test_the_preprocessing_is_the_published_one(loaded):
    published = ResNet18_Weights.DEFAULT.transforms()

    assert loaded.preprocessing == Preprocessing(
        resize=256, crop=224, interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD
    )
    assert loaded.preprocessing.resize == published.resize_size[0]
    assert loaded.preprocessing.crop == published.crop_size[0]
    assert loaded.preprocessing.mean == tuple(published.mean)


def test_the_class_names_are_the_published_categories(loaded):
    assert loaded.num_classes == 1000
    assert loaded.class_names == tuple(ResNet18_Weights.DEFAULT.meta["categories"])
    assert loaded.class_names[0] == "tench"


def test_given_preprocessing_replaces_the_published_one(resnet18_file):
    loaded = load_classifier("torchvision", "resnet18", resnet18_file, preprocessing=SMALL.to_dict())

    assert loaded.preprocessing == SMALL
    assert loaded.source == "torchvision" and loaded.architecture == "resnet18"


def test_expected_classes_sizes_the_head_and_drops_the_imagenet_names(tmp_path):
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=10).eval()
    path = tmp_path / "ten.pth"
    torch.save(net.state_dict(), path)

    loaded = load_classifier("torchvision", "mobilenet_v3_small", path, SMALL.to_dict(), expected_classes=10)

    assert loaded.num_classes == 10
    assert loaded.class_names is None
    x = torch.rand(1, 3, 80, 80)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.model(x), net(_normalise(x, SMALL)))


def test_a_file_for_another_class_count_names_the_head_and_both_shapes(resnet18_file):
    with pytest.raises(
        ClassifierLoadError,
        match=re.escape("resnet18 with 10 classes: 2 shape mismatch(es): fc.weight (file [1000"),
    ):
        load_classifier("torchvision", "resnet18", resnet18_file, expected_classes=10)


def test_weights_of_another_architecture_name_the_missing_keys(resnet18_file):
    with pytest.raises(
        ClassifierLoadError, match=r"do not fit torchvision resnet34.*missing key\(s\): layer1\.2\."
    ):
        load_classifier("torchvision", "resnet34", resnet18_file, preprocessing=SMALL.to_dict())


def test_an_unknown_architecture_suggests_close_names():
    with pytest.raises(ClassifierLoadError, match=r"'resnet19' for source 'torchvision'.*close: resnet18"):
        load_classifier("torchvision", "resnet19")


def test_a_detection_model_is_not_a_classifier():
    with pytest.raises(ClassifierLoadError, match="not a torchvision classification model"):
        load_classifier("torchvision", "fasterrcnn_resnet50_fpn")


def test_a_missing_weights_file_is_named(tmp_path):
    with pytest.raises(ClassifierLoadError, match=re.escape(f"{tmp_path / 'absent.pth'} does not exist")):
        load_classifier("torchvision", "resnet18", tmp_path / "absent.pth")


def test_the_published_file_name_is_torch_hubs(resnet18_file):
    assert published_file_name(ResNet18_Weights.DEFAULT) == "resnet18-f37072fd.pth"


@pytest.mark.usefixtures("no_network")
def test_without_weights_an_empty_hub_cache_is_named_and_nothing_is_downloaded(empty_torch_home):
    expected = empty_torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"

    with pytest.raises(ClassifierLoadError, match=re.escape(str(expected))) as caught:
        load_classifier("torchvision", "resnet18")

    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in str(caught.value)


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("weights_path", [None, ""])
def test_the_hub_cache_file_is_loaded_when_no_weights_are_given(
    empty_torch_home, resnet18_file, monkeypatch, weights_path
):
    # A random file cannot carry the published hash prefix, so the expected
    # name is this file's own: the cache lookup and the prefix check are real.
    sha256 = hashlib.sha256(resnet18_file.read_bytes()).hexdigest()
    cached = empty_torch_home / "hub" / "checkpoints" / f"resnet18-{sha256[:8]}.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(resnet18_file.read_bytes())
    monkeypatch.setattr(torchvision_models, "published_file_name", lambda weights: cached.name)

    loaded = load_classifier("torchvision", "resnet18", weights_path, SMALL.to_dict())

    assert loaded.weights_sha256 == sha256


@pytest.mark.usefixtures("no_network")
def test_a_hub_cache_file_without_the_published_hash_is_refused(empty_torch_home, resnet18_file):
    cached = empty_torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(resnet18_file.read_bytes())

    with pytest.raises(ClassifierLoadError, match="not the published prefix f37072fd"):
        load_classifier("torchvision", "resnet18")


def test_googlenet_gives_the_logits_of_torchvisions_own_loading(tmp_path, monkeypatch):
    # GoogLeNet's published weights expect `transform_input`; a net built
    # without it loads the file strictly and gives other logits.
    weights = get_model_weights("googlenet").DEFAULT
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        published = build_published_net("googlenet", weights, 1000).state_dict()
    path = tmp_path / "googlenet.pth"
    torch.save(published, path)
    _serve_as_published(monkeypatch, published)
    reference = get_model("googlenet", weights=weights).eval()

    loaded = load_classifier("torchvision", "googlenet", path, SMALL.to_dict())

    x = torch.rand(2, 3, 80, 80, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(loaded.model(x), reference(_normalise(x, SMALL)))
    assert loaded.model.net.transform_input


def test_a_googlenet_file_saved_without_auxiliary_heads_loads_too(tmp_path):
    net = get_model("googlenet", weights=None, aux_logits=False, init_weights=False)
    path = tmp_path / "googlenet.pth"
    torch.save(net.state_dict(), path)

    loaded = load_classifier("torchvision", "googlenet", path, SMALL.to_dict())

    assert loaded.model.net.aux1 is None and loaded.num_classes == 1000


def test_densenet_files_with_old_key_names_load_as_torchvision_loads_them(tmp_path, monkeypatch):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        state_dict = get_model("densenet121", weights=None).state_dict()
    # Like the published files: "norm1" is "norm.1" (module names had dots
    # once), and neither BatchNorm counters nor version metadata exist yet.
    old = {
        re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", key): tensor
        for key, tensor in state_dict.items()
        if not key.endswith("num_batches_tracked")
    }
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    path = tmp_path / "densenet121.pth"
    torch.save(old, path)
    _serve_as_published(monkeypatch, old)
    reference = get_model("densenet121", weights="DEFAULT").eval()

    loaded = load_classifier("torchvision", "densenet121", path, SMALL.to_dict())

    x = torch.rand(1, 3, 80, 80, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(loaded.model(x), reference(_normalise(x, SMALL)))


@pytest.mark.parametrize("architecture", ["vit_h_14", "maxvit_t", "googlenet", "inception_v3"])
def test_nets_are_built_as_torchvision_builds_them_for_the_published_files(architecture, monkeypatch):
    # On the meta device nothing is allocated, so even ViT-H/14 is instant:
    # torchvision's own loader must accept our net's state dict strictly,
    # and the input transform must match.
    weights = get_model_weights(architecture).DEFAULT
    with torch.device("meta"):
        ours = build_published_net(architecture, weights, 1000)
        _serve_as_published(monkeypatch, ours.state_dict())
        reference = get_model(architecture, weights=weights)

    reference_shapes = {key: tensor.shape for key, tensor in reference.state_dict().items()}
    assert reference_shapes.items() <= {key: t.shape for key, t in ours.state_dict().items()}.items()
    assert getattr(ours, "transform_input", None) == getattr(reference, "transform_input", None)


def test_vit_h_14_needs_the_published_image_size():
    # Guards the test above: without the published arguments the shapes differ.
    weights = get_model_weights("vit_h_14").DEFAULT
    with torch.device("meta"):
        plain = get_model("vit_h_14", weights=None).state_dict()
        ours = build_published_net("vit_h_14", weights, 1000).state_dict()

    assert plain["encoder.pos_embedding"].shape != ours["encoder.pos_embedding"].shape
