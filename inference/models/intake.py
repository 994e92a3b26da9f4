"""What researchers bring in from the browser: an archive of images for an image set, a
classifier's weights to register.

Each request is a row that one background task works on (inference.tasks), so that the
request that stores the upload returns at once. The row says how far the work got and how
it ended; tasks receive its id only. A task delivered twice finds a finished row and does
nothing; a task redelivered after its worker died finds the row running and goes on from
what the row records. Two tasks never work on one row at once: the task time limit ends a
task well before its broker would hand the message to another worker (settings).
"""

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from .classifiers import Classifier

# Every source but the bundled model, which registers itself.
SOURCES = [(value, label) for value, label in Classifier.Source.choices if value != Classifier.Source.BUNDLED]


class IntakeJob(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    message = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @classmethod
    def claim(cls, pk: int):
        """The row, marked running, for the task about to work on it; None when it is
        finished or gone, so that a task delivered twice does the work once."""
        with transaction.atomic():
            row = cls.objects.select_for_update().filter(pk=pk).first()
            if row is None or row.is_finished:
                return None
            row.status, row.attempts = cls.Status.RUNNING, row.attempts + 1
            row.started_at = row.started_at or timezone.now()
            row.save(update_fields=["status", "attempts", "started_at"])
        return row

    def mark_done(self, message: str = "") -> None:
        self.status, self.message, self.finished_at = self.Status.DONE, message, timezone.now()
        self.save(update_fields=["status", "message", "finished_at"])

    def mark_failed(self, message: str) -> None:
        self.status, self.message, self.finished_at = self.Status.FAILED, message, timezone.now()
        self.save(update_fields=["status", "message", "finished_at"])


class ImageImport(IntakeJob):
    """An uploaded zip archive imported into an image set under the import rules
    (inference.services.images); one ImportedFile per file judged."""

    image_set = models.ForeignKey("ImageSet", on_delete=models.CASCADE, related_name="imports")
    # Emptied once the import has run to its end (its images are stored by then) or found
    # the archive unreadable: a failed import is uploaded again rather than resumed.
    upload = models.FileField(upload_to="imports/", max_length=300, blank=True)
    original_name = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField(help_text="Bytes uploaded.")
    total = models.PositiveIntegerField(default=0, help_text="Files in the archive, once opened.")

    class Meta(IntakeJob.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.original_name} into {self.image_set}"

    def counts(self) -> dict[str, int]:
        """Files judged so far, by outcome, and how many are left."""
        rows = self.files.order_by().values("outcome").annotate(n=models.Count("id"))
        found = {row["outcome"]: row["n"] for row in rows}
        counts = {outcome: found.get(outcome, 0) for outcome in ImportedFile.Outcome.values}
        counts["left"] = max(self.total - sum(counts.values()), 0)
        return counts


class ImportedFile(models.Model):
    """What became of one file of an import: stored, already stored, or rejected and why."""

    class Outcome(models.TextChoices):
        IMPORTED = "imported"
        DUPLICATE = "duplicate", "already stored"
        REJECTED = "rejected"

    image_import = models.ForeignKey(ImageImport, on_delete=models.CASCADE, related_name="files")
    # The file's place in the archive's sorted listing: a resumed import skips the places
    # it has recorded. Names may repeat within a zip archive, places cannot.
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=500)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    image = models.ForeignKey("Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image_import", "position"]
        constraints = [
            models.UniqueConstraint(fields=["image_import", "position"], name="one_outcome_per_imported_file")
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.get_outcome_display()}"


class ClassifierRegistration(IntakeJob):
    """A request to register a classifier: the fields `manage.py register_classifier` takes,
    with the weights uploaded or named by a path on the worker's disk. Loading and checking
    the weights needs torch, so a worker (or the in-process runner) does it."""

    class LabelSet(models.TextChoices):
        IMAGENET_1K = "imagenet-1k", "ImageNet-1k"
        CUSTOM = "custom", "The model's own class names"

    name = models.SlugField(max_length=100)
    source = models.CharField(max_length=20, choices=SOURCES)
    architecture = models.CharField(max_length=100, blank=True)
    # On success the upload is the classifier's weights file; on failure it is deleted.
    weights_file = models.FileField(upload_to="weights/", max_length=300, blank=True)
    weights_path = models.CharField(max_length=500, blank=True, help_text="A path on the worker's disk.")
    label_set = models.CharField(max_length=50, choices=LabelSet.choices, default=LabelSet.IMAGENET_1K)
    preprocessing = models.JSONField(null=True, blank=True)
    classifier = models.ForeignKey(
        "Classifier", null=True, blank=True, on_delete=models.SET_NULL, related_name="registrations"
    )

    class Meta(IntakeJob.Meta):
        pass

    def __str__(self) -> str:
        return f"registration of {self.name}"
