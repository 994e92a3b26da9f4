"""Images and the sets researchers group them in."""

from django.db import models


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


class ImageTag(models.Model):
    """A researcher's annotation of an image (for example a demographic attribute), for
    prediction rates per tag in the bias explorer."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)
    value = models.CharField(max_length=200)

    class Meta:
        ordering = ["name", "value"]
        constraints = [models.UniqueConstraint(fields=["image", "name"], name="one_value_per_tag")]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
