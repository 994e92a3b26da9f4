"""Who takes part and what they answered: participants, their recruitment parameters,
trials, responses, and the audit log of removed data."""

from django.db import models
from django.utils import timezone

from .design import Item, Study, StudyVersion, new_seed


class Participant(models.Model):
    class Status(models.TextChoices):
        CONSENT = "consent", "Reading consent"
        ACTIVE = "active", "Judging"
        COMPLETED = "completed"
        NO_CONSENT = "no_consent", "Did not consent"
        WITHDRAWN = "withdrawn"
        SCREENED_OUT = "screened_out", "Screened out"
        FULL = "full", "Study full (no place or no work left)"

    FINISHED = (Status.COMPLETED, Status.NO_CONSENT, Status.WITHDRAWN, Status.SCREENED_OUT, Status.FULL)

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

    class Kind(models.TextChoices):
        REAL = "real", "Participant"
        PILOT = "pilot", "Pilot participant"
        TEST = "test", "Researcher's preview"

    # Pilot and test participants never count toward quotas, K, analysis or default exports.
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REAL)
    condition = models.CharField(max_length=50, blank=True, help_text="Assigned at consent.")
    # Latin-square row for studies with within-subject blocks: which images go to which level.
    rotation = models.PositiveSmallIntegerField(null=True, blank=True)
    # An exclusion rule fired (see ExclusionEvent): not a valid participant any more.
    excluded = models.BooleanField(default=False)
    # Consent and every answer: a session idle past the study's timeout gives back its place.
    last_active_at = models.DateTimeField(null=True, blank=True)
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
    class Role(models.TextChoices):
        MAIN = "main", "Data"
        ATTENTION = "attention", "Attention check"
        PRACTICE = "practice", "Practice (not data)"
        GOLD = "gold", "Gold (known answer)"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    index = models.PositiveIntegerField()
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="trials")
    kind = models.CharField(max_length=30)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MAIN)
    block = models.CharField(max_length=50, blank=True, help_text="The within-subject level, if any.")
    prompt = models.CharField(max_length=500)
    # The options in the order shown: [{"id": "n07920052", "text": "espresso"}, ..., {"id": "none", ...}]
    options = models.JSONField()
    # Attention and practice trials: the answer asked for or the dataset's, never sent to
    # the browser before the answer: {"choice": id} or {"selected": [ids]}.
    expected = models.JSONField(null=True, blank=True)
    # What the trial shows (stimulus, explanation, confidence asked), decided at assignment:
    # services/presentation.py. Null for trials assigned before migration 0015.
    presentation = models.JSONField(null=True, blank=True)
    presented_at = models.DateTimeField(null=True, blank=True)
    # The browser could not load or verify the stimulus: the trial is skipped, not shown broken.
    problem = models.CharField(max_length=30, blank=True)
    problem_detail = models.CharField(max_length=200, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["participant", "index"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "index"], name="one_trial_per_position"),
            # Checks and practice reuse stimuli; an item is judged for data once per participant.
            models.UniqueConstraint(
                fields=["participant", "item"],
                condition=models.Q(role="main"),
                name="item_once_per_participant",
            ),
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
    """Events researchers must be able to see later: data removed or changed (kept after the
    data itself is gone) and every export, with who asked and what it had to write as text."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="audit_log")
    participant_pseudonym = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=50)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.participant_pseudonym}".strip()


class ExclusionEvent(models.Model):
    """An exclusion rule that fired for a participant, with the evidence it saw."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="exclusions")
    rule = models.CharField(max_length=30)
    mode = models.CharField(max_length=10, help_text="live: ended the session; posthoc: flagged it.")
    threshold = models.FloatField()
    evidence = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["participant", "rule"], name="one_firing_per_rule")]

    def __str__(self) -> str:
        return f"{self.rule} ({self.mode}) for {self.participant}"
