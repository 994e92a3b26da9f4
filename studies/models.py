"""The study domain: a study, its frozen versions and items, participants, their trials
and responses.

Invariants kept by the database, not only by code: a participant gets an item at most
once and has one trial per position; a trial has at most one response; a recruit (same
identity parameter) is at most one participant of a study.
"""

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone


def new_completion_code() -> str:
    return secrets.token_hex(4).upper()


def new_seed() -> int:
    return secrets.randbelow(2**31)


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        LIVE = "live"
        PAUSED = "paused"
        CLOSED = "closed"

    class TaskKind(models.TextChoices):
        TOPK_SELECT = "topk_select", "Which of the model's top-k labels describe the image"

    slug = models.SlugField(
        max_length=80, unique=True, help_text="Appears in the participant link /s/<slug>/."
    )
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    task_kind = models.CharField(max_length=30, choices=TaskKind.choices, default=TaskKind.TOPK_SELECT)
    image_set = models.ForeignKey("inference.ImageSet", on_delete=models.PROTECT)
    classifier = models.ForeignKey("inference.Classifier", on_delete=models.PROTECT)
    k = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="How many of the model's top predictions participants judge.",
    )
    images_per_participant = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="Trials in one session."
    )
    prompt = models.CharField(
        max_length=300,
        default="Which of these labels describe the image? Select every one that applies.",
    )
    consent_text = models.TextField(
        help_text="Shown before anything else; participants must agree to continue."
    )
    consent_version = models.PositiveIntegerField(
        default=1, help_text="Raise it when the consent text changes; each answer records it."
    )
    instructions = models.TextField(blank=True, help_text="Shown after consent, before the first trial.")
    completion_code = models.CharField(
        max_length=50, default=new_completion_code, help_text="Shown when a participant completes."
    )
    redirect_url = models.URLField(
        blank=True, help_text="Where completed participants are sent (e.g. Prolific's completion URL)."
    )

    class Platform(models.TextChoices):
        ANONYMOUS = "anonymous", "Anonymous link"
        PROLIFIC = "prolific", "Prolific (PROLIFIC_PID, STUDY_ID, SESSION_ID)"
        MTURK = "mturk", "Amazon Mechanical Turk (workerId, assignmentId, hitId, turkSubmitTo)"
        CUSTOM = "custom", "Other: the identity parameter below"

    platform = models.CharField(
        max_length=20,
        choices=Platform.choices,
        default=Platform.ANONYMOUS,
        help_text="Where participants come from: decides which URL parameter identifies a recruit "
        "and where completed participants are sent back to.",
    )
    no_consent_code = models.CharField(
        max_length=50,
        blank=True,
        help_text="Shown to those who decline consent (e.g. Prolific's NOCONSENT code).",
    )
    no_consent_redirect_url = models.URLField(blank=True, help_text="Where those who decline consent go.")
    withdrawn_code = models.CharField(max_length=50, blank=True, help_text="Shown to those who withdraw.")
    withdrawn_redirect_url = models.URLField(blank=True, help_text="Where those who withdraw go.")
    identity_param = models.CharField(
        max_length=50,
        blank=True,
        validators=[RegexValidator(r"^[A-Za-z0-9_]+$")],
        help_text="For platform 'other': the URL parameter that identifies a recruit. "
        "A recruit who comes back resumes their session.",
    )
    seed = models.PositiveIntegerField(default=new_seed, help_text="Seeds every random choice.")
    current_version = models.ForeignKey(
        "StudyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def participant_path(self) -> str:
        return f"/s/{self.slug}/"


class StudyVersion(models.Model):
    """The configuration a participant actually ran under, frozen at launch."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    config = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "number"], name="one_version_number")]

    def __str__(self) -> str:
        return f"{self.study.slug} v{self.number}"


class Item(models.Model):
    """One thing to judge: an image with the labels shown for it, frozen at launch."""

    version = models.ForeignKey(StudyVersion, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey("inference.Image", on_delete=models.PROTECT)
    prediction = models.ForeignKey("inference.Prediction", on_delete=models.PROTECT)
    # [{"id": "n07920052", "text": "espresso", "rank": 1, "prob": 0.95}, ...] by rank.
    labels = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "image"], name="one_item_per_image")]

    def __str__(self) -> str:
        return f"item {self.pk} ({self.image.original_name})"


class Participant(models.Model):
    class Status(models.TextChoices):
        CONSENT = "consent", "Reading consent"
        ACTIVE = "active", "Judging"
        COMPLETED = "completed"
        NO_CONSENT = "no_consent", "Did not consent"
        WITHDRAWN = "withdrawn"

    FINISHED = (Status.COMPLETED, Status.NO_CONSENT, Status.WITHDRAWN)

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    version = models.ForeignKey(StudyVersion, on_delete=models.PROTECT, related_name="participants")
    pseudonym = models.CharField(max_length=32, unique=True)
    # sha256 of the bearer token: a leaked database does not leak usable tokens.
    token_hash = models.CharField(max_length=64, unique=True)
    # Keyed hash of the identity parameter (e.g. PROLIFIC_PID); the raw value lives only in
    # Recruitment. Empty for anonymous links.
    identity_hash = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CONSENT)
    seed = models.PositiveIntegerField(default=new_seed)
    consent_version = models.PositiveIntegerField(null=True, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "identity_hash"],
                condition=~models.Q(identity_hash=""),
                name="one_participant_per_recruit",
            )
        ]

    def __str__(self) -> str:
        return self.pseudonym

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def finish(self, status: str) -> None:
        self.status, self.finished_at = status, timezone.now()
        self.save(update_fields=["status", "finished_at"])


class Recruitment(models.Model):
    """The raw URL parameters a participant arrived with (recruitment platform ids).

    Kept apart from everything else so that exports and logs carry only the pseudonym."""

    participant = models.OneToOneField(Participant, on_delete=models.CASCADE, related_name="recruitment")
    params = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"recruitment of {self.participant_id}"


class Trial(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    index = models.PositiveIntegerField()
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="trials")
    kind = models.CharField(max_length=30)
    # The options in the order shown: [{"id": "n07920052", "text": "espresso"}, ..., {"id": "none", ...}]
    options = models.JSONField()
    presented_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["participant", "index"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "index"], name="one_trial_per_position"),
            models.UniqueConstraint(fields=["participant", "item"], name="item_once_per_participant"),
        ]

    def __str__(self) -> str:
        return f"{self.participant} #{self.index}"


class Response(models.Model):
    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="response")
    answer = models.JSONField()
    rt_ms = models.PositiveIntegerField(help_text="Milliseconds from the image being shown to the answer.")
    client = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=100)
    # The body sent for the first submission, returned as-is to replays of the same key.
    receipt = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"response to {self.trial}"


class AuditLog(models.Model):
    """Events that remove or change data, kept after the data itself is gone."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="audit_log")
    participant_pseudonym = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=50)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.participant_pseudonym}".strip()
