from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inference.models import ImageSet
from inference.services.tags import import_tags


class Command(BaseCommand):
    help = "Tag an image set's images from a CSV (columns: image, then one per tag), for the bias explorer."

    def add_arguments(self, parser):
        parser.add_argument("csv_file")
        parser.add_argument("--set", required=True, help="The image set whose images are tagged.")

    def handle(self, *args, csv_file, set, **options):  # noqa: A002 - the option is called --set
        image_set = ImageSet.objects.filter(name=set).first()
        if image_set is None:
            raise CommandError(f"No image set {set!r}.")
        try:
            text = Path(csv_file).read_text(encoding="utf-8-sig")
            report = import_tags(text, image_set)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise CommandError(f"{csv_file}: {error}") from None
        self.stdout.write(report.summary() + ".")
        for line, reason in report.rejected[:50]:
            self.stderr.write(f"  line {line}: {reason}")
