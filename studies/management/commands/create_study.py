from django.core.management.base import BaseCommand, CommandError

from inference.models import Classifier, ImageSet
from studies.services import presets
from studies.services.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Create a draft study from a preset that reproduces one study of Stock & Cisse (ECCV 2018): "
        + "; ".join(f"{name}: {preset.title}" for name, preset in presets.PRESETS.items())
    )

    def add_arguments(self, parser):
        parser.add_argument("--preset", required=True, choices=list(presets.PRESETS))
        parser.add_argument("--slug", required=True)
        parser.add_argument("--image-set", required=True)
        parser.add_argument("--classifier", required=True)
        parser.add_argument("--audit-classes", default="", help="bias-audit: comma-separated classes.")

    def handle(self, *args, preset, slug, image_set, classifier, audit_classes, **options):
        try:
            images = ImageSet.objects.get(name=image_set)
            model = Classifier.objects.get(name=classifier)
        except (ImageSet.DoesNotExist, Classifier.DoesNotExist):
            raise CommandError(f"No image set {image_set!r} or no classifier {classifier!r}.") from None
        classes = [c.strip() for c in audit_classes.split(",") if c.strip()]
        try:
            study = presets.create(preset, slug, images, model, audit_classes=classes)
        except ServiceError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(
            f"Created the draft study {study.slug}. "
            f"Next: manage.py prepare --study {study.slug}, then launch it."
        )
