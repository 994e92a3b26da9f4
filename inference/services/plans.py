"""Preparing everything something needs in one request: a plan of jobs, each stage
started when the stages whose results it reads are done. Web-tier safe.

Invariants:
- A stage gets its job from request_job, so work that another plan (or an earlier
  request) already did or is doing is shared, never queued twice.
- Advancing is idempotent and takes the plan's row lock: the worker that finished a job,
  the in-process runner and a researcher asking again may all advance one plan at once,
  and each stage still gets one job.
- Independent stages start together (on workers they run in parallel); a stage whose
  needs failed never starts and says which need failed.
"""

from dataclasses import dataclass

from django.db import transaction

from inference.models import Classifier, ImageSet, PlanStage, PreparationJob, PreparationPlan
from inference.params import canonical_params
from inference.services.jobs import params_key, request_job

Kind = PreparationJob.Kind
Status = PreparationJob.Status


def _needs(kind: str, params: dict, earlier: list[tuple[str, dict]]) -> list[int]:
    """The earlier stages whose stored results this stage's handler reads."""
    if kind == Kind.EXPLANATIONS and params.get("on") == "clean_and_adversarial":
        attack = params_key(Kind.ADVERSARIAL, params["attack"])
        return [i for i, (k, p) in enumerate(earlier) if k == Kind.ADVERSARIAL and params_key(k, p) == attack]
    if kind == Kind.PROTOTYPES:
        # Classes by the model's top-1 come from the predictions; the features are shared.
        return [i for i, (k, _) in enumerate(earlier) if k in (Kind.PREDICTIONS, Kind.FEATURES)]
    return []


def start(
    subject: str,
    title: str,
    image_set: ImageSet,
    classifier: Classifier,
    work: list[tuple[str, dict]],
    requested_by=None,
    dispatch: bool = True,
) -> PreparationPlan:
    """A new plan for `work` (kinds and parameters, in an order where every stage comes
    after those it reads), with its ready stages started.

    ValueError names the bad parameter before anything is written. With dispatch=False
    the caller runs the jobs itself (`manage.py prepare` in the embedded default)."""
    stages: list[tuple[str, dict]] = []
    seen = set()
    for kind, params in work:
        params = canonical_params(kind, params, num_classes=classifier.num_classes)
        key = params_key(kind, params)
        if key not in seen:
            seen.add(key)
            stages.append((kind, params))
    with transaction.atomic():
        plan = PreparationPlan.objects.create(
            subject=subject,
            title=title,
            image_set=image_set,
            classifier=classifier,
            requested_by=requested_by,
            dispatch=dispatch,
        )
        PlanStage.objects.bulk_create(
            PlanStage(plan=plan, index=i, kind=kind, params=params, needs=_needs(kind, params, stages[:i]))
            for i, (kind, params) in enumerate(stages)
        )
    advance(plan)
    return plan


def advance(plan: PreparationPlan) -> list[PlanStage]:
    """Start every stage whose needs are done; returns the stages started now."""
    started = []
    with transaction.atomic():
        plans = PreparationPlan.objects.select_for_update().select_related("image_set", "classifier")
        plan = plans.get(pk=plan.pk)
        stages = list(plan.stages.select_related("job"))
        for stage in stages:
            if stage.job_id is None and all(_is_done(stages[i]) for i in stage.needs):
                stage.job = request_job(
                    stage.kind, plan.image_set, plan.classifier, stage.params, dispatch=plan.dispatch
                )
                stage.save(update_fields=["job"])
                started.append(stage)
    return started


def _is_done(stage: PlanStage) -> bool:
    return stage.job is not None and stage.job.status == Status.DONE


def job_finished(job_id: int) -> None:
    """Advance the plans waiting on this job (called once its finishing transaction commits)."""
    waiting = PreparationPlan.objects.filter(stages__job_id=job_id, stages__job__status=Status.DONE).filter(
        stages__job__isnull=True
    )
    for plan in waiting.distinct():
        advance(plan)


def latest(subject: str) -> PreparationPlan | None:
    return PreparationPlan.objects.filter(subject=subject).first()


@dataclass(frozen=True)
class StageState:
    """One stage as a researcher reads it."""

    index: int
    kind: str
    label: str
    state: str  # waiting, pending, running, done, failed, blocked
    detail: str
    done: int
    failed: int
    total: int
    job_id: int | None


@dataclass(frozen=True)
class PlanState:
    plan: PreparationPlan
    stages: list[StageState]

    @property
    def finished(self) -> bool:
        return all(stage.state in ("done", "failed", "blocked") for stage in self.stages)

    @property
    def succeeded(self) -> bool:
        return all(stage.state == "done" for stage in self.stages)

    @property
    def left(self) -> list[StageState]:
        return [stage for stage in self.stages if stage.state not in ("done", "failed", "blocked")]


def state(plan: PreparationPlan) -> PlanState:
    """Each stage's state and progress: a query per started stage, never per image."""
    stages = list(plan.stages.select_related("job"))
    states: list[StageState] = []
    for stage in stages:
        states.append(_started(stage) if stage.job else _unstarted(stage, stages, states))
    return PlanState(plan, states)


def _label(kind: str) -> str:
    return Kind(kind).label if kind in Kind.values else kind


def _started(stage: PlanStage) -> StageState:
    job = stage.job
    progress = job.progress()
    detail = job.message if job.status == Status.FAILED else ""
    return StageState(
        stage.index,
        stage.kind,
        _label(stage.kind),
        job.status,
        detail,
        progress["done"],
        progress["failed"],
        progress["total"],
        job.pk,
    )


def _unstarted(stage: PlanStage, stages: list[PlanStage], states: list[StageState]) -> StageState:
    # Needs are earlier stages, so their states are known.
    blocked = any(states[i].state in ("failed", "blocked") for i in stage.needs)
    names = ", ".join(_label(stages[i].kind).lower() for i in stage.needs)
    detail = f"not started: it needs {names}, which failed" if blocked else f"starts when {names} are done"
    status = "blocked" if blocked else "waiting"
    return StageState(stage.index, stage.kind, _label(stage.kind), status, detail, 0, 0, 0, None)
