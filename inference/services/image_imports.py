"""Images uploaded in the browser, imported in the background.

The request checks the upload as far as it can without unpacking it (a zip archive whose
list of members and manifest can be read, within the size limit), stores it and queues
an ImageImport; a task then imports it under the same rules as `manage.py import_images`
(inference.services.images, .archives).

Invariants:
- Each file's outcome is recorded as soon as it is judged (ImportedFile, one per place in
  the archive's listing), so the import's page shows which files went in while it runs,
  and an import that stops half-way says exactly how far it got.
- Running the task again imports nothing twice: a finished import is left alone, and a
  resumed one skips the places it has recorded. (A file stored in the moment before a
  crash, its outcome not yet recorded, is recorded as already stored when resumed.)
- An archive that cannot be opened fails the import with the reason; nothing is stored.
"""

from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from inference.background import run_later
from inference.labelsets import get_label_set
from inference.models import ImageImport, ImageSet, ImportedFile
from inference.services import archives
from inference.services.images import ImportSourceError, RejectedImage, Source, import_one

TASK = "inference.tasks.import_uploaded_images"


def check_upload(path: Path, name: str) -> int:
    """The number of files in the upload at `path` (named `name` by the researcher);
    ImportSourceError saying why it cannot be imported at all."""
    if not archives.is_archive(path):
        if name.lower().endswith(".csv"):
            raise ImportSourceError(
                f"{name} is a CSV manifest on its own: upload a zip archive holding the files "
                f"and the manifest, as {archives.MANIFEST} at the archive's top level"
            )
        raise ImportSourceError(
            f"{name} is not a zip archive: upload a zip of class folders, or a zip with a "
            f"{archives.MANIFEST} (header path,label) and the files it names"
        )
    sources = archives.sources_from_archive(path, settings.SECONDLOOK_MAX_UPLOAD_BYTES, name=name)
    if not sources:
        raise ImportSourceError(f"{name} holds no files")
    return len(sources)


def request_import(image_set: ImageSet, upload: UploadedFile, user=None) -> ImageImport:
    """Store the upload and queue its import once the caller's transaction commits."""
    row = ImageImport.objects.create(
        image_set=image_set,
        upload=upload,
        original_name=Path(upload.name or "upload").name[:200],
        size=upload.size,
        requested_by=user if user is not None and user.is_authenticated else None,
    )
    run_later(TASK, row.pk)
    return row


def arrived_since(image_set: ImageSet, moment) -> list[int]:
    """Ids of the images that imports into image_set added after `moment`: a page that
    lists the set's images and was shown before then did not list them."""
    return list(
        ImportedFile.objects.filter(image_import__image_set=image_set, recorded_at__gt=moment)
        .exclude(image=None)
        .values_list("image", flat=True)
    )


def run_import(import_id: int) -> ImageImport | None:
    """Import the upload of ImageImport `import_id`, recording each file's outcome; returns
    the row as it ends (None if it is gone). Transient database errors propagate, for the
    task to retry; everything about the upload itself is recorded on the row."""
    row = ImageImport.claim(import_id)
    if row is None:
        return ImageImport.objects.filter(pk=import_id).first()
    try:
        sources = _sources(row)
    except ImportSourceError as error:
        _finish(row, failed=str(error))
        return row
    if row.total != len(sources):
        row.total = len(sources)
        row.save(update_fields=["total"])
    recorded = set(row.files.values_list("position", flat=True))
    label_set = get_label_set("imagenet-1k")
    for position, source in enumerate(sources):
        if position not in recorded:
            _import(row, position, source, label_set)
    _finish(row)
    return row


def _sources(row: ImageImport) -> list[Source]:
    if not row.upload:
        raise ImportSourceError(f"the upload {row.original_name} is no longer stored; upload it again")
    path = Path(row.upload.path)
    if not path.is_file():
        raise ImportSourceError(f"the upload {row.original_name} is missing from the media directory")
    check_upload(path, row.original_name)
    return archives.sources_from_archive(path, settings.SECONDLOOK_MAX_UPLOAD_BYTES, name=row.original_name)


def _import(row: ImageImport, position: int, source: Source, label_set) -> None:
    try:
        image, created = import_one(source, row.image_set, label_set, settings.SECONDLOOK_MAX_IMAGE_PIXELS)
    except RejectedImage as reason:
        outcome, image, why = ImportedFile.Outcome.REJECTED, None, str(reason)
    else:
        outcome, why = (ImportedFile.Outcome.IMPORTED if created else ImportedFile.Outcome.DUPLICATE), ""
    ImportedFile.objects.create(
        image_import=row, position=position, name=source.name[:500], outcome=outcome, reason=why, image=image
    )


def _finish(row: ImageImport, failed: str = "") -> None:
    # The images are stored by now (or the archive could not be read): the upload has done
    # its work, and keeping every archive would double the media directory.
    if row.upload:
        row.upload.delete(save=False)
        row.save(update_fields=["upload"])
    if failed:
        row.mark_failed(failed)
        return
    counts = row.counts()
    row.mark_done(
        f"{counts['imported']} imported, {counts['duplicate']} already stored, {counts['rejected']} rejected"
    )
