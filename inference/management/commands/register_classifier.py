import json

from django.core.management.base import BaseCommand, CommandError

from inference.models import Classifier
from inference.services.classifiers import RegistrationError, register


class Command(BaseCommand):
    help = (
        "Register your own classifier: a torchvision or timm model with a local weights file, "
        "or a TorchScript file. The weights are loaded and checked now, not mid-job."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="A short name, e.g. resnet101-mylab.")
        parser.add_argument(
            "--source", required=True, choices=[c for c in Classifier.Source.values if c != "bundled"]
        )
        parser.add_argument(
            "--architecture", default="", help="e.g. resnet101 (torchvision) or convnext_tiny (timm)."
        )
        parser.add_argument(
            "--weights", default="", help="Weights file (torchvision: default is the hub cache)."
        )
        parser.add_argument(
            "--preprocessing", help='JSON: {"resize", "crop", "interpolation", "mean", "std"}.'
        )
        parser.add_argument(
            "--label-set", default="imagenet-1k", help="imagenet-1k, or custom (the model's names)."
        )

    def handle(self, *args, name, source, architecture, weights, preprocessing, label_set, **options):
        try:
            parsed = json.loads(preprocessing) if preprocessing else None
        except json.JSONDecodeError as error:
            raise CommandError(f"--preprocessing is not valid JSON: {error}") from None
        try:
            classifier = register(name, source, architecture, weights, parsed, label_set)
        except RegistrationError as error:
            raise CommandError(f"Cannot register {name}: {error}") from None
        self.stdout.write(
            f"Registered {classifier.name}: {classifier.source} {classifier.architecture}, "
            f"{classifier.num_classes} classes, weights sha256 {classifier.weights_sha256[:12]}…"
        )
