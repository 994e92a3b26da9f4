import hashlib
import json
import re

import pytest
import torch
from torch import nn

from inference.engine import (
    BUNDLED_PREPROCESSING,
    ClassifierLoadError,
    describe_bundled,
    load_classifier,
    registry,
)
from inference.engine.registry import describe
from inference.engine.sources import SourceNet
from inference.engine.testing import TINY_PREPROCESSING, tiny_net

# TorchScript files of tiny nets exercise the checks that every source
# shares; torch.jit is deprecated upstream but users' files need it.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")

TINY = TINY_PREPROCESSING.to_dict()


def test_an_unsupported_source_is_named_in_the_error():
    with pytest.raises(ClassifierLoadError, match="'torchhub'.*supported: bundled"):
        load_classifier("torchhub", "resnet50")


def test_an_unsupported_architecture_is_named_in_the_error():
    with pytest.raises(ClassifierLoadError, match="'efficientnet_lite0'"):
        load_classifier("bundled", "efficientnet_lite0")


def test_load_errors_are_value_errors():
    assert issubclass(ClassifierLoadError, ValueError)


def test_the_bundled_source_refuses_other_weights(tmp_path):
    other = tmp_path / "other.pth"
    other.write_bytes(b"")

    with pytest.raises(ClassifierLoadError, match="weights_path"):
        load_classifier("bundled", "tf_efficientnet_lite0", weights_path=other)


def test_the_bundled_source_refuses_other_preprocessing():
    preprocessing = BUNDLED_PREPROCESSING.to_dict() | {"interpolation": "bilinear"}

    with pytest.raises(ClassifierLoadError, match="preprocessing"):
        load_classifier("bundled", "tf_efficientnet_lite0", preprocessing=preprocessing)


def test_invalid_preprocessing_is_a_load_error_naming_the_field():
    preprocessing = BUNDLED_PREPROCESSING.to_dict() | {"crop": -1}

    with pytest.raises(ClassifierLoadError, match="crop"):
        load_classifier("bundled", "tf_efficientnet_lite0", preprocessing=preprocessing)


def test_a_described_bundled_record_loads_back():
    record = describe_bundled()

    classifier = load_classifier(
        record["source"],
        record["architecture"],
        weights_path=record["weights_path"],
        preprocessing=record["preprocessing"],
    )

    assert classifier.source == "bundled"
    assert classifier.weights_sha256 == record["weights_sha256"]
    assert classifier.preprocessing.to_dict() == record["preprocessing"]


def _script(tmp_path, net, name="net.pt"):
    path = tmp_path / name
    torch.jit.save(torch.jit.script(net.eval()), path)
    return path


class _Constant(nn.Module):
    """Returns `value` broadcast to `[N, *shape]`, whatever the image."""

    def __init__(self, value: float, shape: list[int]):
        super().__init__()
        self.value = value
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full([x.shape[0]] + self.shape, self.value)


def test_every_source_is_listed_when_the_source_is_unknown():
    with pytest.raises(ClassifierLoadError, match="supported: bundled, timm, torchscript, torchvision"):
        load_classifier("file", "resnet18")


def test_the_architecture_must_be_a_string():
    with pytest.raises(ClassifierLoadError, match="architecture must be a string, got None"):
        load_classifier("torchvision", None)


@pytest.mark.parametrize("source", ["bundled", "torchvision", "timm"])
def test_sources_that_build_by_name_refuse_an_empty_architecture(source):
    with pytest.raises(ClassifierLoadError, match=f"unsupported architecture '' for source '{source}'"):
        load_classifier(source, "", weights_path="unused.pth" if source == "timm" else None)


def test_a_torchscript_files_architecture_is_only_a_label_and_may_be_empty(tmp_path):
    path = _script(tmp_path, tiny_net())

    assert load_classifier("torchscript", "", path, TINY).architecture == ""


@pytest.mark.parametrize("expected_classes", [0, -3, True, 10.0, "10"])
def test_expected_classes_must_be_a_positive_integer(expected_classes):
    with pytest.raises(ClassifierLoadError, match="expected_classes must be a positive integer"):
        load_classifier("bundled", "tf_efficientnet_lite0", expected_classes=expected_classes)


def test_a_class_count_other_than_the_label_sets_is_refused(tmp_path):
    path = _script(tmp_path, tiny_net(num_classes=10))

    with pytest.raises(ClassifierLoadError, match="outputs 10 classes but the label set has 1000"):
        load_classifier("torchscript", "tiny_cnn", path, TINY, expected_classes=1000)


def test_a_model_without_a_batch_of_logits_is_refused(tmp_path):
    path = _script(tmp_path, _Constant(0.0, [10, 1, 1]))

    with pytest.raises(ClassifierLoadError, match=re.escape("shape [1, C] for one image, got [1, 10, 1, 1]")):
        load_classifier("torchscript", "no_flatten", path, TINY)


def test_a_model_with_non_finite_logits_is_refused(tmp_path):
    path = _script(tmp_path, _Constant(float("nan"), [10]))

    with pytest.raises(ClassifierLoadError, match="non-finite logits"):
        load_classifier("torchscript", "nan", path, TINY)


def test_class_names_must_name_every_output(monkeypatch):
    def three_names(architecture, weights_path, preprocessing, num_classes):
        return SourceNet(tiny_net(num_classes=10), TINY_PREPROCESSING, ("a", "b", "c"), "0" * 64)

    monkeypatch.setitem(registry._SOURCES, "three-names", three_names)

    with pytest.raises(ClassifierLoadError, match="outputs 10 classes but its publisher names 3"):
        load_classifier("three-names", "tiny_cnn")


def test_the_checks_leave_the_model_frozen_in_eval_mode_on_its_device(tmp_path):
    path = _script(tmp_path, tiny_net())

    classifier = load_classifier("torchscript", "tiny_cnn", path, TINY, device="cpu", expected_classes=10)

    assert classifier.device == torch.device("cpu")
    assert not any(module.training for module in classifier.model.modules())
    assert not any(parameter.requires_grad for parameter in classifier.model.parameters())


def test_a_description_is_json_ready_and_loads_back_to_the_same_weights(tmp_path):
    path = _script(tmp_path, tiny_net(num_classes=10))

    record = json.loads(json.dumps(describe("torchscript", "tiny_cnn", str(path), TINY, expected_classes=10)))

    assert record == {
        "source": "torchscript",
        "architecture": "tiny_cnn",
        "weights_path": str(path),
        "weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "preprocessing": TINY,
        "num_classes": 10,
        "class_names": None,
        "library_versions": record["library_versions"],
    }
    assert set(record["library_versions"]) == {"torch", "timm", "torchvision"}
    loaded = load_classifier(
        record["source"], record["architecture"], record["weights_path"], record["preprocessing"]
    )
    assert loaded.weights_sha256 == record["weights_sha256"]


def test_describing_the_bundled_source_validates_it_and_names_its_classes():
    record = describe("bundled", "tf_efficientnet_lite0", expected_classes=1000)

    assert record["weights_path"] == ""
    assert record["weights_sha256"] == describe_bundled()["weights_sha256"]
    assert record["num_classes"] == 1000
    assert record["class_names"][967] == "espresso"
    assert record["preprocessing"] == BUNDLED_PREPROCESSING.to_dict()


def test_the_bundled_source_refuses_a_label_set_of_another_size():
    with pytest.raises(ClassifierLoadError, match="outputs 1000 classes but the label set has 10"):
        load_classifier("bundled", "tf_efficientnet_lite0", weights_path="", expected_classes=10)
