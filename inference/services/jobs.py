"""Asking for preparation work. Web-tier safe: it only writes rows and sends task ids."""

from django.db import transaction

from inference.models import Classifier, ImageSet, Prediction, PreparationJob


def prediction_job(image_set: ImageSet, classifier: Classifier, k: int = 5) -> PreparationJob:
    """The job that computes top-k predictions for every image of the set: the unfinished
    one if there is one, the last finished one if nothing is missing, else a new one. The
    same work is never queued twice."""
    with transaction.atomic():
        jobs = PreparationJob.objects.select_for_update().filter(
            kind=PreparationJob.Kind.PREDICTIONS, image_set=image_set, classifier=classifier, k=k
        )
        job = jobs.filter(status__in=[PreparationJob.Status.PENDING, PreparationJob.Status.RUNNING]).first()
        if job is None and not _missing_predictions(image_set, classifier, k):
            job = jobs.filter(status=PreparationJob.Status.DONE).first()
        if job is None:
            job = PreparationJob.objects.create(
                kind=PreparationJob.Kind.PREDICTIONS,
                image_set=image_set,
                classifier=classifier,
                k=k,
                total=image_set.images.count(),
            )
    return job


def _missing_predictions(image_set: ImageSet, classifier: Classifier, k: int) -> bool:
    predicted = Prediction.objects.filter(classifier=classifier, image__in=image_set.images.all())
    complete = [p for p in predicted.only("topk") if len(p.topk) >= k]
    return len(complete) < image_set.images.count()


def request_predictions(image_set: ImageSet, classifier: Classifier, k: int = 5) -> PreparationJob:
    """prediction_job(), sent to the workers (in the embedded mode: run in this process).

    A pending job is sent again too: if the first message was lost (broker down), this
    is how the work gets going, and the task is idempotent."""
    from inference.tasks import compute_predictions

    job = prediction_job(image_set, classifier, k)
    if job.status == PreparationJob.Status.PENDING:
        transaction.on_commit(lambda: compute_predictions.delay(job.id))
    job.refresh_from_db()
    return job
