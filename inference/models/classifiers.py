"""Classifiers: exactly which weights and preprocessing a study's stimuli came from."""

from django.db import models

from inference.labelsets import LabelSet, get_label_set


class Classifier(models.Model):
    class Source(models.TextChoices):
        BUNDLED = "bundled", "Bundled with SecondLook"
        TORCHVISION = "torchvision", "torchvision model with local weights"
        TIMM = "timm", "timm model with a local checkpoint"
        TORCHSCRIPT = "torchscript", "TorchScript file"

    name = models.SlugField(max_length=100, unique=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    architecture = models.CharField(max_length=100, blank=True)
    weights_path = models.CharField(max_length=500, blank=True)
    weights_sha256 = models.CharField(max_length=64)
    preprocessing = models.JSONField(help_text="resize, crop, interpolation, mean, std")
    label_set = models.CharField(
        max_length=50,
        default="imagenet-1k",
        help_text="'imagenet-1k', or 'custom' for the class names stored with the classifier.",
    )
    class_names = models.JSONField(null=True, blank=True)
    num_classes = models.PositiveIntegerField()
    library_versions = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def labels(self) -> LabelSet:
        """The classes by output index, as participants and exports name them."""
        if self.label_set == "custom":
            names = list(self.class_names or [])
            return LabelSet("custom", names, names)
        return get_label_set(self.label_set)
