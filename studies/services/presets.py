"""One-click presets that reproduce the three human-subject studies of Stock & Cisse (ECCV
2018, "ConvNets and ImageNet Beyond Accuracy") on the researcher's own images and
classifier. A preset creates a draft study (with its conditions) that the researcher can
still edit, prepare and launch like any other."""

from dataclasses import dataclass, field

from django.db import transaction

from inference.models import Classifier, ImageSet
from studies.models import Condition, Study
from studies.services.errors import Invalid

CONSENT = (
    "You are invited to take part in a study of how people judge the answers of an image "
    "classifier. You will see photos and answer short questions about them. Your answers are "
    "stored under a random pseudonym. Taking part is voluntary and you may withdraw at any time."
)


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    fields: dict
    conditions: list[dict] = field(default_factory=list)


PRESETS = {
    preset.name: preset
    for preset in (
        Preset(
            "topk-mistakes",
            "Are the model's mistakes really mistakes?",
            "(a) Top-k judgment of the model's mistakes: for each image the model gets wrong, "
            "participants tick which of its top-5 labels describe the image. The rectified "
            "accuracy counts a prediction as correct when most raters accept it.",
            {
                "task_kind": Study.TaskKind.TOPK_SELECT,
                "item_selection": Study.ItemSelection.MISTAKES,
                "k": 5,
                "judgments_per_item": 5,
                "attention_checks": 2,
                "exclusion_rules": [{"rule": "failed_attention", "threshold": 2, "mode": "live"}],
                "instructions": (
                    "Each photo comes with five labels. Tick **every** label that describes something "
                    "in the photo, or “None of these”."
                ),
            },
        ),
        Preset(
            "adversarial-explanations",
            "Do explanations change how people judge a model fooled by an attack?",
            "(b) Adversarial images judged with versus without an explanation, between subjects: "
            "participants say whether the model's label on an attacked image is reasonable; half "
            "see where the model looked (Grad-CAM heatmap), half see the image alone.",
            {
                "task_kind": Study.TaskKind.LABEL_CHECK,
                "stimuli": Study.Stimuli.ADVERSARIAL,
                "attack": {"attack": "pgd", "eps": 4, "steps": 10},
                "explanation_method": Study.ExplanationMethod.GRADCAM,
                # As in the paper: one scale for the image set, so that maps compare across
                # images; named here so that a change of the field's default leaves it so.
                "heatmap_normalisation": Study.HeatmapNormalisation.IMAGE_SET,
                "judgments_per_item": 5,
                "practice_trials": 2,
                "attention_checks": 2,
                "exclusion_rules": [{"rule": "failed_attention", "threshold": 2, "mode": "live"}],
                "instructions": (
                    "Each photo comes with the label a classifier gave it. Answer **Yes** if the label "
                    "is a reasonable description of the photo, **No** if not, then say how sure you are."
                ),
            },
            [
                {"name": "no-explanation", "explanation_display": Study.ExplanationDisplay.NONE},
                {"name": "saliency", "explanation_display": Study.ExplanationDisplay.SIDE_BY_SIDE},
            ],
        ),
        Preset(
            "bias-audit",
            "What does the model take for these classes?",
            "(c) A bias audit of chosen classes: for each audited class, participants judge whether "
            "the class describes its prototypes and criticisms and the other images the model finds "
            "closest to it (smallest adversarial budget).",
            {
                "task_kind": Study.TaskKind.LABEL_CHECK,
                "item_selection": Study.ItemSelection.AUDIT,
                "judgments_per_item": 5,
                "attention_checks": 1,
                "instructions": (
                    "Each photo comes with a label. Answer **Yes** if the label is a reasonable "
                    "description of the photo, **No** if not, then say how sure you are."
                ),
            },
        ),
    )
}


@transaction.atomic
def create(
    preset_name: str,
    slug: str,
    image_set: ImageSet,
    classifier: Classifier,
    audit_classes: list[str] | None = None,
    **overrides,
) -> Study:
    """A draft study from a preset; Invalid names an unknown preset, a taken slug or a bias
    audit without classes."""
    preset = PRESETS.get(preset_name)
    if preset is None:
        raise Invalid(f"Unknown preset {preset_name!r}; one of {', '.join(PRESETS)}.", code="unknown_preset")
    if Study.objects.filter(slug=slug).exists():
        raise Invalid(f"A study with the slug {slug!r} exists already.", code="slug_taken")
    fields = {**preset.fields, **overrides}
    if fields.get("item_selection") == Study.ItemSelection.AUDIT:
        if not audit_classes:
            raise Invalid("A bias audit needs the classes to audit.", code="no_audit_classes")
        fields["audit_classes"] = list(audit_classes)
    fields.setdefault("title", preset.title)
    fields.setdefault("consent_text", CONSENT)
    study = Study.objects.create(slug=slug, image_set=image_set, classifier=classifier, **fields)
    for condition in preset.conditions:
        Condition.objects.create(study=study, weight=1, **condition)
    return study
