import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inference.models import Classifier, ImageSet, PreparationJob
from inference.services.jobs import prediction_job, request_predictions


class Command(BaseCommand):
    help = (
        "Compute what a study (or an image set under a classifier) needs: top-k predictions. "
        "Runs in-process in the embedded mode; otherwise queues the work for Celery workers "
        "and follows its progress."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", help="Slug of the study to prepare.")
        parser.add_argument("--image-set", help="Image set name (with --classifier).")
        parser.add_argument("--classifier", help="Classifier name (with --image-set).")
        parser.add_argument("-k", type=int, default=5)
        parser.add_argument("--no-wait", action="store_true", help="Queue the job and return.")

    def handle(self, *args, **options):
        image_set, classifier, k = self._target(options)
        show = options["verbosity"] >= 1
        if settings.SECONDLOOK_TASK_MODE == "in-process":
            job = self._run_here(prediction_job(image_set, classifier, k), show)
        else:
            job = request_predictions(image_set, classifier, k=k)
            if not options["no_wait"]:
                job = self._follow(job, show)
        self.stdout.write(f"Job {job.pk}: {job.status} ({job.done}/{job.total}) {job.message}".rstrip())
        if job.status == PreparationJob.Status.FAILED:
            raise CommandError(f"Preparation failed: {job.message}")

    def _target(self, options):
        if options["study"]:
            from studies.models import Study

            study = Study.objects.filter(slug=options["study"]).first()
            if study is None:
                raise CommandError(f"No study with slug {options['study']!r}.")
            return study.image_set, study.classifier, study.k
        try:
            return (
                ImageSet.objects.get(name=options["image_set"]),
                Classifier.objects.get(name=options["classifier"]),
                options["k"],
            )
        except (ImageSet.DoesNotExist, Classifier.DoesNotExist):
            raise CommandError("Give --study, or an existing --image-set and --classifier.") from None

    def _run_here(self, job: PreparationJob, show: bool) -> PreparationJob:
        # The embedded default's in-process runner: the model loads in this process.
        from inference.services.predictions import run_prediction_job

        with tqdm(total=job.total, unit="img", disable=not show, file=self.stderr) as bar:
            return run_prediction_job(job.pk, on_batch=bar.update)

    def _follow(self, job: PreparationJob, show: bool) -> PreparationJob:
        with tqdm(total=job.total, unit="img", disable=not show, file=self.stderr) as bar:
            while True:
                job.refresh_from_db()
                bar.total, bar.n = job.total, job.done
                bar.refresh()
                if job.is_finished:
                    return job
                time.sleep(0.5)
