from django.core.management.base import BaseCommand, CommandError

from studies.models import Study
from studies.services.export import write_responses_csv


class Command(BaseCommand):
    help = "Write a study's responses as CSV (one row per response) to a file or stdout."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("-o", "--output", help="File to write (default: standard output).")
        parser.add_argument(
            "--include-practice", action="store_true", help="Also practice answers (trial_role=practice)."
        )
        parser.add_argument(
            "--include-pilot",
            action="store_true",
            help="Also pilot and preview participants (participant_kind).",
        )

    def handle(self, *args, slug, output=None, include_practice=False, include_pilot=False, **options):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        if output:
            with open(output, "w", newline="", encoding="utf-8") as handle:
                count = write_responses_csv(study, handle, include_practice, include_pilot)
            self.stderr.write(f"Wrote {count} responses to {output}.")
        else:
            write_responses_csv(study, self.stdout, include_practice, include_pilot)
