import json

from django.core.management.base import BaseCommand, CommandError

from studies.models import Study
from studies.services import export


class Command(BaseCommand):
    help = (
        "Write one of a study's exports: responses (one row per answered trial), participants "
        "(one row per participant), items, or the codebook (JSON), to a file or stdout."
    )
    table = None

    def add_arguments(self, parser):
        parser.add_argument("slug")
        if self.table is None:
            parser.add_argument("table", choices=[*export.TABLES, "codebook"])
        parser.add_argument("-o", "--output", help="File to write (default: standard output).")
        parser.add_argument("--include-practice", action="store_true", help="Also practice answers.")
        parser.add_argument(
            "--include-pilot", action="store_true", help="Also pilot and preview participants."
        )
        parser.add_argument(
            "--include-excluded", action="store_true", help="Also participants a rule flagged."
        )

    def handle(self, *args, slug, output=None, **options):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        table = self.table or options["table"]
        included = export.Included(
            practice=options["include_practice"],
            pilot=options["include_pilot"],
            excluded=options["include_excluded"],
        )
        if output:
            with open(output, "w", newline="", encoding="utf-8") as handle:
                report = self._write(study, table, included, handle)
            self.stderr.write(f"Wrote {report.rows} rows to {output}." if report else f"Wrote {output}.")
        else:
            report = self._write(study, table, included, self.stdout)
        if report and report.warning():
            self.stderr.write(self.style.WARNING(f"Warning: {report.warning()}"))

    def _write(self, study, table, included, handle) -> export.Report | None:
        if table == "codebook":
            handle.write(json.dumps(export.codebook(study), indent=2, ensure_ascii=False) + "\n")
            return None
        report, rows = export.recorded_rows(study, table, included, by="manage.py export")
        export.write_csv(rows, handle)
        return report
