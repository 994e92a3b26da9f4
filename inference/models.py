"""Images, classifiers and what workers compute from them.

The web tier reads these rows; only workers (and the embedded in-process runner) write
predictions, so nothing here imports torch.
"""

import os
import socket

from django.db import models
from django.utils import timezone


class ImageSet(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    images = models.ManyToManyField("Image", related_name="image_sets", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Image(models.Model):
    """One stored image file, content-addressed: the sha256 is of the stored bytes."""

    sha256 = models.CharField(max_length=64, unique=True)
    file = models.FileField(upload_to="images/", max_length=200)
    format = models.CharField(max_length=10, help_text="PNG or JPEG, as stored.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    true_class = models.CharField(
        max_length=32, blank=True, help_text="Ground-truth class id (e.g. WordNet id), if known."
    )
    true_label = models.CharField(max_length=200, blank=True)
    original_name = models.CharField(max_length=500, help_text="Path the image was imported from.")
    conversion = models.CharField(
        max_length=100, blank=True, help_text="How the file was converted on import, e.g. 'CMYK→RGB'."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.sha256[:12]})"

    @property
    def stimulus_path(self) -> str:
        """URL path of the immutable, content-addressed stimulus (see inference.views)."""
        return f"/stimuli/{self.sha256}.{self.extension}"

    @property
    def extension(self) -> str:
        return "jpg" if self.format == "JPEG" else "png"


class Classifier(models.Model):
    class Source(models.TextChoices):
        BUNDLED = "bundled", "Bundled with SecondLook"

    name = models.SlugField(max_length=100, unique=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    architecture = models.CharField(max_length=100)
    weights_path = models.CharField(max_length=500)
    weights_sha256 = models.CharField(max_length=64)
    preprocessing = models.JSONField(help_text="resize, crop, interpolation, mean, std")
    label_set = models.CharField(max_length=50, default="imagenet-1k")
    num_classes = models.PositiveIntegerField()
    library_versions = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class PreparationJob(models.Model):
    """One request to compute what a set of images needs under one classifier.

    The row is the source of truth for progress: workers update it, the admin and
    `manage.py prepare` read it. Tasks receive only its id.
    """

    class Kind(models.TextChoices):
        PREDICTIONS = "predictions", "Top-k predictions"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PREDICTIONS)
    image_set = models.ForeignKey(ImageSet, on_delete=models.CASCADE, related_name="jobs")
    classifier = models.ForeignKey(Classifier, on_delete=models.CASCADE, related_name="jobs")
    k = models.PositiveSmallIntegerField(default=5)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process that ran it.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.image_set} with {self.classifier}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    def mark_running(self, total: int) -> None:
        self.status, self.total, self.message = self.Status.RUNNING, total, ""
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.started_at = self.started_at or timezone.now()
        self.save(update_fields=["status", "total", "message", "worker", "started_at"])

    def mark_done(self) -> None:
        self.status, self.finished_at = self.Status.DONE, timezone.now()
        self.save(update_fields=["status", "finished_at"])

    def mark_failed(self, message: str) -> None:
        self.status, self.message, self.finished_at = self.Status.FAILED, message, timezone.now()
        self.save(update_fields=["status", "message", "finished_at"])


class Prediction(models.Model):
    """The classifier's top-k for one image. One row per (image, classifier)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="predictions")
    classifier = models.ForeignKey(Classifier, on_delete=models.CASCADE, related_name="predictions")
    # [{"rank": 1, "index": 967, "class_id": "n07920052", "label": "espresso", "prob": 0.95}, ...]
    topk = models.JSONField()
    job = models.ForeignKey(PreparationJob, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "classifier"], name="one_prediction_per_image")
        ]

    def __str__(self) -> str:
        top = self.topk[0] if self.topk else {}
        return f"{self.image_id}: {top.get('label')} ({top.get('prob', 0):.2f})"

    @property
    def k(self) -> int:
        return len(self.topk)
