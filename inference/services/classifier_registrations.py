"""Classifiers registered from the browser, checked in the background.

The request stores the fields and the uploaded weights and queues a ClassifierRegistration;
a task on a worker (or the in-process runner) loads and checks the weights as
`manage.py register_classifier` does (inference.services.classifiers), since that needs
torch and the web process never imports it.

Invariants:
- The Classifier row and the registration's outcome are written in one transaction, after
  the weights are checked: a registration that fails leaves no classifier behind.
- A name that is taken is refused, never replaced: studies may be built on the classifier.
- Uploaded weights that fail are deleted; weights that pass are the classifier's file.
- Running the task again for a finished registration does nothing.
"""

from pathlib import Path

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from inference.background import run_later
from inference.models import Classifier, ClassifierRegistration
from inference.services.classifiers import RegistrationError

TASK = "inference.tasks.register_uploaded_classifier"


def name_problem(name: str) -> str:
    """Why `name` cannot be registered now ("" when it can): taken, or being registered."""
    if Classifier.objects.filter(name=name).exists():
        return f"a classifier named {name!r} exists already; choose another name"
    unfinished = [ClassifierRegistration.Status.PENDING, ClassifierRegistration.Status.RUNNING]
    if ClassifierRegistration.objects.filter(name=name, status__in=unfinished).exists():
        return f"{name!r} is being registered already; wait for that registration to end"
    return ""


def request_registration(
    *,
    name: str,
    source: str,
    architecture: str = "",
    weights_file: UploadedFile | None = None,
    weights_path: str = "",
    label_set: str = "imagenet-1k",
    preprocessing: dict | None = None,
    user=None,
) -> ClassifierRegistration:
    """Store the request (and its weights) and queue the check once the caller's
    transaction commits."""
    row = ClassifierRegistration.objects.create(
        name=name,
        source=source,
        architecture=architecture,
        weights_file=weights_file,
        weights_path=weights_path,
        label_set=label_set,
        preprocessing=preprocessing,
        requested_by=user if user is not None and user.is_authenticated else None,
    )
    run_later(TASK, row.pk)
    return row


def run_registration(registration_id: int) -> ClassifierRegistration | None:
    """Load and check the weights, then record the classifier; returns the row as it ends
    (None if it is gone). Why a registration fails is its message."""
    from inference.services import classifiers

    row = ClassifierRegistration.claim(registration_id)
    if row is None:
        return ClassifierRegistration.objects.filter(pk=registration_id).first()
    weights = row.weights_file.path if row.weights_file else row.weights_path
    try:
        description = classifiers.describe(
            row.source, row.architecture, weights, row.preprocessing, row.label_set
        )
        with transaction.atomic():
            row.classifier = classifiers.save(row.name, description, row.label_set, replace=False)
            row.save(update_fields=["classifier"])
            row.mark_done(f"Registered {row.classifier.name}: {_summary(row.classifier)}.")
    except RegistrationError as error:
        # The engine names the file it read: for an upload, name it as the researcher did.
        reason = str(error).replace(weights, _uploaded_name(row)) if row.weights_file else str(error)
        row.classifier = None
        if row.weights_file:
            row.weights_file.delete(save=False)
            row.save(update_fields=["weights_file"])
        row.mark_failed(f"Cannot register {row.name}: {reason}")
    return row


def _uploaded_name(row: ClassifierRegistration) -> str:
    return f"the uploaded file {Path(row.weights_file.name).name}"


def _summary(classifier: Classifier) -> str:
    return (
        f"{classifier.source} {classifier.architecture or '(no architecture named)'}, "
        f"{classifier.num_classes} classes, weights sha256 {classifier.weights_sha256[:12]}…"
    )
