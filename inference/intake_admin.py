"""The admin's pages for what researchers bring in from the browser: a zip archive of
images uploaded on an image set's page, and a classifier registered from *Classifiers →
Add*. The forms check what the web process can check (size, that an archive opens, the
fields' values) and queue the rest (inference.services.image_imports,
.classifier_registrations); the pages show the work's progress and its outcome, and
refresh themselves while it runs.

inference/admin.py, which Django's autodiscovery imports, imports this module."""

import json
from functools import update_wrapper
from pathlib import PurePosixPath

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.csrf import csrf_exempt

from inference import uploads
from inference.engine.preprocessing_params import Preprocessing
from inference.models import ClassifierRegistration, ImageImport, ImageSet, ImportedFile
from inference.services import classifier_registrations, image_imports
from inference.services.images import ImportSourceError

# Refreshes the parts of a page marked data-refresh-while-running (no inline script).
REFRESH_SCRIPT = forms.Script("js/admin/refresh_while_running.js", type="module")
# Files listed per outcome on an image set's page; the import's own page lists them all.
LISTED_ON_THE_SET = 100


class SizeLimitedUploadsAdmin(admin.ModelAdmin):
    """Add and change pages whose file fields have size limits (`upload_limits`): a file
    over its limit is never stored past the limit, and the form says so
    (uploads.MarkOversizeFiles).

    The limit must be in place before Django's CSRF middleware reads the form, which it
    does before any view runs. So these two views are exempt from the middleware's check,
    and the CSRF check runs inside them instead, once the limit is in place: the admin
    wraps every view of its own in csrf_protect (AdminSite.admin_view)."""

    def upload_limits(self) -> dict[str, int]:
        raise NotImplementedError

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        limited = [
            path("add/", self._limited(self.add_view), name=f"{name}_add"),
            path("<path:object_id>/change/", self._limited(self.change_view), name=f"{name}_change"),
        ]
        # Earlier patterns win: these stand in for the default add and change views.
        return limited + super().get_urls()

    def _limited(self, view):
        protected = self.admin_site.admin_view(view)

        def limited(request, *args, **kwargs):
            uploads.mark_oversize_files(request, self.upload_limits())
            return protected(request, *args, **kwargs)

        limited.model_admin = self
        return csrf_exempt(update_wrapper(limited, view))


def refuse_oversize(upload, limit: int) -> None:
    if upload is not None and upload.size > limit:
        raise ValidationError(
            f"{upload.name} ({upload.size:,} bytes) is larger than the upload limit of {limit:,} bytes."
        )


class ImageSetForm(forms.ModelForm):
    """The set's own fields, for whoever may change it. `shown_at` remembers when the page
    was shown: images an import adds after that were not on the page, so saving the page
    must not take them out of the set (ImageSetAdmin.save_related)."""

    shown_at = forms.DateTimeField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = ImageSet
        fields = ["name", "description", "images"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["shown_at"] = timezone.now()


class ImageSetUploadForm(ImageSetForm):
    """With an upload, for whoever may also add images to the set."""

    upload = forms.FileField(
        required=False,
        label="Add images",
        help_text=(
            "A zip archive: class folders (named by WordNet id such as n01440764, or by class name) "
            "holding image files, or files at its top for images without a class; or a manifest.csv "
            "at its top (header path,label) with the files it names. It is imported in the "
            "background: this page shows its progress and each rejected file with its reason."
        ),
    )

    class Meta(ImageSetForm.Meta):
        fields = ["name", "description", "upload", "images"]

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        if upload is None:
            return None
        refuse_oversize(upload, settings.SECONDLOOK_MAX_UPLOAD_BYTES)
        name = PurePosixPath(upload.name).name
        with uploads.stored_path(upload) as stored:
            try:
                image_imports.check_upload(stored, name)
            except ImportSourceError as error:
                raise ValidationError(str(error)) from None
        return upload


def import_status(image_import: ImageImport) -> str:
    counts = image_import.counts()
    judged = counts["imported"] + counts["duplicate"] + counts["rejected"]
    progress = ""
    if image_import.status == ImageImport.Status.RUNNING and image_import.total:
        progress = format_html(
            ' <progress max="{}" value="{}"></progress> {}/{}',
            image_import.total,
            judged,
            judged,
            image_import.total,
        )
    return format_html(
        "<strong>{}</strong>{}: {} imported, {} already stored, {} rejected{}",
        image_import.get_status_display(),
        progress,
        counts["imported"],
        counts["duplicate"],
        counts["rejected"],
        f". {image_import.message}" if image_import.status == ImageImport.Status.FAILED else "",
    )


def import_files(image_import: ImageImport, limit: int | None = None) -> str:
    """Each rejected file with its reason, then the files that went in, as lists."""
    sections = []
    for outcome, title in (
        (ImportedFile.Outcome.REJECTED, "rejected"),
        (ImportedFile.Outcome.IMPORTED, "imported"),
        (ImportedFile.Outcome.DUPLICATE, "already stored, added to the set"),
    ):
        files = image_import.files.filter(outcome=outcome)
        total = files.count()
        if not total:
            continue
        shown = files[:limit] if limit else files
        items = format_html_join(
            "", "<li>{}{}</li>", ((f.name, f": {f.reason}" if f.reason else "") for f in shown)
        )
        more = ""
        if limit and total > limit:
            url = reverse("admin:inference_imageimport_change", args=[image_import.pk])
            more = format_html('<li><a href="{}">… and {} more</a></li>', url, total - limit)
        sections.append(
            format_html(
                "<details{}><summary>{} {}</summary><ul>{}{}</ul></details>",
                " open" if outcome == ImportedFile.Outcome.REJECTED else "",
                total,
                title,
                items,
                more,
            )
        )
    return format_html_join("", "{}", ((section,) for section in sections))


def live(element_id: str, running: bool, content: str) -> str:
    """A block that refresh_while_running.js re-reads from the server while `running`."""
    state = "true" if running else "false"
    return format_html('<div id="{}" data-refresh-while-running="{}">{}</div>', element_id, state, content)


def image_set_uploads(image_set: ImageSet) -> str:
    """The set's latest import in full (progress, counts, files), earlier ones in a line each."""
    imports = list(image_set.imports.all()[:6])
    if not imports:
        return live("image-set-uploads", False, "No uploads yet.")
    latest, earlier = imports[0], imports[1:]
    content = format_html(
        "<p>{} ({} bytes, {}): {}</p>{}",
        _import_link(latest),
        f"{latest.size:,}",
        timezone.localtime(latest.created_at).strftime("%Y-%m-%d %H:%M"),
        import_status(latest),
        import_files(latest, limit=LISTED_ON_THE_SET),
    )
    if earlier:
        rows = ((_import_link(row), import_status(row)) for row in earlier)
        lines = format_html_join("", "<li>{}: {}</li>", rows)
        content = format_html("{}<p>Earlier uploads:</p><ul>{}</ul>", content, lines)
    return live("image-set-uploads", any(not row.is_finished for row in imports), content)


def _import_link(image_import: ImageImport) -> str:
    url = reverse("admin:inference_imageimport_change", args=[image_import.pk])
    return format_html('<a href="{}">{}</a>', url, image_import.original_name)


@admin.register(ImageImport)
class ImageImportAdmin(admin.ModelAdmin):
    """One upload's import, read-only: made on the image set's page."""

    list_display = ["original_name", "image_set", "status", "requested_by", "created_at"]
    list_filter = ["status"]
    list_select_related = ["image_set", "requested_by"]
    fields = [
        "image_set",
        "original_name",
        "size",
        "requested_by",
        "outcome",
        "created_at",
        "started_at",
        "finished_at",
        "attempts",
    ]
    readonly_fields = fields

    class Media:
        js = [REFRESH_SCRIPT]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Whoever sees the image sets sees how images came into them.
        return super().has_view_permission(request, obj) or request.user.has_perm("inference.view_imageset")

    @admin.display(description="outcome")
    def outcome(self, image_import):
        return live(
            "image-import",
            not image_import.is_finished,
            format_html("<p>{}</p>{}", import_status(image_import), import_files(image_import)),
        )


REGISTRATION_FIELDS = [
    "name",
    "source",
    "architecture",
    "weights_file",
    "weights_path",
    "label_set",
    "preprocessing",
]


class ClassifierRegistrationForm(forms.ModelForm):
    # Text rather than a JSON field: empty means "none", and the value is checked here.
    preprocessing = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text='JSON, e.g. {"resize": 256, "crop": 224, "interpolation": "bilinear", '
        '"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}. Empty: the publisher\'s '
        "(torchvision, timm); TorchScript needs it.",
    )

    class Meta:
        model = ClassifierRegistration
        fields = REGISTRATION_FIELDS
        help_texts = {
            "name": "A short name, e.g. resnet101-mylab.",
            "architecture": "e.g. resnet101 (torchvision) or convnext_tiny (timm); for TorchScript, a label.",
            "weights_file": "The weights: a state dict (.pth, .bin, .safetensors) or a TorchScript file.",
            "weights_path": "Or the weights' path on the worker's disk, e.g. /data/weights/resnet101.pth. "
            "Neither, for torchvision: the torch hub cache on the worker.",
            "label_set": "ImageNet-1k, or the model's own class names (torchvision and timm models "
            "name theirs).",
        }

    def clean_name(self):
        name = self.cleaned_data["name"]
        problem = classifier_registrations.name_problem(name)
        if problem:
            raise ValidationError(problem)
        return name

    def clean_weights_file(self):
        upload = self.cleaned_data.get("weights_file")
        refuse_oversize(upload, settings.SECONDLOOK_MAX_WEIGHTS_BYTES)
        return upload

    def clean_weights_path(self):
        value = self.cleaned_data.get("weights_path", "").strip()
        if value and not value.startswith("/"):
            raise ValidationError("Give the full path on the worker's disk, starting with /.")
        return value

    def clean_preprocessing(self):
        text = self.cleaned_data.get("preprocessing", "").strip()
        if not text:
            return None
        try:
            return Preprocessing.from_dict(json.loads(text)).to_dict()
        except json.JSONDecodeError as error:
            raise ValidationError(f"Not valid JSON: {error}.") from None
        except ValueError as error:
            raise ValidationError(f"{error}.") from None

    def clean(self):
        data = super().clean()
        source, weights = data.get("source"), (data.get("weights_file"), data.get("weights_path"))
        if all(weights):
            self.add_error("weights_path", "Upload the weights or give their path, not both.")
        elif source in ("timm", "torchscript") and not any(weights) and "weights_file" not in self.errors:
            self.add_error(
                "weights_file", f"Source {source} needs a weights file: upload it, or give its path."
            )
        if source in ("torchvision", "timm") and not data.get("architecture"):
            self.add_error("architecture", f"Source {source} needs the architecture's name.")
        if source == "torchscript" and not data.get("preprocessing") and "preprocessing" not in self.errors:
            self.add_error("preprocessing", "A TorchScript file does not carry its preprocessing: give it.")
        return data


@admin.register(ClassifierRegistration)
class ClassifierRegistrationAdmin(SizeLimitedUploadsAdmin):
    """*Classifiers → Add* leads here. Registering a classifier needs the permission to add
    classifiers; the registration's page then shows the outcome, read-only."""

    form = ClassifierRegistrationForm
    list_display = ["name", "source", "architecture", "status", "classifier", "created_at"]
    list_filter = ["status", "source"]
    outcome_fields = ["outcome", "classifier", "requested_by", "created_at", "started_at", "finished_at"]

    class Media:
        js = [REFRESH_SCRIPT]

    def upload_limits(self) -> dict[str, int]:
        return {"weights_file": settings.SECONDLOOK_MAX_WEIGHTS_BYTES}

    def has_add_permission(self, request):
        return request.user.has_perm("inference.add_classifier")

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or request.user.has_perm("inference.add_classifier")

    def has_change_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        return REGISTRATION_FIELDS if obj is None else [*self.outcome_fields, *REGISTRATION_FIELDS]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.outcome_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        row = classifier_registrations.request_registration(**form.cleaned_data, user=request.user)
        # The admin goes on to the page of this object: the registration just made.
        obj.pk = row.pk

    def response_add(self, request, obj, post_url_continue=None):
        # The registration's page shows how it goes, whichever button was pressed.
        self.message_user(request, f"{obj.name} is being registered: this page shows how it goes.")
        return redirect("admin:inference_classifierregistration_change", obj.pk)

    @admin.display(description="outcome")
    def outcome(self, registration):
        running = not registration.is_finished
        text = registration.message or "Waiting for a worker to load and check the weights…"
        return live(
            "classifier-registration",
            running,
            format_html("<strong>{}</strong>: {}", registration.get_status_display(), text),
        )


def registrations_of(classifier) -> str:
    """For the classifier's page: the registration it came from, if made in the browser."""
    rows = list(classifier.registrations.all())
    if not rows:
        return "—"
    url = "admin:inference_classifierregistration_change"
    return format_html_join(
        ", ", '<a href="{}">{}</a>', ((reverse(url, args=[row.pk]), f"{row}: {row.message}") for row in rows)
    )
