"""Researchers register a classifier in the admin (*Classifiers → Add*): weights uploaded or
named by a path on the worker's disk. The form refuses what the web process can judge (a
file over the size limit, bad preprocessing, a name in use); a background task loads and
checks the weights as `manage.py register_classifier` does, and the registration's page
says how it ended. A registration that fails leaves no classifier behind."""

import hashlib
import json
from pathlib import Path

import pytest
import torch
import torchvision
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from inference.engine.testing import tiny_net
from inference.models import Classifier, ClassifierRegistration
from inference.services import classifier_registrations
from tests import factories

pytestmark = pytest.mark.django_db
ADD_URL = "/admin/inference/classifierregistration/add/"
PREPROCESSING = {
    "resize": 40,
    "crop": 32,
    "interpolation": "bilinear",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}


@pytest.fixture(scope="module")
def scripted_file(tmp_path_factory) -> Path:
    """A TorchScript file of a tiny network with ImageNet's 1000 outputs."""
    path = tmp_path_factory.mktemp("weights") / "tiny-scripted.pt"
    torch.jit.script(tiny_net(num_classes=1000)).save(str(path))
    return path


@pytest.fixture(scope="module")
def squeezenet_file(tmp_path_factory) -> Path:
    """A torchvision state dict small enough to load in a moment (SqueezeNet 1.1, 5 MB)."""
    path = tmp_path_factory.mktemp("weights") / "squeezenet1_1-mylab.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), path)
    return path


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser("boss", "", "pw")


@pytest.fixture
def admin_client(boss) -> Client:
    client = Client()
    client.force_login(boss)
    return client


def stored_weights(media: Path) -> list[str]:
    folder = media / "weights"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def uploaded(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def request(client, capture, **fields):
    """POST the registration form, running the queued task once the request has committed."""
    form = {"label_set": "imagenet-1k", "architecture": "", "weights_path": "", "preprocessing": "", **fields}
    with capture(execute=True):
        return client.post(ADD_URL, form)


def test_classifiers_add_leads_to_the_registration_form(admin_client):
    listing = admin_client.get("/admin/inference/classifier/").content.decode()
    assert 'href="/admin/inference/classifier/add/"' in listing
    reply = admin_client.get("/admin/inference/classifier/add/")
    assert reply.status_code == 302 and reply["Location"] == ADD_URL
    page = admin_client.get(ADD_URL).content.decode()
    for field in (
        "name",
        "source",
        "architecture",
        "weights_file",
        "weights_path",
        "label_set",
        "preprocessing",
    ):
        assert f'name="{field}"' in page
    assert 'enctype="multipart/form-data"' in page


def test_an_uploaded_torchscript_file_is_registered_in_the_background(
    admin_client, boss, scripted_file, media, django_capture_on_commit_callbacks
):
    reply = request(
        admin_client,
        django_capture_on_commit_callbacks,
        name="tiny-scripted",
        source="torchscript",
        architecture="tiny_cnn",
        weights_file=uploaded(scripted_file),
        preprocessing=json.dumps(PREPROCESSING),
    )
    registration = ClassifierRegistration.objects.get()
    assert reply.status_code == 302 and reply["Location"].endswith(f"/{registration.pk}/change/")
    assert registration.status == ClassifierRegistration.Status.DONE, registration.message
    assert registration.requested_by == boss
    classifier = Classifier.objects.get(name="tiny-scripted")
    assert registration.classifier == classifier
    assert (classifier.source, classifier.num_classes) == ("torchscript", 1000)
    assert classifier.weights_sha256 == hashlib.sha256(scripted_file.read_bytes()).hexdigest()
    # The upload is kept as the classifier's weights file, where workers load it from.
    assert Path(classifier.weights_path).read_bytes() == scripted_file.read_bytes()
    assert Path(classifier.weights_path).parent == media / "weights"
    assert classifier.preprocessing == PREPROCESSING

    page = admin_client.get(
        f"/admin/inference/classifierregistration/{registration.pk}/change/"
    ).content.decode()
    assert "Registered tiny-scripted: torchscript tiny_cnn, 1000 classes" in page
    assert 'data-refresh-while-running="false"' in page
    classifier_page = admin_client.get(
        f"/admin/inference/classifier/{classifier.pk}/change/"
    ).content.decode()
    assert f'href="/admin/inference/classifierregistration/{registration.pk}/change/"' in classifier_page
    assert "tiny-scripted" in admin_client.get("/admin/inference/classifierregistration/").content.decode()


def test_weights_named_by_a_path_on_the_workers_disk_are_registered(
    admin_client, squeezenet_file, media, django_capture_on_commit_callbacks
):
    request(
        admin_client,
        django_capture_on_commit_callbacks,
        name="squeeze",
        source="torchvision",
        architecture="squeezenet1_1",
        weights_path=str(squeezenet_file),
    )
    registration = ClassifierRegistration.objects.get()
    assert registration.status == ClassifierRegistration.Status.DONE, registration.message
    classifier = Classifier.objects.get(name="squeeze")
    assert classifier.weights_path == str(squeezenet_file)
    # torchvision's published preprocessing, since none was given.
    assert classifier.preprocessing["resize"] == 256
    assert stored_weights(media) == []


@pytest.mark.parametrize(
    "case, reason",
    [
        ("weights_that_do_not_fit", "do not fit torchvision squeezenet1_0 with 1000 classes"),
        ("not_a_checkpoint", "the uploaded file garbage.pth is not a readable torch weights file"),
        ("a_path_that_does_not_exist", "weights file /nowhere/weights.pth does not exist"),
        ("torchscript_with_the_wrong_class_count", "the model outputs 10 classes but the label set has 1000"),
    ],
)
def test_weights_that_cannot_be_used_fail_with_the_reason_and_leave_no_classifier(
    admin_client, squeezenet_file, tmp_path, media, case, reason, django_capture_on_commit_callbacks
):
    ten = tmp_path / "ten.pt"
    torch.jit.script(tiny_net(num_classes=10)).save(str(ten))
    fields = {
        "weights_that_do_not_fit": {
            "source": "torchvision",
            "architecture": "squeezenet1_0",
            "weights_file": uploaded(squeezenet_file),
        },
        "not_a_checkpoint": {
            "source": "torchvision",
            "architecture": "squeezenet1_1",
            "weights_file": SimpleUploadedFile("garbage.pth", b"definitely not a checkpoint" * 10),
        },
        "a_path_that_does_not_exist": {
            "source": "torchvision",
            "architecture": "squeezenet1_1",
            "weights_path": "/nowhere/weights.pth",
        },
        "torchscript_with_the_wrong_class_count": {
            "source": "torchscript",
            "weights_file": uploaded(ten),
            "preprocessing": json.dumps(PREPROCESSING),
        },
    }[case]
    reply = request(admin_client, django_capture_on_commit_callbacks, name="doomed", **fields)
    assert reply.status_code == 302
    registration = ClassifierRegistration.objects.get()
    assert registration.status == ClassifierRegistration.Status.FAILED
    assert registration.message.startswith("Cannot register doomed: ") and reason in registration.message
    # The researcher never chose the media directory's path; the message does not show it.
    assert str(media) not in registration.message
    assert not Classifier.objects.exists() and registration.classifier is None
    assert stored_weights(media) == [] and not registration.weights_file
    page = admin_client.get(
        f"/admin/inference/classifierregistration/{registration.pk}/change/"
    ).content.decode()
    assert "Failed" in page and reason in page


def test_weights_over_the_size_limit_are_refused_on_the_form_and_never_stored(
    admin_client, scripted_file, media, settings, django_capture_on_commit_callbacks
):
    settings.SECONDLOOK_MAX_WEIGHTS_BYTES = 1_000
    reply = request(
        admin_client,
        django_capture_on_commit_callbacks,
        name="big",
        source="torchscript",
        weights_file=uploaded(scripted_file),
        preprocessing=json.dumps(PREPROCESSING),
    )
    assert reply.status_code == 200
    size = scripted_file.stat().st_size
    assert (
        f"tiny-scripted.pt ({size:,} bytes) is larger than the upload limit of 1,000 bytes."
        in reply.content.decode()
    )
    assert not ClassifierRegistration.objects.exists() and not Classifier.objects.exists()
    assert stored_weights(media) == []


@pytest.mark.parametrize(
    "fields, field, error",
    [
        ({"preprocessing": "{"}, "preprocessing", "Not valid JSON"),
        (
            {"preprocessing": json.dumps({**PREPROCESSING, "crop": 400})},
            "preprocessing",
            "crop must not exceed",
        ),
        ({"preprocessing": json.dumps({"resize": 256})}, "preprocessing", "missing field(s): crop"),
        ({"preprocessing": ""}, "preprocessing", "does not carry its preprocessing"),
        ({"weights_path": "relative/weights.pt"}, "weights_path", "starting with /"),
        ({"weights_path": "/data/w.pt", "weights_file": "UPLOAD"}, "weights_path", "not both"),
        ({"weights_file": ""}, "weights_file", "needs a weights file"),
        ({"source": "timm", "architecture": ""}, "architecture", "needs the architecture"),
        ({"name": "efficientnet-lite0"}, "name", "exists already"),
        ({"name": "not a slug"}, "name", "Enter a valid"),
    ],
)
def test_a_bad_request_is_refused_on_its_field_and_nothing_is_queued(
    admin_client, scripted_file, fields, field, error, django_capture_on_commit_callbacks
):
    factories.classifier("efficientnet-lite0")
    form = {
        "name": "scripted",
        "source": "torchscript",
        "weights_file": uploaded(scripted_file),
        "preprocessing": json.dumps(PREPROCESSING),
        **fields,
    }
    if form["weights_file"] == "UPLOAD":
        form["weights_file"] = uploaded(scripted_file)
    elif form["weights_file"] == "":
        del form["weights_file"]
    reply = request(admin_client, django_capture_on_commit_callbacks, **form)
    assert reply.status_code == 200
    errors = reply.context["adminform"].form.errors
    assert error in " ".join(errors.get(field, [])), errors
    assert not ClassifierRegistration.objects.exists()
    assert list(Classifier.objects.values_list("name", flat=True)) == ["efficientnet-lite0"]


def test_a_name_being_registered_already_is_refused(
    admin_client, scripted_file, django_capture_on_commit_callbacks
):
    ClassifierRegistration.objects.create(name="scripted", source="torchscript")
    reply = request(
        admin_client,
        django_capture_on_commit_callbacks,
        name="scripted",
        source="torchscript",
        weights_file=uploaded(scripted_file),
        preprocessing=json.dumps(PREPROCESSING),
    )
    assert "is being registered already" in reply.content.decode()
    assert ClassifierRegistration.objects.count() == 1


def test_the_registration_runs_after_the_request_and_its_page_refreshes_until_it_ends(
    admin_client, scripted_file, django_capture_on_commit_callbacks
):
    form = {
        "name": "later",
        "source": "torchscript",
        "label_set": "imagenet-1k",
        "weights_file": uploaded(scripted_file),
        "preprocessing": json.dumps(PREPROCESSING),
    }
    with django_capture_on_commit_callbacks(execute=False) as queued:
        admin_client.post(ADD_URL, form)
    registration = ClassifierRegistration.objects.get()
    assert registration.status == ClassifierRegistration.Status.PENDING and not Classifier.objects.exists()
    page = admin_client.get(
        f"/admin/inference/classifierregistration/{registration.pk}/change/"
    ).content.decode()
    assert 'data-refresh-while-running="true"' in page and "Waiting for a worker" in page
    assert "js/admin/refresh_while_running.js" in page

    queued[0]()
    registration.refresh_from_db()
    assert registration.status == ClassifierRegistration.Status.DONE


def test_running_the_registration_twice_registers_once(scripted_file):
    registration = ClassifierRegistration.objects.create(
        name="twice", source="torchscript", weights_path=str(scripted_file), preprocessing=PREPROCESSING
    )
    first = classifier_registrations.run_registration(registration.pk)
    second = classifier_registrations.run_registration(registration.pk)
    assert first.status == second.status == ClassifierRegistration.Status.DONE
    assert second.attempts == 1 and Classifier.objects.filter(name="twice").count() == 1


def test_a_name_taken_while_the_registration_waited_is_refused_not_replaced(scripted_file):
    registration = ClassifierRegistration.objects.create(
        name="efficientnet-lite0",
        source="torchscript",
        weights_path=str(scripted_file),
        preprocessing=PREPROCESSING,
    )
    existing = factories.classifier("efficientnet-lite0")
    row = classifier_registrations.run_registration(registration.pk)
    assert row.status == ClassifierRegistration.Status.FAILED and "exists already" in row.message
    existing.refresh_from_db()
    assert existing.source == "bundled" and Classifier.objects.count() == 1


def staff(username: str, *codenames: str):
    user = factories.researcher(username, False)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="inference", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


def test_registering_needs_the_permission_to_add_classifiers(
    scripted_file, django_capture_on_commit_callbacks
):
    viewer = staff("viewer", "view_classifier")
    assert (
        'href="/admin/inference/classifier/add/"'
        not in viewer.get("/admin/inference/classifier/").content.decode()
    )
    assert viewer.get(ADD_URL).status_code == 403
    form = {"name": "sneaky", "source": "torchscript", "weights_file": uploaded(scripted_file)}
    assert viewer.post(ADD_URL, {**form, "preprocessing": json.dumps(PREPROCESSING)}).status_code == 403
    assert not ClassifierRegistration.objects.exists()

    registrar = staff("registrar", "view_classifier", "add_classifier")
    assert registrar.get(ADD_URL).status_code == 200
    reply = request(
        registrar,
        django_capture_on_commit_callbacks,
        **{**form, "weights_file": uploaded(scripted_file), "preprocessing": json.dumps(PREPROCESSING)},
    )
    assert reply.status_code == 302 and Classifier.objects.filter(name="sneaky").exists()
