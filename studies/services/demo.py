"""The demo: a live study of each task kind on the bundled photos and classifier.

Every step reuses what an earlier run made, so running the demo twice neither fails nor
duplicates anything."""

import secrets
from pathlib import Path

from django.contrib.auth import get_user_model

from inference.models import Classifier, ImageSet
from studies.models import Study
from studies.services import launch as lifecycle
from studies.services import presets

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


# One study per task kind on the same photos; they share the preparations (one attack,
# one kind of heatmap), so adding a study costs a launch, not a model run.
ATTACK = {"attack": "pgd", "eps": 4, "steps": 10}
ADVERSARIAL_CONSENT = (
    "This is a demonstration of SecondLook. You will see photos, some of them altered to fool an "
    "image classifier, and answer a short question about each. It takes about **three minutes**. "
    "Your answers are stored under a random pseudonym and used only to show how the software "
    "works. You may stop at any time."
)
STUDIES = [
    {
        "slug": DEMO_SLUG,
        "title": "Do these labels describe the photo? (demo)",
        "k": 5,
        "consent_text": CONSENT,
        "instructions": INSTRUCTIONS,
        "completion_code": "DEMO-DONE",
    },
    {
        "slug": "demo-label-check",
        "title": "Is the model's label right? With a heatmap (demo)",
        "task_kind": "label_check",
        "stimuli": "both",
        "attack": ATTACK,
        "explanation_display": "side_by_side",
        "practice_trials": 2,
        "attention_checks": 1,
        "consent_text": ADVERSARIAL_CONSENT,
        "instructions": (
            "Each photo comes with the label a classifier gave it and, beside it, a heatmap of where "
            "the classifier looked. Answer **Yes** if the label is a reasonable description of the "
            "photo, **No** if not, then say how sure you are (1–5). The first two photos are practice."
        ),
        "completion_code": "DEMO-LABELS",
    },
    {
        "slug": "demo-label-toggle",
        "title": "Is the model's label right? Heatmap on request (demo)",
        "task_kind": "label_check",
        "stimuli": "adversarial",
        "attack": ATTACK,
        "explanation_display": "toggle",
        "consent_text": ADVERSARIAL_CONSENT,
        "instructions": (
            "Each photo comes with the label a classifier gave it. You can open a heatmap of where "
            "the classifier looked. Answer **Yes** if the label is a reasonable description of the "
            "photo, **No** if not, then say how sure you are (1–5)."
        ),
        "completion_code": "DEMO-TOGGLE",
    },
    {
        "slug": "demo-forced-choice",
        "title": "Which label fits better? (demo)",
        "task_kind": "forced_choice",
        "stimuli": "adversarial",
        "attack": ATTACK,
        "consent_text": ADVERSARIAL_CONSENT,
        "instructions": "Pick the label that describes the photo better, then say how sure you are (1–5).",
        "completion_code": "DEMO-CHOICE",
    },
    {
        "slug": "demo-manipulation",
        "title": "Was this photo altered? (demo)",
        "task_kind": "manipulation_check",
        "stimuli": "both",
        "attack": ATTACK,
        "consent_text": ADVERSARIAL_CONSENT,
        "instructions": (
            "Some photos were altered very slightly to fool an image classifier. For each photo, "
            "say whether you think it was altered, then how sure you are (1–5)."
        ),
        "completion_code": "DEMO-ALTERED",
    },
]


def ensure_demo_studies(image_set: ImageSet, classifier: Classifier) -> list[Study]:
    """The demo's studies, created once (an existing one keeps its settings)."""
    found = []
    for spec in STUDIES:
        fields = {k: v for k, v in spec.items() if k != "slug"}
        study, _ = Study.objects.get_or_create(
            slug=spec["slug"],
            defaults={
                "image_set": image_set,
                "classifier": classifier,
                "images_per_participant": 8,
                **fields,
            },
        )
        found.append(study)
    return found


# The three studies of the 2018 paper, from the presets, on the bundled photos.
PAPER_STUDIES = [
    ("demo-paper-topk", "topk-mistakes", []),
    ("demo-paper-adversarial", "adversarial-explanations", []),
    ("demo-paper-bias", "bias-audit", ["basketball"]),
]


def ensure_paper_studies(image_set: ImageSet, classifier: Classifier) -> list[Study]:
    found = []
    for slug, preset, classes in PAPER_STUDIES:
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            study = presets.create(
                preset, slug, image_set, classifier, audit_classes=classes, images_per_participant=8
            )
        found.append(study)
    return found


def fit_sessions(study: Study) -> Study:
    """A demo session is as long as the bundled photos allow (24 photos, few of them mistakes)."""
    if study.status != Study.Status.DRAFT:
        return study
    sources = len({item["image"].pk for item in lifecycle.readiness(study).items})
    if 0 < sources < study.images_per_participant:
        study.images_per_participant = sources
        study.save(update_fields=["images_per_participant"])
    return study


def go_live(study: Study) -> Study:
    if study.status in (Study.Status.DRAFT, Study.Status.CLOSED):
        lifecycle.launch(study)
    elif study.status == Study.Status.PAUSED:
        lifecycle.resume(study)
    study.refresh_from_db()
    return study
