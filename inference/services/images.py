"""Importing image files into content-addressed storage.

Invariants:
- An Image row exists only when its file is stored completely; the file is written
  first, under a name derived from its sha256, so a crash leaves at most an unreferenced
  file that the next import of the same content reuses.
- Each source file is judged on its own: a bad file is reported with its reason and
  skipped, and the rest still import.
- What is stored is what participants see and what the model is given: non-RGB images
  (grey, palette, CMYK, alpha, 16-bit) and EXIF-rotated JPEGs are converted to RGB PNG,
  and the conversion is recorded. RGB JPEG and PNG files are stored byte for byte.
"""

import csv
import hashlib
import io
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import PIL.Image
import PIL.ImageOps
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from inference.labelsets import LabelSet, UnknownLabel
from inference.models import Image, ImageSet
from inference.samples import sample_files

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
_EXIF_ORIENTATION = 0x0112


class ImportSourceError(ValueError):
    """The source as a whole cannot be imported (missing path, malformed manifest)."""


class RejectedImage(ValueError):
    """One file cannot be imported; the message is the reason shown to the researcher."""


@dataclass
class Source:
    """A file to import: at `path`, or read by `reader` (an archive member). `rejected`
    says why it cannot be imported at all (an unsafe archive member)."""

    path: Path | None
    label: str = ""
    name: str = ""
    reader: Callable[[], bytes] | None = None
    rejected: str = ""


@dataclass
class ImportReport:
    imported: list[Image] = field(default_factory=list)
    duplicates: list[Image] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.imported)} imported, {len(self.duplicates)} duplicates, {len(self.rejected)} rejected"
        )


def sample_sources() -> list[Source]:
    """The bundled sample photos (see inference.samples)."""
    return [Source(*entry) for entry in sample_files()]


def sources_from_path(path: Path) -> list[Source]:
    """The files to import from a folder or a CSV manifest.

    A folder's image files import without a label; each subfolder is a class, named by
    class id (WordNet id such as n01440764) or by class name. A manifest is a CSV with
    a header `path,label`; its paths are relative to the manifest and may not leave it.

    Neither may a folder's links: a link that leads outside the folder (to a file or a
    folder, directly or through other links) is rejected with that reason and never
    opened. A link to a file inside the folder imports that file; a link to a folder is
    not followed even inside, so that no folder is listed twice or holds itself.
    """
    path = Path(path)
    if not path.exists():
        raise ImportSourceError(f"{path} does not exist")
    if path.is_dir():
        return _sources_from_folder(path)
    if path.suffix.lower() == ".csv":
        return _sources_from_manifest(path)
    if path.suffix.lower() == ".zip":
        # One that begins like a zip is read as an archive (archives.is_archive), damaged or not.
        raise ImportSourceError(
            f"{path.name} is named like a zip archive but is not one (it does not begin like one)"
        )
    raise ImportSourceError(f"{path} is neither a folder nor a CSV manifest (path,label)")


def _sources_from_folder(root: Path) -> list[Source]:
    base = root.resolve()
    sources = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            sources += [_folder_source(root, base, file, entry.name) for file in _files_under(entry)]
            continue
        source = _folder_source(root, base, entry, "")
        # Loose files import only as images; a rejected link is reported whatever its name.
        if source.rejected or entry.suffix.lower() in IMAGE_SUFFIXES:
            sources.append(source)
    return sources


def _files_under(folder: Path) -> list[Path]:
    """Files and links under folder, without descending through links (os.walk lists a
    link to a folder among the folders and does not enter it)."""
    found = []
    for parent, folders, files in os.walk(folder):
        found += [Path(parent, name) for name in files]
        found += [Path(parent, name) for name in folders if Path(parent, name).is_symlink()]
    return sorted(found)


def _folder_source(root: Path, base: Path, path: Path, label: str) -> Source:
    name = str(path.relative_to(root))
    if not path.is_symlink():
        return Source(path, label, name)
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as error:  # a loop of links
        return Source(None, label, name, rejected=f"it is a link that cannot be resolved ({error})")
    if not target.is_relative_to(base):
        return Source(None, label, name, rejected="it is a link that leads outside the imported folder")
    if target.is_dir():
        return Source(None, label, name, rejected="it is a link to a folder, which is not followed")
    # The checked target is read, not the link, which could be changed in between.
    return Source(target, label, name)


def _sources_from_manifest(manifest: Path) -> list[Source]:
    base = manifest.parent.resolve()
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        rows = manifest_rows(handle, str(manifest))
    sources = []
    for line, relative, label in rows:
        target = (base / relative).resolve()
        # Reported per row rather than raised, so one bad row loses nothing else.
        name = relative or f"(line {line}: empty path)"
        if not relative or not target.is_relative_to(base):
            target = None
        sources.append(Source(target, label, name))
    return sources


def manifest_rows(lines: Iterable[str], where: str) -> list[tuple[int, str, str]]:
    """(line number, path, label) of each row of a CSV manifest with a header `path,label`
    (label optional); ImportSourceError, naming `where`, when it has no such header or is
    not CSV text. A manifest on disk and one inside an archive are read alike."""
    try:
        reader = csv.DictReader(lines)
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise ImportSourceError(f"{where}: the first line must be a header with a 'path' column")
        return [
            (line, (row.get("path") or "").strip(), (row.get("label") or "").strip())
            for line, row in enumerate(reader, start=2)
        ]
    except (csv.Error, UnicodeDecodeError) as error:
        raise ImportSourceError(f"{where} is not readable CSV text: {error}") from None


def import_sources(
    sources: Iterable[Source],
    image_set: ImageSet,
    label_set: LabelSet,
    max_pixels: int,
    on_progress: Callable[[Source], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    for source in sources:
        try:
            image, created = import_one(source, image_set, label_set, max_pixels)
        except RejectedImage as reason:
            report.rejected.append((source.name, str(reason)))
        else:
            (report.imported if created else report.duplicates).append(image)
        if on_progress:
            on_progress(source)
    return report


def import_one(
    source: Source, image_set: ImageSet, label_set: LabelSet, max_pixels: int
) -> tuple[Image, bool]:
    """Store one file and add it to image_set. Returns (image, created)."""
    if source.rejected:
        raise RejectedImage(source.rejected)
    if source.path is None and source.reader is None:
        raise RejectedImage("path is empty or outside the manifest's folder")
    class_id = _resolve_label(source.label, label_set)
    data = source.reader() if source.reader else _read(source.path)
    stored, fmt, width, height, conversion = _normalise(data, max_pixels)
    digest = hashlib.sha256(stored).hexdigest()
    image = Image.objects.filter(sha256=digest).first()
    created = False
    if image is None:
        image, created = _store(stored, digest, fmt, width, height, conversion, source, class_id, label_set)
    image_set.images.add(image)
    return image, created


def _resolve_label(label: str, label_set: LabelSet) -> str:
    if not label:
        return ""
    try:
        return label_set.resolve(label)
    except UnknownLabel as error:
        raise RejectedImage(str(error)) from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise RejectedImage(f"unreadable: {error.strerror or error}") from None


def _normalise(data: bytes, max_pixels: int) -> tuple[bytes, str, int, int, str]:
    """Decode completely and return (stored bytes, format, width, height, conversion)."""
    with warnings.catch_warnings():
        # Pillow warns about large images; the explicit pixel limit below decides instead.
        warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
        try:
            image = PIL.Image.open(io.BytesIO(data))
        except PIL.Image.DecompressionBombError:
            raise RejectedImage(f"larger than the pixel limit ({max_pixels:,} pixels)") from None
        except (PIL.UnidentifiedImageError, OSError, ValueError):
            raise RejectedImage("not an image (the file's content is not a known image format)") from None
        width, height = image.size
        if width * height > max_pixels:
            raise RejectedImage(
                f"larger than the pixel limit: {width}×{height} = {width * height:,} pixels > {max_pixels:,}"
            )
        try:
            image.load()
        except OSError as error:
            raise RejectedImage(f"truncated or corrupt image data ({error})") from None
    fmt = image.format or ""
    steps = []
    if fmt == "JPEG" and image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
        # Browsers apply EXIF orientation, Pillow does not: store upright pixels so that
        # the participant and the model see the same image.
        image = PIL.ImageOps.exif_transpose(image)
        steps.append("EXIF orientation applied")
    if getattr(image, "n_frames", 1) > 1:
        steps.append(f"first of {image.n_frames} frames")
    if image.mode != "RGB":
        steps.append(f"{image.mode}→RGB")
        image = _to_rgb(image)
    if not steps and fmt in ("JPEG", "PNG"):
        return data, fmt, width, height, ""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    if fmt not in ("JPEG", "PNG"):
        steps.append(f"{fmt or 'unknown'}→PNG")
    return buffer.getvalue(), "PNG", image.width, image.height, ", ".join(steps)


def _to_rgb(image: PIL.Image.Image) -> PIL.Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scale to 8 bits instead of clipping everything above 255 to white.
        image = image.point(lambda value: value / 256).convert("L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels are shown on white, as a browser on a white page would.
        rgba = image.convert("RGBA")
        background = PIL.Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _store(
    data: bytes,
    digest: str,
    fmt: str,
    width: int,
    height: int,
    conversion: str,
    source: Source,
    class_id: str,
    label_set: LabelSet,
) -> tuple[Image, bool]:
    extension = "jpg" if fmt == "JPEG" else "png"
    name = f"images/{digest[:2]}/{digest}.{extension}"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(data))
    try:
        with transaction.atomic():
            image = Image.objects.create(
                sha256=digest,
                file=name,
                format=fmt,
                width=width,
                height=height,
                true_class=class_id,
                true_label=label_set.name_of(class_id) if class_id else "",
                original_name=source.name[:500],
                conversion=conversion,
            )
    except IntegrityError:
        # Another import stored the same content first: use its row.
        return Image.objects.get(sha256=digest), False
    return image, True
