"""Researchers register their own classifiers: checked when registered, used by jobs."""

import hashlib

import pytest
import torch
import torchvision
from django.core.management import CommandError, call_command

from inference.models import Classifier, Prediction, PreparationJob
from inference.preparation.runner import run_job_here
from inference.services.jobs import request_job
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "resnet18-mylab.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def register(*args, **options):
    call_command("register_classifier", *args, verbosity=0, **options)


def test_a_torchvision_model_with_local_weights_registers_and_predicts(resnet18_file, tmp_path, capsys):
    register("mylab", source="torchvision", architecture="resnet18", weights=str(resnet18_file))
    assert "Registered mylab: torchvision resnet18, 1000 classes" in capsys.readouterr().out
    classifier = Classifier.objects.get(name="mylab")
    preprocessing = classifier.preprocessing
    assert (preprocessing["resize"], preprocessing["interpolation"]) == (256, "bilinear")
    assert classifier.weights_sha256 == hashlib.sha256(resnet18_file.read_bytes()).hexdigest()
    images = factories.image_set(tmp_path, n=2)
    job = run_job_here(request_job(PreparationJob.Kind.PREDICTIONS, images, classifier, dispatch=False))
    assert job.status == PreparationJob.Status.DONE
    assert Prediction.objects.filter(classifier=classifier).count() == 2


@pytest.mark.parametrize(
    "architecture, weights, message",
    [
        ("resnet18", "/nowhere/weights.pth", "does not exist"),
        ("resnet34", "RESNET18", "layer"),  # keys of resnet18 do not fit resnet34
        ("not_a_model", "RESNET18", "not_a_model"),
        ("resnet18", "CORRUPT", "weights"),
    ],
)
def test_bad_weights_are_refused_at_registration_with_the_reason(
    resnet18_file, tmp_path, architecture, weights, message
):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"definitely not a checkpoint" * 10)
    weights = {"RESNET18": str(resnet18_file), "CORRUPT": str(corrupt)}.get(weights, weights)
    with pytest.raises(CommandError, match="Cannot register bad") as raised:
        register("bad", source="torchvision", architecture=architecture, weights=weights)
    assert message in str(raised.value)
    assert not Classifier.objects.filter(name="bad").exists()


def test_a_class_count_that_does_not_match_the_label_set_is_refused(tmp_path):
    path = tmp_path / "ten.pth"
    torch.save(torchvision.models.resnet18(weights=None, num_classes=10).state_dict(), path)
    with pytest.raises(CommandError, match="Cannot register ten"):
        register("ten", source="torchvision", architecture="resnet18", weights=str(path))
    assert not Classifier.objects.exists()


def test_torchscript_needs_its_preprocessing(tmp_path):
    from inference.engine.testing import tiny_net

    path = tmp_path / "tiny.pt"
    torch.jit.script(tiny_net(num_classes=1000)).save(str(path))
    with pytest.raises(CommandError, match="preprocessing"):
        register("scripted", source="torchscript", weights=str(path))
    with pytest.raises(CommandError, match="not valid JSON"):
        register("scripted", source="torchscript", weights=str(path), preprocessing="{")


def test_without_weights_the_message_says_no_weights_file_was_given(tmp_path, monkeypatch):
    # The command's flag is --weights and the admin's field is a file: the message names
    # neither an internal argument nor the wrong one.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(CommandError, match="no weights file given") as raised:
        register("hubless", source="torchvision", architecture="resnet18")
    assert "weights_path" not in str(raised.value)
