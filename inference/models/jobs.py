"""Preparation jobs: one row per request, one row per batch of images, one row per image
that failed.

The rows are the source of truth for progress: workers write them, the admin and
`manage.py prepare` read them. Tasks receive only ids. Progress is the sum over batches
of counts that each batch sets (never increments), so a batch that runs twice after a
crash cannot count its images twice.
"""

import os
import socket

from django.db import models
from django.db.models import Count, Q, Sum
from django.utils import timezone


class PreparationJob(models.Model):
    class Kind(models.TextChoices):
        PREDICTIONS = "predictions", "Top-k predictions"
        ADVERSARIAL = "adversarial", "Adversarial images"
        EXPLANATIONS = "explanations", "Explanation maps"
        FEATURES = "features", "Penultimate-layer features"
        PROTOTYPES = "prototypes", "Prototypes and criticisms per class"
        BIAS = "bias", "Other classes' images closest to a class by perturbation"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PREDICTIONS)
    image_set = models.ForeignKey("ImageSet", on_delete=models.CASCADE, related_name="jobs")
    classifier = models.ForeignKey("Classifier", on_delete=models.CASCADE, related_name="jobs")
    params = models.JSONField(default=dict, blank=True)
    # sha256 of the canonical kind + params: the same request is recognised as such.
    params_key = models.CharField(max_length=64)
    batch_size = models.PositiveSmallIntegerField(default=4)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid that last worked on it.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # Who needs it: request_job looks up unfinished jobs for the same work.
        indexes = [models.Index(fields=["image_set", "classifier", "kind", "params_key", "status"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.image_set} with {self.classifier}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    def counts(self) -> dict:
        totals = self.batches.aggregate(
            done=Sum("done"), failed=Sum("failed"), batches_done=Count("id", filter=Q(status="done"))
        )
        return {key: value or 0 for key, value in totals.items()}

    def progress(self) -> dict:
        """done / total, failures, rate (images per second) and seconds left, for display."""
        counts = self.counts()
        done, failed = counts["done"], counts["failed"]
        rate = eta = None
        if self.started_at and done + failed:
            end = self.finished_at or timezone.now()
            elapsed = max((end - self.started_at).total_seconds(), 1e-3)
            rate = (done + failed) / elapsed
            eta = max(self.total - done - failed, 0) / rate
        return {"done": done, "failed": failed, "total": self.total, "rate": rate, "eta_seconds": eta}

    def mark_running(self) -> None:
        updated = PreparationJob.objects.filter(pk=self.pk, status=self.Status.PENDING).update(
            status=self.Status.RUNNING, started_at=timezone.now()
        )
        PreparationJob.objects.filter(pk=self.pk).update(worker=f"{socket.gethostname()}:{os.getpid()}")
        if updated:
            self.refresh_from_db(fields=["status", "started_at", "worker"])

    def mark_done(self) -> None:
        self.status, self.finished_at = self.Status.DONE, timezone.now()
        self.save(update_fields=["status", "finished_at"])

    def mark_failed(self, message: str) -> None:
        self.status, self.message, self.finished_at = self.Status.FAILED, message, timezone.now()
        self.save(update_fields=["status", "message", "finished_at"])


class JobBatch(models.Model):
    """A slice of a job's images, run by one task. Re-running a batch skips what exists."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"

    job = models.ForeignKey(PreparationJob, on_delete=models.CASCADE, related_name="batches")
    index = models.PositiveIntegerField()
    image_ids = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_batch_per_index")]

    def __str__(self) -> str:
        return f"batch {self.index} of job {self.job_id}"


class JobError(models.Model):
    """An image a job could not process, with why. The job goes on with the others."""

    job = models.ForeignKey(PreparationJob, on_delete=models.CASCADE, related_name="errors")
    # The image's id, kept when the image itself is gone (deleted before it was prepared).
    image_ref = models.PositiveBigIntegerField()
    image = models.ForeignKey("Image", null=True, blank=True, on_delete=models.SET_NULL)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "image_ref"], name="one_error_per_image")]

    def __str__(self) -> str:
        return f"job {self.job_id}, image {self.image_ref}: {self.message[:60]}"
