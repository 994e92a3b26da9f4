"""The demo: a live top-k judgment study on the bundled photos and classifier.

Every step reuses what an earlier run made, so running the demo twice neither fails nor
duplicates anything."""

import secrets
from pathlib import Path

from django.contrib.auth import get_user_model

from inference.models import Classifier, ImageSet
from studies.models import Study
from studies.services import launch as lifecycle

DEMO_SLUG = "demo-topk"
ADMIN_USERNAME = "admin"

CONSENT = (
    "This is a demonstration of SecondLook. You will see photos together with the labels an "
    "image classifier gave them, and tell us which labels describe each photo. It takes about "
    "**three minutes**. Your answers are stored under a random pseudonym and used only to show how "
    "the software works. You may stop at any time."
)
INSTRUCTIONS = (
    "For each photo, tick every label that describes something in it — there can be several. "
    "If none fits, choose “None of these”. Keys 1–6 toggle the options and Enter goes on."
)


def ensure_admin(password_file: Path) -> tuple[str, str]:
    """The demo's superuser and its password, created once and kept in password_file."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=ADMIN_USERNAME).first()
    password = password_file.read_text().strip() if password_file.exists() else ""
    if user is None or not password or not user.check_password(password):
        password = secrets.token_urlsafe(12)
        if user is None:
            user = user_model.objects.create_superuser(ADMIN_USERNAME, "", password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
    return ADMIN_USERNAME, password


def ensure_demo_study(image_set: ImageSet, classifier: Classifier) -> Study:
    study, _ = Study.objects.get_or_create(
        slug=DEMO_SLUG,
        defaults={
            "title": "Do these labels describe the photo? (demo)",
            "image_set": image_set,
            "classifier": classifier,
            "k": 5,
            "images_per_participant": 8,
            "consent_text": CONSENT,
            "instructions": INSTRUCTIONS,
            "completion_code": "DEMO-DONE",
        },
    )
    if study.status in (Study.Status.DRAFT, Study.Status.CLOSED):
        lifecycle.launch(study)
    elif study.status == Study.Status.PAUSED:
        lifecycle.resume(study)
    study.refresh_from_db()
    return study
