from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from inference.models import Image


@require_GET
def stimulus(request, sha256: str, extension: str):
    """An image file by content hash. The URL can never point at other bytes, so the
    browser may cache it forever; participant pages check the hash after loading."""
    image = Image.objects.filter(sha256=sha256).first()
    if image is None or image.extension != extension:
        raise Http404("No such stimulus.")
    try:
        handle = image.file.open("rb")
    except FileNotFoundError:
        raise Http404("No such stimulus.") from None
    response = FileResponse(handle, content_type=f"image/{'jpeg' if extension == 'jpg' else 'png'}")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response
