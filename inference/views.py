from django.db.models import Q
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from inference.models import AdversarialImage, Explanation, Image, ModelInput


def _stored_file(sha256: str, extension: str):
    """The stored file whose content has this sha256: an imported image, a model input,
    an adversarial image or an explanation overlay (either normalisation)."""
    image = Image.objects.filter(sha256=sha256).first()
    if image is not None:
        return image.file if image.extension == extension else None
    if extension != "png":
        return None
    for model in (ModelInput, AdversarialImage):
        row = model.objects.filter(sha256=sha256).first()
        if row is not None:
            return row.file
    # An explanation has two overlays (per image set and per image); either may be asked for.
    explanation = Explanation.objects.filter(
        Q(overlay_sha256=sha256) | Q(image_overlay_sha256=sha256)
    ).first()
    if explanation is None:
        return None
    return explanation.overlay if explanation.overlay_sha256 == sha256 else explanation.image_overlay


@require_GET
def stimulus(request, sha256: str, extension: str):
    """An image file by content hash. The URL can never point at other bytes, so the
    browser may cache it forever; participant pages check the hash after loading."""
    stored = _stored_file(sha256, extension)
    if stored is None:
        raise Http404("No such stimulus.")
    try:
        handle = stored.open("rb")
    except FileNotFoundError:
        raise Http404("No such stimulus.") from None
    response = FileResponse(handle, content_type="image/jpeg" if extension == "jpg" else "image/png")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response
