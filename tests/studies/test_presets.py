"""Presets reproducing the three studies of the 2018 paper, and the item selections they
use: the model's mistakes, and a bias audit of chosen classes."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from inference.labelsets import imagenet_1k
from inference.models import PrototypeSet
from inference.services.jobs import params_key
from studies.models import Study
from studies.services import audit, presets
from studies.services import launch as lifecycle
from studies.services.errors import Invalid
from studies.services.stimuli import required_jobs
from tests import factories

pytestmark = pytest.mark.django_db
LABELS = imagenet_1k()


def base(tmp_path, **fields):
    fields.setdefault("labels", LABELS.class_ids[:6])
    return factories.study(tmp_path, live=False, slug="base", **fields)


def test_each_preset_creates_a_draft_of_its_design(tmp_path):
    source = base(tmp_path)
    topk = presets.create("topk-mistakes", "a", source.image_set, source.classifier)
    assert (topk.task_kind, topk.item_selection, topk.status) == ("topk_select", "mistakes", "draft")
    adversarial = presets.create("adversarial-explanations", "b", source.image_set, source.classifier)
    assert adversarial.stimuli == "adversarial" and adversarial.attack["attack"] == "pgd"
    assert [(c.name, c.explanation_display) for c in adversarial.conditions.all()] == [
        ("no-explanation", "none"),
        ("saliency", "side_by_side"),
    ]
    bias = presets.create(
        "bias-audit", "c", source.image_set, source.classifier, audit_classes=["basketball"]
    )
    assert bias.item_selection == "audit" and bias.audit_classes == ["basketball"]


@pytest.mark.parametrize(
    ("preset", "slug", "classes", "code"),
    [
        ("nonsense", "x", [], "unknown_preset"),
        ("topk-mistakes", "base", [], "slug_taken"),
        ("bias-audit", "x", [], "no_audit_classes"),
    ],
)
def test_a_preset_with_bad_input_creates_nothing(tmp_path, preset, slug, classes, code):
    source = base(tmp_path)
    with pytest.raises(Invalid) as refused:
        presets.create(preset, slug, source.image_set, source.classifier, audit_classes=classes)
    assert refused.value.code == code
    assert Study.objects.count() == 1


def test_the_mistakes_selection_keeps_only_images_the_model_gets_wrong(tmp_path):
    study = base(tmp_path, item_selection="mistakes")
    right = study.image_set.images.order_by("id").first()
    prediction = right.predictions.get()
    prediction.topk[0]["class_id"] = right.true_class
    prediction.save()
    plan = lifecycle.readiness(study)
    assert len(plan.items) == 5 and right.pk not in {item["image"].pk for item in plan.items}
    assert "1 stimuli are classified correctly (not mistakes)" in plan.notes


def test_a_bias_audit_asks_about_the_classs_prototypes_criticisms_and_closest_images(tmp_path):
    study = base(tmp_path, task_kind="label_check", item_selection="audit", audit_classes=["basketball"])
    basketball = LABELS.resolve("basketball")
    index = LABELS.index(basketball)
    assert [kind for kind, _ in required_jobs(study)] == ["predictions", "features", "prototypes", "bias"]
    assert required_jobs(study)[-1][1]["target_class"] == index
    assert lifecycle.readiness(study).problems == [
        "no image to audit yet: prepare the study (prototypes and closest images)"
    ]
    ids = list(study.image_set.images.order_by("id").values_list("id", flat=True))
    common = {"image_set": study.image_set, "classifier": study.classifier, "class_index": index}
    PrototypeSet.objects.create(
        **common,
        class_id=basketball,
        method="mmd_critic",
        params={},
        params_key="k",
        prototypes=ids[:1],
        criticisms=ids[1:2],
    )
    key = params_key("bias", audit.bias_params(study, basketball))
    PrototypeSet.objects.create(
        **common,
        class_id=basketball,
        method="adversarial_distance",
        params={},
        params_key=key,
        criticisms=ids[2:4],
    )
    plan = lifecycle.readiness(study)
    assert sorted(item["image"].pk for item in plan.items) == ids[:4]
    assert {item["labels"][0]["text"] for item in plan.items} == {"basketball"}


def test_a_bias_audit_of_an_unknown_class_is_refused(tmp_path):
    study = base(tmp_path, task_kind="label_check", item_selection="audit", audit_classes=["unicorn"])
    problems = lifecycle.readiness_problems(study)
    assert problems == ["the bias audit is invalid: label 'unicorn' is not a class of imagenet-1k"]


def test_the_admin_creates_a_study_from_a_preset(tmp_path, django_user_model):
    source = base(tmp_path)
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    assert "Create from a preset" in admin.get("/admin/studies/study/").content.decode()
    form = {
        "preset": "adversarial-explanations",
        "slug": "from-admin",
        "image_set": source.image_set_id,
        "classifier": source.classifier_id,
        "audit_classes": "",
    }
    reply = admin.post("/admin/studies/study/preset/", form, follow=True)
    study = Study.objects.get(slug="from-admin")
    assert reply.redirect_chain[-1][0] == f"/admin/studies/study/{study.pk}/change/"
    assert study.conditions.count() == 2
    taken = admin.post("/admin/studies/study/preset/", form)
    assert "exists already" in taken.content.decode()


def test_the_create_study_command(tmp_path, capsys):
    source = base(tmp_path)
    name = source.image_set.name
    call_command(
        "create_study", preset="topk-mistakes", slug="cli", image_set=name, classifier=source.classifier.name
    )
    assert "manage.py prepare --study cli" in capsys.readouterr().out
    with pytest.raises(CommandError, match="exists already"):
        call_command(
            "create_study",
            preset="topk-mistakes",
            slug="cli",
            image_set=name,
            classifier=source.classifier.name,
        )
