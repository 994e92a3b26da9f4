from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from inference.labelsets import get_label_set
from inference.models import ImageSet
from inference.services.classifiers import register_bundled
from inference.services.images import import_sources, sample_sources
from studies.services.demo import (
    ensure_admin,
    ensure_demo_studies,
    ensure_paper_studies,
    fit_sessions,
    go_live,
)


class Command(BaseCommand):
    help = (
        "Set up the demo (migrate, admin login, sample images, a live study of each task kind "
        "with its stimuli prepared) and serve it on 127.0.0.1:8000. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="Set up and print the links only.")
        parser.add_argument("--addrport", default="127.0.0.1:8000")

    def handle(self, *args, no_serve=False, addrport="127.0.0.1:8000", **options):
        say = self.stdout.write
        call_command("migrate", interactive=False, verbosity=0)
        username, password = ensure_admin(settings.DATA_DIR / "demo-admin-password.txt")
        image_set, _ = ImageSet.objects.get_or_create(name="samples")
        report = import_sources(
            sample_sources(), image_set, get_label_set("imagenet-1k"), settings.SECONDLOOK_MAX_IMAGE_PIXELS
        )
        say(f"Sample images: {report.summary()}.")
        classifier = register_bundled()
        say(f"Classifier: {classifier.name} (weights sha256 {classifier.weights_sha256[:12]}…).")
        studies = ensure_demo_studies(image_set, classifier) + ensure_paper_studies(image_set, classifier)
        # All at once: the studies share preparations, each run and reported once.
        call_command("prepare", study=[study.slug for study in studies], verbosity=options["verbosity"])
        studies = [go_live(fit_sessions(study)) for study in studies]
        base = f"http://{addrport}"
        say("")
        say(self.style.SUCCESS("SecondLook demo is ready."))
        say(f"  Admin:       {base}/admin/   (user {username}, password {password})")
        say(f"  Participant: {base}{studies[0].participant_path}")
        say(f"  Responses:   {base}/api/v1/studies/{studies[0].slug}/export/responses.csv (staff login)")
        say(f"  API docs:    {base}/api/v1/docs/")
        say("  More studies, one per task kind, then the three of Stock & Cisse (2018) from presets:")
        for study in studies[1:]:
            say(f"    {base}{study.participant_path}  {study.title}")
        if not no_serve:
            call_command("runserver", addrport, use_reloader=False)
