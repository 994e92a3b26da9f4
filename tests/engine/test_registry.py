import pytest

from inference.engine import (
    BUNDLED_PREPROCESSING,
    ClassifierLoadError,
    describe_bundled,
    load_classifier,
)


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
