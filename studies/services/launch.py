"""Moving a study through its life: draft → live ⇄ paused → closed.

Invariant: a study is live only with a frozen StudyVersion whose items all have their
stimuli computed; participants always run against that version, so later edits to the
Study row cannot change what a running participant sees or what their answers mean.
"""

from django.db import transaction
from django.utils import timezone

from inference.models import Prediction
from studies.models import Item, Study, StudyVersion
from studies.services import recruitment
from studies.services.errors import Conflict


class NotReady(Conflict):
    code = "not_ready"

    def __init__(self, problems: list[str]):
        super().__init__("The study is not ready: " + "; ".join(problems), problems=problems)
        self.problems = problems


def readiness_problems(study: Study) -> list[str]:
    """What is missing before the study can go live; empty when it is ready."""
    problems = []
    if not study.consent_text.strip():
        problems.append("the consent text is empty")
    images = study.image_set.images.all()
    total = images.count()
    if total == 0:
        problems.append(f"the image set {study.image_set} has no images")
        return problems
    predicted = Prediction.objects.filter(classifier=study.classifier, image__in=images)
    missing = total - predicted.count()
    if missing:
        problems.append(
            f"{missing} of {total} images have no predictions by {study.classifier} yet "
            "(run `manage.py prepare` or the admin's prepare action)"
        )
    short = [p.image_id for p in predicted.only("topk", "image_id") if len(p.topk) < study.k]
    if short:
        problems.append(
            f"{len(short)} predictions have fewer than k={study.k} labels; prepare again with k={study.k}"
        )
    return problems


def frozen_config(study: Study) -> dict:
    classifier = study.classifier
    return {
        "slug": study.slug,
        "title": study.title,
        "task_kind": study.task_kind,
        "k": study.k,
        "images_per_participant": study.images_per_participant,
        "prompt": study.prompt,
        "consent_text": study.consent_text,
        "consent_version": study.consent_version,
        "instructions": study.instructions,
        "completion_code": study.completion_code,
        "redirect_url": study.redirect_url,
        # What each way of finishing shows and where it leads (see services.recruitment).
        "outcomes": {
            "completed": {"code": study.completion_code, "redirect_url": study.redirect_url},
            "no_consent": {"code": study.no_consent_code, "redirect_url": study.no_consent_redirect_url},
            "withdrawn": {"code": study.withdrawn_code, "redirect_url": study.withdrawn_redirect_url},
        },
        "platform": study.platform,
        "identity_param": recruitment.identity_key(study.platform, study.identity_param),
        "seed": study.seed,
        "image_set": study.image_set.name,
        "classifier": {
            "name": classifier.name,
            "architecture": classifier.architecture,
            "weights_sha256": classifier.weights_sha256,
            "preprocessing": classifier.preprocessing,
        },
    }


@transaction.atomic
def launch(study: Study) -> StudyVersion:
    """Freeze the configuration into a new version with its items and go live."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status == Study.Status.LIVE:
        raise Conflict("The study is already live.", code="already_live")
    problems = readiness_problems(study)
    if problems:
        raise NotReady(problems)
    number = (study.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    version = StudyVersion.objects.create(study=study, number=number, config=frozen_config(study))
    predictions = Prediction.objects.filter(
        classifier=study.classifier, image__in=study.image_set.images.all()
    ).order_by("image_id")
    Item.objects.bulk_create(
        Item(
            version=version,
            image_id=p.image_id,
            prediction=p,
            labels=[
                {"id": t["class_id"], "text": t["label"], "rank": t["rank"], "prob": t["prob"]}
                for t in p.topk[: study.k]
            ],
        )
        for p in predictions
    )
    study.current_version = version
    study.status = Study.Status.LIVE
    study.launched_at = study.launched_at or timezone.now()
    study.save(update_fields=["current_version", "status", "launched_at"])
    return version


def _move(study: Study, allowed_from: tuple[str, ...], to: str) -> Study:
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        if locked.status not in allowed_from:
            raise Conflict(f"A {locked.status} study cannot become {to}.", code="bad_transition")
        locked.status = to
        locked.save(update_fields=["status"])
    return locked


def pause(study: Study) -> Study:
    return _move(study, (Study.Status.LIVE,), Study.Status.PAUSED)


def resume(study: Study) -> Study:
    return _move(study, (Study.Status.PAUSED,), Study.Status.LIVE)


def close(study: Study) -> Study:
    return _move(study, (Study.Status.LIVE, Study.Status.PAUSED), Study.Status.CLOSED)
