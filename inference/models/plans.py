"""Preparation plans: everything one request needs prepared, as stages of jobs.

A stage is one kind of preparation with its parameters and the stages whose results it
reads. It gets its job (inference.services.jobs.request_job, so the same work is shared
with other plans and never queued twice) when every stage it needs is done; a stage
whose needs failed never starts and says why. The rows, not a process, hold the plan:
whoever notices that a job finished (the worker that finished it, the in-process runner,
a researcher asking again) advances it, and advancing twice changes nothing.
"""

from django.conf import settings
from django.db import models


class PreparationPlan(models.Model):
    # Who the plan is for, as the asker names it ("study:12"): the study's page shows its
    # latest plan without this app knowing about studies.
    subject = models.CharField(max_length=100, db_index=True)
    title = models.CharField(max_length=200, help_text="What the plan prepares, e.g. study 'pilot-1'.")
    image_set = models.ForeignKey("ImageSet", on_delete=models.CASCADE, related_name="+")
    classifier = models.ForeignKey("Classifier", on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # False when the process that asked runs the jobs itself (`manage.py prepare` in the
    # embedded default, with progress bars): advancing then creates jobs without sending them.
    dispatch = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"plan {self.pk}: {self.title}"


class PlanStage(models.Model):
    plan = models.ForeignKey(PreparationPlan, on_delete=models.CASCADE, related_name="stages")
    index = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20)
    params = models.JSONField(default=dict)
    needs = models.JSONField(default=list, help_text="Indexes of the stages whose results this one reads.")
    job = models.ForeignKey(
        "PreparationJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="stages"
    )

    class Meta:
        ordering = ["plan", "index"]
        constraints = [models.UniqueConstraint(fields=["plan", "index"], name="one_stage_per_index")]

    def __str__(self) -> str:
        return f"stage {self.index} ({self.kind}) of plan {self.plan_id}"
