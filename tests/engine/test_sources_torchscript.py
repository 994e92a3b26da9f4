"""TorchScript files (scripted and traced tiny nets written here); the preprocessing comes with the record."""

import hashlib
import re

import pytest
import torch
from torch import nn

from inference.engine import ClassifierLoadError, load_classifier
from inference.engine.testing import TINY_PREPROCESSING, tiny_net

# torch.jit is deprecated upstream in favour of torch.export, but it is what
# users' TorchScript files need.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")

PREPROCESSING = TINY_PREPROCESSING.to_dict()


@pytest.fixture(scope="module")
def net():
    return tiny_net(num_classes=10, seed=3).eval()


@pytest.fixture(scope="module")
def scripted_file(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("torchscript") / "tiny.pt"
    torch.jit.save(torch.jit.script(net), path)
    return path


def _assert_logits_match(loaded, net):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    mean = torch.tensor(TINY_PREPROCESSING.mean).view(1, 3, 1, 1)
    std = torch.tensor(TINY_PREPROCESSING.std).view(1, 3, 1, 1)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.model(x), net((x - mean) / std))


def test_a_scripted_file_gives_the_nets_logits_on_normalised_pixels(scripted_file, net):
    loaded = load_classifier("torchscript", "tiny_cnn", scripted_file, PREPROCESSING)

    _assert_logits_match(loaded, net)
    assert loaded.weights_sha256 == hashlib.sha256(scripted_file.read_bytes()).hexdigest()
    assert loaded.preprocessing == TINY_PREPROCESSING
    assert loaded.num_classes == 10 and loaded.class_names is None
    assert loaded.source == "torchscript" and loaded.architecture == "tiny_cnn"


def test_the_loaded_file_is_frozen_in_eval_mode(scripted_file):
    loaded = load_classifier("torchscript", "tiny_cnn", scripted_file, PREPROCESSING)

    assert not any(module.training for module in loaded.model.modules())
    assert not any(parameter.requires_grad for parameter in loaded.model.parameters())


def test_a_traced_file_loads_too(net, tmp_path):
    path = tmp_path / "traced.pt"
    torch.jit.save(torch.jit.trace(net, torch.rand(1, 3, 32, 32)), path)

    loaded = load_classifier("torchscript", "tiny_cnn", path, PREPROCESSING, expected_classes=10)

    _assert_logits_match(loaded, net)


def test_the_preprocessing_is_required(scripted_file):
    with pytest.raises(ClassifierLoadError, match="'torchscript' needs preprocessing"):
        load_classifier("torchscript", "tiny_cnn", scripted_file)


def test_the_file_is_required():
    with pytest.raises(ClassifierLoadError, match="'torchscript' needs a weights file"):
        load_classifier("torchscript", "tiny_cnn", None, PREPROCESSING)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ClassifierLoadError, match=re.escape(f"{tmp_path / 'absent.pt'} does not exist")):
        load_classifier("torchscript", "tiny_cnn", tmp_path / "absent.pt", PREPROCESSING)


def test_a_state_dict_is_not_torchscript(net, tmp_path):
    path = tmp_path / "state.pth"
    torch.save(net.state_dict(), path)

    with pytest.raises(ClassifierLoadError, match="torch.save file .*not TorchScript"):
        load_classifier("torchscript", "tiny_cnn", path, PREPROCESSING)


@pytest.mark.parametrize("keep", [0.5, 0.02], ids=["half", "head"])
def test_a_truncated_file_is_a_load_error(scripted_file, tmp_path, keep):
    data = scripted_file.read_bytes()
    path = tmp_path / "truncated.pt"
    path.write_bytes(data[: int(len(data) * keep)])

    with pytest.raises(ClassifierLoadError, match="not a readable TorchScript file"):
        load_classifier("torchscript", "tiny_cnn", path, PREPROCESSING)


def test_a_torchscript_file_given_as_a_state_dict_points_to_the_right_source(scripted_file):
    with pytest.raises(ClassifierLoadError, match="is a TorchScript file.*source 'torchscript'"):
        load_classifier("timm", "resnet10t", scripted_file, PREPROCESSING)


def test_a_file_that_fails_on_its_input_size_is_refused(tmp_path):
    # A net with a fixed input size: the record's crop (16) does not fit it.
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    path = tmp_path / "fixed.pt"
    torch.jit.save(torch.jit.script(net), path)
    preprocessing = TINY_PREPROCESSING.to_dict() | {"resize": 16, "crop": 16}

    with pytest.raises(ClassifierLoadError, match=re.escape("fails on a [1, 3, 16, 16] input")):
        load_classifier("torchscript", "fixed", path, preprocessing)
