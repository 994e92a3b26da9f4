import contextlib
import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.management.progress import progress_bar
from inference.models import Classifier, ImageSet, PreparationJob
from inference.params import canonical_params
from inference.services.jobs import params_key, request_job


class Command(BaseCommand):
    help = (
        "Compute stimuli for a study, or one kind of preparation for an image set under a "
        "classifier. Runs in-process in the embedded mode; otherwise queues batches for "
        "Celery workers and follows the job's progress."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--study",
            action="append",
            help="Slug of a study to prepare: everything it shows. May be repeated; a preparation "
            "that several of the studies need runs and is reported once.",
        )
        parser.add_argument("--image-set", help="Image set name (with --classifier).")
        parser.add_argument("--classifier", help="Classifier name (with --image-set).")
        parser.add_argument("--kind", default="predictions", choices=PreparationJob.Kind.values)
        parser.add_argument("--params", default="{}", help='JSON, e.g. \'{"attack": "pgd", "eps": 4}\'')
        parser.add_argument("-k", type=int, default=5, help="Top-k (kind predictions).")
        parser.add_argument("--no-wait", action="store_true", help="Queue the job and return.")

    def handle(self, *args, **options):
        targets = self._targets(options)
        for position, (image_set, classifier, kind, params) in enumerate(targets):
            job = self._prepare(image_set, classifier, kind, params, options)
            if not job.is_finished:
                waiting = len(targets) - position - 1
                if waiting:
                    self.stdout.write(
                        f"{waiting} more preparations need its results: run prepare again when it is done."
                    )
                return

    def _prepare(self, image_set, classifier, kind, params, options) -> PreparationJob:
        show = options["verbosity"] >= 1
        in_process = settings.SECONDLOOK_TASK_MODE == "in-process"
        try:
            job = request_job(kind, image_set, classifier, params, dispatch=not in_process)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if in_process:
            job = self._run_here(job, show)
        elif not options["no_wait"]:
            job = self._follow(job, show)
        progress = job.progress()
        self.stdout.write(
            f"Job {job.pk} ({kind}): {job.status} ({progress['done']}/{progress['total']}, "
            f"{progress['failed']} failed) {job.message}".rstrip()
        )
        for error in job.errors.all()[:20]:
            self.stderr.write(f"  image {error.image_ref}: {error.message}")
        if job.status == PreparationJob.Status.FAILED:
            raise CommandError(f"Preparation failed: {job.message}")
        return job

    def _targets(self, options) -> list[tuple]:
        if options["study"]:
            # call_command(study="slug") hands over the one slug as it is.
            slugs = [options["study"]] if isinstance(options["study"], str) else options["study"]
            targets = {}
            for slug in slugs:
                for target in self._study_targets(slug):
                    targets.setdefault(_same_work(*target), target)
            # In the order the studies need them: a later preparation reads an earlier one's.
            return list(targets.values())
        try:
            image_set = ImageSet.objects.get(name=options["image_set"])
            classifier = Classifier.objects.get(name=options["classifier"])
        except (ImageSet.DoesNotExist, Classifier.DoesNotExist):
            raise CommandError("Give --study, or an existing --image-set and --classifier.") from None
        try:
            params = json.loads(options["params"])
        except json.JSONDecodeError as error:
            raise CommandError(f"--params is not valid JSON: {error}") from None
        if options["kind"] == PreparationJob.Kind.PREDICTIONS:
            params.setdefault("k", options["k"])
        return [(image_set, classifier, options["kind"], params)]

    def _study_targets(self, slug: str) -> list[tuple]:
        from studies.models import Study
        from studies.services.stimuli import required_jobs

        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        try:
            jobs = required_jobs(study)
        except ValueError as error:
            raise CommandError(f"The study's attack is invalid: {error}") from None
        return [(study.image_set, study.classifier, kind, params) for kind, params in jobs]

    def _run_here(self, job: PreparationJob, show: bool) -> PreparationJob:
        # The embedded default's in-process runner: the model loads in this process.
        from inference.preparation.runner import run_job_here

        progress = job.progress()
        with progress_bar(
            self.stderr,
            total=job.total,
            initial=progress["done"] + progress["failed"],
            unit="img",
            disable=not show,
        ) as bar:
            job = run_job_here(job, on_progress=bar.update)
            # A kind that works on the whole set at once (prototypes) counts no image on the
            # way: the bar ends where the job did, not at 0.
            progress = job.progress()
            bar.update(progress["done"] + progress["failed"] - bar.n)
            return job

    def _follow(self, job: PreparationJob, show: bool) -> PreparationJob:
        with progress_bar(self.stderr, total=job.total, unit="img", disable=not show) as bar:
            while True:
                job.refresh_from_db()
                progress = job.progress()
                bar.n = progress["done"] + progress["failed"]
                bar.refresh()
                if job.is_finished:
                    return job
                time.sleep(0.5)


def _same_work(image_set, classifier, kind, params) -> tuple:
    """What request_job would give one job for (inference.services.jobs)."""
    # Invalid params are reported when the job is requested.
    with contextlib.suppress(ValueError):
        params = canonical_params(kind, params, num_classes=classifier.num_classes)
    return image_set.pk, classifier.pk, params_key(kind, params)
