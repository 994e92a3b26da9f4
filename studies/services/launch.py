"""Moving a study through its life: draft → live ⇄ paused → closed.

Invariant: a study is live only with a frozen StudyVersion whose items all have their
stimuli computed; participants always run against that version, so later edits to the
Study row cannot change what a running participant sees or what their answers mean.
"""

from django.db import transaction
from django.utils import timezone

from studies.models import Item, Study, StudyVersion
from studies.services import audit, blocks, exclusions, recruitment, stimuli, task_kinds
from studies.services.errors import Conflict


class NotReady(Conflict):
    code = "not_ready"

    def __init__(self, problems: list[str]):
        super().__init__("The study is not ready: " + "; ".join(problems), problems=problems)
        self.problems = problems


def readiness(study: Study) -> stimuli.Plan:
    """The items a launch would freeze, what is missing before it can (problems) and what
    it would leave out (notes)."""
    plan = stimuli.plan_items(study)
    if not study.consent_text.strip():
        plan.problems.insert(0, "the consent text is empty")
    known = study.practice_trials or study.gold_trials
    needs_labels = known and study.task_kind in task_kinds.NEEDS_TRUE_LABEL
    if needs_labels and plan.items and not any(item["image"].true_class for item in plan.items):
        plan.problems.append("practice and gold trials need the dataset's labels: no image has one")
    try:
        blocks.validate(study)
    except ValueError as error:
        plan.problems.append(str(error))
    try:
        rules = exclusions.validate(study.exclusion_rules)
    except ValueError as error:
        plan.problems.append(str(error))
        rules = []
    for rule in rules:
        if rule["rule"] == "failed_attention" and rule["threshold"] > study.attention_checks:
            plan.notes.append(
                f"nobody can fail {rule['threshold']:g} attention checks out of {study.attention_checks}: "
                "the failed_attention rule never applies"
            )
        if rule["rule"] == "gold_accuracy" and not study.gold_trials:
            plan.problems.append("the gold_accuracy rule needs gold trials (set how many per participant)")
    plan.problems += design_problems(study, plan)
    return plan


def design_problems(study: Study, plan: stimuli.Plan) -> list[str]:
    """Designs that cannot run as configured, named before launch rather than found by
    participants."""
    problems = []
    sources = len({item["image"].pk if study.one_version_per_image else id(item) for item in plan.items})
    per_participant = study.images_per_participant
    if plan.items and sources < per_participant:
        problems.append(
            f"{per_participant} images per participant, but only {sources} source images give items "
            "(nobody sees two versions of one image)"
        )
    explained = stimuli.displays(study) - {Study.ExplanationDisplay.NONE}
    if study.item_selection == Study.ItemSelection.AUDIT and explained:
        problems.append(
            "a bias audit asks whether the audited class describes each image, but explanations show "
            "why the model gave its own label (another class for most audited images): set the "
            "explanation display to none"
        )
    return problems + condition_problems(study, stimuli.conditions(study), len(plan.items))


def condition_problems(study: Study, conditions: list[dict], items: int) -> list[str]:
    """Between-subjects conditions nobody can be assigned to, or whose quota `items` items
    cannot serve at K judgments each."""
    problems = []
    if not any(c["weight"] for c in conditions):
        problems.append("every condition has weight 0: nobody could be assigned")
    per_participant = study.images_per_participant
    for c in conditions:
        if c["weight"] == 0 and c["quota"]:
            problems.append(
                f"condition {c['name']} has a quota of {c['quota']} but weight 0: it never gets anyone"
            )
        capacity = items * study.judgments_per_item // per_participant
        if study.judgments_per_item and c["quota"] > capacity:
            problems.append(
                f"condition {c['name']} wants {c['quota']} participants of {per_participant} items, but "
                f"{items} items × K={study.judgments_per_item} judgments serve only {capacity}"
            )
    return problems


def is_running(study: Study) -> bool:
    """Participants may be arriving: an edit becomes a new version for newcomers (revise)."""
    return study.status in RUNNING and study.current_version_id is not None


def _most_stimuli(study: Study) -> tuple[int, int, int]:
    """(images, source images, items) of the study's image set, at most, from its image count
    alone: two items per image where clean and adversarial versions are both shown, and two
    sources per image where one participant may also see both."""
    images = study.image_set.images.count()
    versions = 2 if study.stimuli == Study.Stimuli.BOTH else 1
    return images, images if study.one_version_per_image else images * versions, images * versions


def edit_problems(study: Study) -> dict[str, list[str]]:
    """What is wrong with an edited, unsaved study, by the field at fault: settings that
    cannot be read, for any study, and for a running study more images per participant than
    its image set can serve. The admin refuses such an edit. Judged without reading images
    or items (one count at most), unlike readiness(), which judges the actual items and
    guides a draft until launch."""
    problems: dict[str, list[str]] = {}

    def check(field: str, validate) -> None:
        try:
            validate()
        except ValueError as error:
            problems.setdefault(field, []).append(str(error))

    check("exclusion_rules", lambda: exclusions.validate(study.exclusion_rules))
    check("blocks", lambda: blocks.validate(study))
    # Both need the classifier, which an add form that is already invalid may lack.
    if study.classifier_id and stimuli.uses_adversarial(study):
        check("attack", lambda: stimuli.attack_params(study))
    if study.classifier_id and study.item_selection == Study.ItemSelection.AUDIT:
        check("audit_classes", lambda: audit.class_ids(study))
    if is_running(study):
        images, sources, _ = _most_stimuli(study)
        if sources < study.images_per_participant:
            both = f" ({sources} stimuli, clean and adversarial)" if sources > images else ""
            problems["images_per_participant"] = [
                f"{study.images_per_participant} images per participant, but the image set "
                f"{study.image_set} has only {images} images{both}"
            ]
    return problems


def edit_condition_problems(study: Study, conditions: list[dict]) -> list[str]:
    """For an edit of a running study: conditions nobody could be assigned to, or whose quota
    no set of items from its image set could serve (judged from the image count, as in
    edit_problems). Empty for a draft, whose readiness() names them before launch."""
    if not conditions or not is_running(study) or study.images_per_participant < 1:
        return []  # No conditions is one condition that takes everyone.
    _, _, items = _most_stimuli(study)
    return condition_problems(study, conditions, items)


def readiness_problems(study: Study) -> list[str]:
    """What is missing before the study can go live; empty when it is ready."""
    return readiness(study).problems


def frozen_config(study: Study) -> dict:
    classifier = study.classifier
    return {
        "slug": study.slug,
        "title": study.title,
        "task_kind": study.task_kind,
        "k": study.k,
        "images_per_participant": study.images_per_participant,
        "prompt": study.prompt,
        "option_order": study.option_order,
        "stimuli": study.stimuli,
        "one_version_per_image": study.one_version_per_image,
        "attack": stimuli.attack_params(study) if stimuli.uses_adversarial(study) else None,
        "explanation_display": study.explanation_display,
        "explanation_method": study.explanation_method,
        "heatmap_normalisation": study.heatmap_normalisation,
        "examples_count": study.examples_count,
        "display_scale": study.display_scale,
        "ask_confidence": study.ask_confidence,
        "practice_trials": study.practice_trials,
        "attention_checks": study.attention_checks,
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
            "screened_out": {
                "code": study.screened_out_code,
                "redirect_url": study.screened_out_redirect_url,
            },
            "full": {"code": study.full_code, "redirect_url": study.full_redirect_url},
        },
        "exclusion_rules": exclusions.validate(study.exclusion_rules),
        "blocks": blocks.validate(study),
        "gold_trials": study.gold_trials,
        "conditions": stimuli.conditions(study),
        "judgments_per_item": study.judgments_per_item,
        "session_timeout_minutes": study.session_timeout_minutes,
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


def launch(study: Study) -> StudyVersion:
    """Freeze the configuration into a new version with its items and go live."""
    return _freeze(study, Study.Status.LIVE)


def pilot(study: Study) -> StudyVersion:
    """Freeze the configuration and take pilot participants, flagged as such: they count
    toward no quota, K, analysis or default export. Launching afterwards freezes again."""
    return _freeze(study, Study.Status.PILOT)


RUNNING = (Study.Status.PILOT, Study.Status.LIVE, Study.Status.PAUSED)


@transaction.atomic
def revise(study: Study) -> StudyVersion | None:
    """After an edit of a running study: a new version when the configuration changed
    (None when it did not). Participants already in keep the version they started with;
    newcomers get the new one. NotReady, and the running version stays, when the edited
    configuration could not launch."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status not in RUNNING or study.current_version is None:
        return None
    if frozen_config(study) == study.current_version.config:
        return None
    return _new_version(study, study.status)


@transaction.atomic
def _freeze(study: Study, status: str) -> StudyVersion:
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status == status:
        raise Conflict(f"The study is already {status}.", code=f"already_{status}")
    return _new_version(study, status)


def _new_version(study: Study, status: str) -> StudyVersion:
    plan = readiness(study)
    if plan.problems:
        raise NotReady(plan.problems)
    number = (study.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    version = StudyVersion.objects.create(study=study, number=number, config=frozen_config(study))
    Item.objects.bulk_create(Item(version=version, **item) for item in plan.items)
    study.current_version = version
    study.status = status
    if status == Study.Status.LIVE:
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
