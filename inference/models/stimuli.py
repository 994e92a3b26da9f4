"""What workers compute for each image: predictions, the model's view, adversarial
versions and explanation maps.

Each row is unique for what it was computed from (image, classifier and the canonical
parameters' key), so re-running a job finds its rows and skips them.
"""

from django.db import models
from django.db.models import Q


class Prediction(models.Model):
    """The classifier's top-k for one image. One row per (image, classifier)."""

    image = models.ForeignKey("Image", on_delete=models.CASCADE, related_name="predictions")
    classifier = models.ForeignKey("Classifier", on_delete=models.CASCADE, related_name="predictions")
    # [{"rank": 1, "index": 967, "class_id": "n07920052", "label": "espresso", "prob": 0.95}, ...]
    topk = models.JSONField()
    job = models.ForeignKey("PreparationJob", null=True, blank=True, on_delete=models.SET_NULL)
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


class StoredStimulus(models.Model):
    """A lossless 8-bit PNG that a participant may see, served at /stimuli/<sha256>.png."""

    file = models.FileField(upload_to="stimuli/", max_length=200)
    sha256 = models.CharField(max_length=64, db_index=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Meta:
        abstract = True

    @property
    def stimulus_path(self) -> str:
        return f"/stimuli/{self.sha256}.png"


class ModelInput(StoredStimulus):
    """The image as the classifier sees it (resized, centre-cropped, 8 bits): the clean
    stimulus of adversarial and explanation studies, so that clean and adversarial
    versions differ only by the perturbation."""

    image = models.ForeignKey("Image", on_delete=models.CASCADE, related_name="model_inputs")
    classifier = models.ForeignKey("Classifier", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "classifier"], name="one_model_input")]

    def __str__(self) -> str:
        return f"model input of {self.image_id} for {self.classifier_id}"


class AdversarialImage(StoredStimulus):
    """An adversarial version of a model input. Success, distances and the prediction are
    measured on the stored 8-bit file, re-read from storage."""

    image = models.ForeignKey("Image", on_delete=models.CASCADE, related_name="adversarial_images")
    classifier = models.ForeignKey("Classifier", on_delete=models.CASCADE, related_name="+")
    params = models.JSONField(help_text="attack, norm, eps (1/255), step, steps, targeting, seed…")
    params_key = models.CharField(max_length=64)
    attacked_class = models.IntegerField(help_text="The class the attack moved away from.")
    target_class = models.IntegerField(null=True, blank=True)
    success = models.BooleanField()
    linf = models.FloatField(help_text="L∞ distance to the model input, in 1/255 units.")
    l2 = models.FloatField(help_text="L2 distance to the model input, in [0, 1] pixel units.")
    topk = models.JSONField(help_text="The prediction on the stored file.")
    job = models.ForeignKey("PreparationJob", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "classifier", "params_key"], name="one_adversarial")
        ]

    def __str__(self) -> str:
        return f"{self.params.get('attack')} on {self.image_id} ({'success' if self.success else 'failed'})"


class Explanation(models.Model):
    """A saliency map of a model input or an adversarial image: the raw map (npy) and
    the overlay rendered with the job's shared normalisation scale."""

    image = models.ForeignKey("Image", on_delete=models.CASCADE, related_name="explanations")
    adversarial = models.ForeignKey(
        AdversarialImage, null=True, blank=True, on_delete=models.CASCADE, related_name="explanations"
    )
    classifier = models.ForeignKey("Classifier", on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=30)
    params = models.JSONField()
    params_key = models.CharField(max_length=64)
    target_class = models.IntegerField()
    raw = models.FileField(upload_to="explanations/", max_length=200)
    overlay = models.FileField(upload_to="explanations/", max_length=200, blank=True)
    overlay_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    scale = models.FloatField(null=True, blank=True, help_text="Relevance shown at full intensity.")
    # The same map rendered with its own range (the 99th percentile of this map alone), for
    # studies that normalise per image; `overlay` above uses the image set's scale.
    image_overlay = models.FileField(upload_to="explanations/", max_length=200, blank=True)
    image_overlay_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    image_scale = models.FloatField(
        null=True, blank=True, help_text="Relevance shown at full intensity in the per-image overlay."
    )
    job = models.ForeignKey("PreparationJob", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["image", "classifier", "params_key"],
                condition=Q(adversarial__isnull=True),
                name="one_clean_explanation",
            ),
            models.UniqueConstraint(
                fields=["adversarial", "params_key"],
                condition=Q(adversarial__isnull=False),
                name="one_adversarial_explanation",
            ),
        ]

    def __str__(self) -> str:
        subject = f"adversarial {self.adversarial_id}" if self.adversarial_id else f"image {self.image_id}"
        return f"{self.method} of {subject}"

    @property
    def stimulus_path(self) -> str:
        return f"/stimuli/{self.overlay_sha256}.png" if self.overlay_sha256 else ""

    @property
    def image_stimulus_path(self) -> str:
        return f"/stimuli/{self.image_overlay_sha256}.png" if self.image_overlay_sha256 else ""
