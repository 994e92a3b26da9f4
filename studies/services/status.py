"""A study's state at a glance: for the admin, the status endpoint and the demo."""

from django.db.models import Count

from inference.models import Prediction, PreparationJob
from studies.models import Participant, Response, Study, Trial


def summary(study: Study) -> dict:
    images = study.image_set.images.all()
    participants = dict(Participant.objects.filter(study=study).values_list("status").annotate(n=Count("id")))
    jobs = PreparationJob.objects.filter(image_set=study.image_set, classifier=study.classifier)
    return {
        "study": {
            "slug": study.slug,
            "status": study.status,
            "version": study.current_version.number if study.current_version else None,
        },
        "stimuli": {
            "images": images.count(),
            "predicted": Prediction.objects.filter(classifier=study.classifier, image__in=images).count(),
        },
        "jobs": [
            {"id": job.id, "kind": job.kind, "status": job.status, "message": job.message, **job.progress()}
            for job in jobs[:10]
        ],
        "participants": {status: participants.get(status, 0) for status in Participant.Status.values},
        "responses": Response.objects.filter(trial__participant__study=study).count(),
        # Trials whose images a participant's browser could not load or verify, by reason.
        "skipped_trials": dict(
            Trial.objects.filter(participant__study=study)
            .exclude(problem="")
            .values_list("problem")
            .annotate(n=Count("id"))
        ),
    }
