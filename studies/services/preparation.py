"""Preparing a study: one plan holding every preparation the study shows, each stage
started when the stages it reads are done (inference.services.plans). The admin's Prepare
action, `manage.py prepare --study` and the demo all ask here."""

from inference.models import PreparationPlan
from inference.services import plans
from studies.models import Study
from studies.services import stimuli


def subject(study: Study) -> str:
    return f"study:{study.pk}"


def prepare(study: Study, requested_by=None, dispatch: bool = True) -> PreparationPlan:
    """The study's plan, with its first stages started. ValueError when the study cannot be
    prepared as configured (an invalid attack or audited class), before anything is written.

    With dispatch=False the caller runs the jobs in its own process (the command's
    in-process runner, which shows progress bars)."""
    return plans.start(
        subject(study),
        f"study {study.slug}",
        study.image_set,
        study.classifier,
        stimuli.required_jobs(study),
        requested_by=requested_by,
        dispatch=dispatch,
    )


def latest(study: Study) -> plans.PlanState | None:
    """The state of the study's most recent plan, advanced first: a plan whose advance was
    lost (a worker killed between finishing a job and starting the next) goes on when
    someone looks."""
    plan = plans.latest(subject(study))
    if plan is None:
        return None
    plans.advance(plan)
    return plans.state(plan)
