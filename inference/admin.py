"""The researcher's view of images, classifiers and preparation: upload images into a set
and register classifiers (inference/intake_admin.py), ask for a preparation, watch its
progress (done / total, rate, time left, each failed image with its reason), and look at
what was computed."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.shortcuts import redirect
from django.utils.html import format_html

from inference.intake_admin import (
    REFRESH_SCRIPT,
    ImageSetForm,
    ImageSetUploadForm,
    SizeLimitedUploadsAdmin,
    image_set_uploads,
    registrations_of,
)
from inference.models import (
    AdversarialImage,
    Classifier,
    Embedding,
    Explanation,
    Image,
    ImageSet,
    JobError,
    Prediction,
    PreparationJob,
    PrototypeSet,
)
from inference.params import canonical_params
from inference.services import image_imports
from inference.services.jobs import request_job


class ReadOnlyAdmin(admin.ModelAdmin):
    """What workers compute: visible, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def thumbnail(path: str):
    return format_html('<img src="{}" style="max-height:64px">', path) if path else "—"


class StudyOwnedAdmin(admin.ModelAdmin):
    """Rows that studies are built on: changing or deleting one also asks the permission
    on the row itself, which studies grant only to whoever sees every study built on it
    (studies/auth_backends.py). Refused, the change page is read-only and a save is 403."""

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may(request, "delete", obj)

    def _may(self, request, action: str, obj) -> bool:
        if obj is None:
            return True
        codename = get_permission_codename(action, self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}", obj)


@admin.register(ImageSet)
class ImageSetAdmin(StudyOwnedAdmin, SizeLimitedUploadsAdmin):
    """Images come in here: a zip archive uploaded on the add page or a set's page is
    imported in the background, and the set's page shows how it went. Uploading into a set
    that studies are built on needs `inference.add_image` on the set, as the upload
    endpoint does (studies/auth_backends.py)."""

    list_display = ["name", "image_count", "created_at"]
    filter_horizontal = ["images"]

    class Media:
        js = [REFRESH_SCRIPT]

    def upload_limits(self) -> dict[str, int]:
        return {"upload": settings.SECONDLOOK_MAX_UPLOAD_BYTES}

    def may_upload(self, request, obj=None) -> bool:
        if obj is None:
            return request.user.has_perm("inference.add_image")
        return self.has_change_permission(request, obj) and request.user.has_perm("inference.add_image", obj)

    def get_form(self, request, obj=None, **kwargs):
        if self.may_upload(request, obj):
            kwargs["form"] = ImageSetUploadForm
        elif obj is None or self.has_change_permission(request, obj):
            kwargs["form"] = ImageSetForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        # The uploads' outcome next to the upload field, before the long list of images.
        order = ["name", "description", "uploads", "upload"]
        fields = super().get_fields(request, obj)
        return sorted(fields, key=lambda name: order.index(name) if name in order else len(order))

    def get_readonly_fields(self, request, obj=None):
        return ["uploads"] if obj else []

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        shown_at = form.cleaned_data.get("shown_at")
        if change and shown_at and "images" in form.cleaned_data:
            form.instance.images.add(*image_imports.arrived_since(form.instance, shown_at))
        if form.cleaned_data.get("upload"):
            upload = image_imports.request_import(form.instance, form.cleaned_data["upload"], request.user)
            # For response_add and response_change, which are not given the form.
            request.queued_image_import = upload

    def response_add(self, request, obj, post_url_continue=None):
        return self._to_the_upload(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._to_the_upload(request, obj) or super().response_change(request, obj)

    def _to_the_upload(self, request, obj):
        """After an upload, the set's page, which shows the import's progress, whichever
        button was pressed."""
        upload = getattr(request, "queued_image_import", None)
        if upload is None:
            return None
        self.message_user(
            request, f"{upload.original_name} is being imported into {obj}: this page shows how it goes."
        )
        return redirect("admin:inference_imageset_change", obj.pk)

    @admin.display(description="images")
    def image_count(self, image_set):
        return image_set.images.count()

    @admin.display(description="uploads")
    def uploads(self, image_set):
        return image_set_uploads(image_set)


@admin.register(Image)
class ImageAdmin(StudyOwnedAdmin):
    # Points to the image sets' pages, where uploads happen.
    change_list_template = "admin/inference/image/change_list.html"
    list_display = ["preview", "original_name", "true_label", "width", "height", "conversion"]
    search_fields = ["original_name", "true_label", "true_class", "sha256"]
    readonly_fields = [
        "preview",
        "sha256",
        "file",
        "format",
        "width",
        "height",
        "original_name",
        "conversion",
    ]

    def has_add_permission(self, request):
        # Images enter through the import rules (an upload on an image set's page, the
        # command or the upload endpoint), never as a bare row whose file and hash could
        # disagree.
        return False

    @admin.display(description="image")
    def preview(self, image):
        return thumbnail(image.stimulus_path)


@admin.register(Classifier)
class ClassifierAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "architecture", "short_sha256", "num_classes"]
    readonly_fields = [*(f.name for f in Classifier._meta.fields if f.name != "name"), "registration"]

    def add_view(self, request, form_url="", extra_context=None):
        # Registering loads and checks the weights, which needs torch: the web tier only
        # takes the request (a ClassifierRegistration) and a worker does the rest.
        return redirect("admin:inference_classifierregistration_add")

    @admin.display(description="registered in the browser")
    def registration(self, classifier):
        return registrations_of(classifier)

    @admin.display(description="weights sha256")
    def short_sha256(self, classifier):
        return classifier.weights_sha256[:12]


class JobRequestForm(forms.ModelForm):
    params = forms.JSONField(
        required=False,
        initial=dict,
        help_text='Parameters of this kind, e.g. {"k": 5} for predictions, '
        '{"attack": "pgd", "eps": 4, "steps": 10} for adversarial images. Defaults fill the rest.',
    )

    class Meta:
        model = PreparationJob
        fields = ["kind", "image_set", "classifier", "params"]

    def clean(self):
        data = super().clean()
        if data.get("classifier") and data.get("kind"):
            try:
                data["params"] = canonical_params(
                    data["kind"], data.get("params") or {}, data["classifier"].num_classes
                )
            except ValueError as error:
                self.add_error("params", str(error))
        return data


class JobErrorInline(admin.TabularInline):
    model = JobError
    fields = ["image_ref", "image", "message", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PreparationJob)
class PreparationJobAdmin(admin.ModelAdmin):
    form = JobRequestForm
    list_display = ["id", "kind", "image_set", "classifier", "status", "progress_bar", "rate", "time_left"]
    list_filter = ["status", "kind"]
    readonly_fields = [
        "status",
        "progress_bar",
        "rate",
        "time_left",
        "message",
        "worker",
        "started_at",
        "finished_at",
        "params_key",
    ]
    inlines = [JobErrorInline]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (["kind", "image_set", "classifier", "params"] if obj else [])

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["kind", "image_set", "classifier", "params"]
        return ["kind", "image_set", "classifier", "params", *self.readonly_fields]

    def get_inlines(self, request, obj=None):
        # The failed images belong to an existing job, not to the request form.
        return self.inlines if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            return
        job = request_job(obj.kind, obj.image_set, obj.classifier, form.cleaned_data["params"])
        # The admin redirects to this object; it may be an existing job for the same work.
        obj.pk = job.pk

    @staticmethod
    def _progress(job) -> dict:
        # Three columns show parts of it: one aggregate query per job, not three.
        if not hasattr(job, "_progress"):
            job._progress = job.progress()
        return job._progress

    @admin.display(description="progress")
    def progress_bar(self, job):
        p = self._progress(job)
        return format_html(
            '<progress max="{}" value="{}"></progress> {}/{} ({} failed)',
            max(p["total"], 1),
            p["done"] + p["failed"],
            p["done"],
            p["total"],
            p["failed"],
        )

    @admin.display(description="images/s")
    def rate(self, job):
        rate = self._progress(job)["rate"]
        return f"{rate:.1f}" if rate else "—"

    @admin.display(description="time left")
    def time_left(self, job):
        eta = self._progress(job)["eta_seconds"]
        if job.is_finished or eta is None:
            return "—"
        minutes, seconds = divmod(int(eta), 60)
        return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["image", "classifier", "top1", "created_at"]
    list_filter = ["classifier"]
    list_select_related = ["image", "classifier"]

    @admin.display(description="top-1")
    def top1(self, prediction):
        top = prediction.topk[0]
        return f"{top['label']} ({top['prob']:.2f})"


@admin.register(AdversarialImage)
class AdversarialImageAdmin(ReadOnlyAdmin):
    list_display = ["preview", "image", "classifier", "attack", "success", "linf", "l2", "top1"]
    list_filter = ["classifier", "success"]

    @admin.display(description="image")
    def preview(self, adversarial):
        return thumbnail(adversarial.stimulus_path)

    @admin.display(description="attack")
    def attack(self, adversarial):
        return ", ".join(f"{k}={v}" for k, v in sorted(adversarial.params.items()))

    @admin.display(description="prediction on the stored file")
    def top1(self, adversarial):
        top = adversarial.topk[0]
        return f"{top['label']} ({top['prob']:.2f})"


@admin.register(Explanation)
class ExplanationAdmin(ReadOnlyAdmin):
    list_display = ["preview", "image", "adversarial", "method", "target_class", "scale"]
    list_filter = ["classifier", "method"]

    @admin.display(description="overlay")
    def preview(self, explanation):
        return thumbnail(explanation.stimulus_path)


@admin.register(Embedding)
class EmbeddingAdmin(ReadOnlyAdmin):
    list_display = ["image", "classifier", "layer", "dim"]
    exclude = ["vector"]


@admin.register(PrototypeSet)
class PrototypeSetAdmin(ReadOnlyAdmin):
    list_display = ["class_id", "image_set", "classifier", "method", "created_at"]
    list_filter = ["method", "classifier"]
