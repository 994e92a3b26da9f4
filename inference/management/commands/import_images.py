from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.labelsets import get_label_set
from inference.management.progress import progress_bar
from inference.models import ImageSet
from inference.services import archives
from inference.services.images import ImportSourceError, import_sources, sample_sources, sources_from_path


class Command(BaseCommand):
    help = (
        "Import images into an image set: a folder (class subfolders named by WordNet id or "
        "class name), a zip archive laid out like such a folder or holding a manifest.csv at "
        "its top, a CSV manifest with a header path,label, or --samples for the bundled photos."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="Folder, zip archive or CSV manifest.")
        parser.add_argument("--samples", action="store_true", help="Import the bundled sample photos.")
        parser.add_argument(
            "--set", dest="set_name", help="Image set name (default: the folder's name, or 'samples')."
        )
        parser.add_argument("--label-set", default="imagenet-1k")
        parser.add_argument("--max-pixels", type=int, default=settings.SECONDLOOK_MAX_IMAGE_PIXELS)

    def handle(
        self,
        *args,
        path=None,
        samples=False,
        set_name=None,
        label_set="imagenet-1k",
        max_pixels=None,
        **options,
    ):
        if bool(path) == samples:
            raise CommandError("Give either a PATH or --samples.")
        try:
            if samples:
                sources = sample_sources()
            elif Path(path).is_file() and archives.is_archive(Path(path)):
                sources = archives.sources_from_archive(Path(path), settings.SECONDLOOK_MAX_UPLOAD_BYTES)
            else:
                sources = sources_from_path(Path(path))
        except (ImportSourceError, RuntimeError) as error:
            raise CommandError(str(error)) from None
        name = set_name or ("samples" if samples else Path(path).stem)
        image_set, _ = ImageSet.objects.get_or_create(name=name)
        with progress_bar(
            self.stderr, total=len(sources), unit="img", disable=options["verbosity"] < 1
        ) as bar:
            report = import_sources(
                sources, image_set, get_label_set(label_set), max_pixels, lambda _: bar.update()
            )
        for name_, reason in report.rejected:
            self.stderr.write(f"  rejected {name_}: {reason}")
        self.stdout.write(f"Image set '{image_set.name}': {report.summary()}.")
        return None
