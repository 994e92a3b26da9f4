"""Importing researchers' image tags from a CSV file: a column `image` (the image's sha256
or the path it was imported from) and one column per tag, e.g.

    image,skin_tone,setting
    photos/player_01.jpg,dark,indoor

Every row either imports completely or is reported with its reason; the rest still import.
Importing again replaces a tag's value (one value per image and tag)."""

import csv
import io
from dataclasses import dataclass, field

from django.db import transaction

from inference.models import ImageSet, ImageTag

MAX_VALUE = 200


@dataclass
class TagReport:
    tagged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def summary(self) -> str:
        return f"{self.tagged} images tagged, {len(self.rejected)} rows rejected"


def import_tags(text: str, image_set: ImageSet) -> TagReport:
    report = TagReport()
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    if "image" not in columns:
        raise ValueError("the CSV needs a header with an 'image' column and one column per tag")
    names = [c for c in columns if c != "image" and c]
    if not names:
        raise ValueError("the CSV has no tag column besides 'image'")
    images = image_set.images.all()
    by_key = {image.sha256: image for image in images} | {image.original_name: image for image in images}
    for line, row in enumerate(reader, start=2):
        key = (row.get("image") or "").strip()
        image = by_key.get(key)
        if image is None:
            report.rejected.append((line, f"no image {key!r} in the set {image_set.name}"))
            continue
        values = {name: (row.get(name) or "").strip() for name in names}
        long = [name for name, value in values.items() if len(value) > MAX_VALUE]
        if long:
            report.rejected.append((line, f"values longer than {MAX_VALUE} characters: {', '.join(long)}"))
            continue
        with transaction.atomic():
            for name, value in values.items():
                if value:
                    ImageTag.objects.update_or_create(image=image, name=name, defaults={"value": value})
        report.tagged += 1
    return report
