"""Feature vectors and what is selected from them (prototypes and criticisms)."""

import numpy as np
from django.db import models


class Embedding(models.Model):
    """Penultimate-layer features of one image under one classifier (float32 bytes)."""

    PENULTIMATE = "penultimate"

    image = models.ForeignKey("Image", on_delete=models.CASCADE, related_name="embeddings")
    classifier = models.ForeignKey("Classifier", on_delete=models.CASCADE, related_name="+")
    layer = models.CharField(max_length=50, default=PENULTIMATE)
    dim = models.PositiveIntegerField()
    vector = models.BinaryField()
    job = models.ForeignKey("PreparationJob", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "classifier", "layer"], name="one_embedding")]

    def __str__(self) -> str:
        return f"{self.layer} features of {self.image_id}"

    def array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.vector), dtype="<f4")


class PrototypeSet(models.Model):
    """For one class of an image set: the images that represent it (prototypes) and the
    ones it represents worst (criticisms), in selection order, with their scores."""

    class Method(models.TextChoices):
        MMD_CRITIC = "mmd_critic", "MMD-critic in feature space"
        ADVERSARIAL_DISTANCE = "adversarial_distance", "Other classes' images closest by perturbation"

    image_set = models.ForeignKey("ImageSet", on_delete=models.CASCADE, related_name="prototype_sets")
    classifier = models.ForeignKey("Classifier", on_delete=models.CASCADE, related_name="+")
    class_index = models.IntegerField()
    class_id = models.CharField(max_length=64)
    method = models.CharField(max_length=30, choices=Method.choices)
    params = models.JSONField()
    params_key = models.CharField(max_length=64)
    prototypes = models.JSONField(default=list, help_text="Image ids, in selection order.")
    criticisms = models.JSONField(default=list, help_text="Image ids, in selection order.")
    scores = models.JSONField(default=dict, help_text="Per criticism: witness value or budget.")
    job = models.ForeignKey("PreparationJob", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["image_set", "classifier", "class_index", "method", "params_key"],
                name="one_prototype_set",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} for {self.class_id}"
