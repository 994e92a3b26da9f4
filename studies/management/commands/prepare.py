import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.management.progress import progress_bar
from inference.models import Classifier, ImageSet, PreparationJob, PreparationPlan
from inference.services import plans
from studies.models import Study
from studies.services import preparation


class Command(BaseCommand):
    help = (
        "Compute stimuli for a study (every preparation it shows, each starting when those it "
        "reads are done), or one kind of preparation for an image set under a classifier. Runs "
        "in-process in the embedded mode; otherwise queues the work for Celery workers and "
        "follows it to the end."
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
        parser.add_argument("--no-wait", action="store_true", help="Queue the work and return.")

    def handle(self, *args, **options):
        in_process = settings.SECONDLOOK_TASK_MODE == "in-process"
        started = self._plans(options, dispatch=not in_process)
        if not in_process and options["no_wait"]:
            for plan in started:
                self.stdout.write(f"Plan {plan.pk} ({plan.title}) queued.")
            return
        reported: set[int] = set()
        show = options["verbosity"] >= 1
        while True:
            for plan in started:
                plans.advance(plan)
            # Each job once, in stage order, however many plans share it.
            jobs = [
                stage.job
                for plan in started
                for stage in plan.stages.select_related("job")
                if stage.job and stage.job_id not in reported
            ]
            if not jobs:
                break
            job = jobs[0]
            job = self._run_here(job, show) if in_process else self._follow(job, show)
            reported.add(job.pk)
            self._report(job)
        self._check(started)

    def _plans(self, options, dispatch: bool) -> list[PreparationPlan]:
        if options["study"]:
            # call_command(study="slug") hands over the one slug as it is.
            slugs = [options["study"]] if isinstance(options["study"], str) else options["study"]
            studies = []
            for slug in slugs:
                study = Study.objects.filter(slug=slug).select_related("image_set", "classifier").first()
                if study is None:
                    raise CommandError(f"No study with slug {slug!r}.")
                studies.append(study)
            try:
                return [preparation.prepare(study, dispatch=dispatch) for study in studies]
            except ValueError as error:
                raise CommandError(f"The study cannot be prepared as configured: {error}") from None
        try:
            image_set = ImageSet.objects.get(name=options["image_set"])
            classifier = Classifier.objects.get(name=options["classifier"])
        except (ImageSet.DoesNotExist, Classifier.DoesNotExist):
            raise CommandError("Give --study, or an existing --image-set and --classifier.") from None
        try:
            params = json.loads(options["params"])
        except json.JSONDecodeError as error:
            raise CommandError(f"--params is not valid JSON: {error}") from None
        kind = options["kind"]
        if kind == PreparationJob.Kind.PREDICTIONS:
            params.setdefault("k", options["k"])
        title = f"{kind} for {image_set} with {classifier}"
        try:
            plan = plans.start(
                f"command:{kind}", title, image_set, classifier, [(kind, params)], dispatch=dispatch
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        return [plan]

    def _report(self, job: PreparationJob) -> None:
        progress = job.progress()
        self.stdout.write(
            f"Job {job.pk} ({job.kind}): {job.status} ({progress['done']}/{progress['total']}, "
            f"{progress['failed']} failed) {job.message}".rstrip()
        )
        for error in job.errors.all()[:20]:
            self.stderr.write(f"  image {error.image_ref}: {error.message}")

    def _check(self, started: list[PreparationPlan]) -> None:
        problems = []
        for plan in started:
            for stage in plans.state(plan).stages:
                if stage.state == PreparationJob.Status.FAILED:
                    problems.append(f"{stage.label} failed: {stage.detail}")
                elif stage.state == "blocked":
                    problems.append(f"{stage.label}: {stage.detail}")
        if problems:
            raise CommandError("Preparation failed: " + "; ".join(dict.fromkeys(problems)))

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
