from django.contrib import admin
from django.utils.html import format_html

from inference.models import Classifier, Image, ImageSet, Prediction, PreparationJob


@admin.register(ImageSet)
class ImageSetAdmin(admin.ModelAdmin):
    list_display = ["name", "image_count", "created_at"]
    filter_horizontal = ["images"]

    @admin.display(description="images")
    def image_count(self, image_set):
        return image_set.images.count()


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "original_name", "true_label", "width", "height", "conversion"]
    search_fields = ["original_name", "true_label", "true_class", "sha256"]
    readonly_fields = [
        "thumbnail",
        "sha256",
        "file",
        "format",
        "width",
        "height",
        "original_name",
        "conversion",
    ]

    def has_add_permission(self, request):
        # Images enter through the import rules (command or upload endpoint), never as a
        # bare row whose file and hash could disagree.
        return False

    @admin.display(description="image")
    def thumbnail(self, image):
        return format_html('<img src="{}" style="max-height:64px">', image.stimulus_path)


@admin.register(Classifier)
class ClassifierAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "architecture", "short_sha256", "num_classes"]
    readonly_fields = ["weights_sha256", "library_versions", "created_at"]

    @admin.display(description="weights sha256")
    def short_sha256(self, classifier):
        return classifier.weights_sha256[:12]


@admin.register(PreparationJob)
class PreparationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "image_set", "classifier", "status", "progress", "message", "created_at"]
    list_filter = ["status", "kind"]
    readonly_fields = ["status", "total", "done", "message", "started_at", "finished_at"]

    @admin.display(description="progress")
    def progress(self, job):
        return f"{job.done}/{job.total}"


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["image", "classifier", "top1", "created_at"]
    list_filter = ["classifier"]
    list_select_related = ["image", "classifier"]
    readonly_fields = ["image", "classifier", "topk", "job"]

    @admin.display(description="top-1")
    def top1(self, prediction):
        top = prediction.topk[0]
        return f"{top['label']} ({top['prob']:.2f})"
