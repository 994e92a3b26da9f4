"""The study admin refuses what cannot run: a running study is never saved into a design its
image set cannot serve, malformed JSON settings are errors on their own field whatever the
status, and the pages read properly (help texts, one version list row per study slug)."""

import json

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.test import Client
from django.test.utils import CaptureQueriesContext

from studies.models import Condition, Study, StudyVersion
from studies.services import launch as lifecycle
from tests import factories

pytestmark = pytest.mark.django_db

JSON_FIELDS = ("attack", "blocks", "audit_classes", "exclusion_rules")


@pytest.fixture
def admin(django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    return client


def form_data(study: Study, conditions: list[dict] | None = None, **changes) -> dict:
    """The change form as the admin would post it back, with `changes` made and the
    between-subjects conditions replaced by `conditions`."""
    data = {k: v for k, v in model_to_dict(study).items() if v is not None and k != "current_version"}
    data.update({name: json.dumps(getattr(study, name)) for name in JSON_FIELDS})
    data["researchers"] = [user.pk for user in data.get("researchers", [])]
    for name, value in changes.items():
        data[name] = json.dumps(value) if name in JSON_FIELDS else value
    existing = list(study.conditions.all())
    rows = conditions or []
    data.update(
        {"conditions-TOTAL_FORMS": len(existing) + len(rows), "conditions-INITIAL_FORMS": len(existing)}
    )
    for n, condition in enumerate(existing):
        # Existing rows are deleted so that `conditions` is the whole new list.
        data.update({f"conditions-{n}-id": condition.pk, f"conditions-{n}-DELETE": "on"})
        data.update({f"conditions-{n}-{k}": getattr(condition, k) for k in ("name", "weight", "quota")})
    for n, condition in enumerate(rows, start=len(existing)):
        data.update({f"conditions-{n}-{k}": v for k, v in condition.items()})
    return {k: ("on" if v is True else v) for k, v in data.items() if v is not False}


def change(admin: Client, study: Study, conditions=None, **changes):
    return admin.post(f"/admin/studies/study/{study.pk}/change/", form_data(study, conditions, **changes))


def field_errors(reply) -> dict:
    assert reply.status_code == 200, "the form was accepted"
    return reply.context["adminform"].form.errors


def condition_errors(reply) -> list[str]:
    assert reply.status_code == 200, "the form was accepted"
    inlines = reply.context["inline_admin_formsets"]
    return [str(error) for inline in inlines for error in inline.formset.non_form_errors()]


def running(tmp_path, status: str) -> Study:
    study = factories.study(tmp_path, n_images=12, per_participant=4, live=False)
    if status == "pilot":
        lifecycle.pilot(study)
    else:
        lifecycle.launch(study)
        if status == "paused":
            lifecycle.pause(study)
    study.refresh_from_db()
    assert study.status == status
    return study


@pytest.mark.parametrize("status", ["live", "pilot", "paused"])
def test_a_running_study_is_not_saved_with_more_images_per_participant_than_its_set_has(
    tmp_path, admin, status
):
    study = running(tmp_path, status)
    prompt = study.prompt
    reply = change(admin, study, images_per_participant=50, prompt="A new prompt")
    errors = field_errors(reply)
    assert list(errors) == ["images_per_participant"]
    assert "50 images per participant" in errors["images_per_participant"][0]
    assert "12 images" in errors["images_per_participant"][0]
    assert "changed successfully" not in reply.content.decode()
    study.refresh_from_db()
    assert (study.images_per_participant, study.prompt) == (4, prompt)
    assert StudyVersion.objects.count() == 1 and study.current_version.number == 1


def test_both_versions_of_each_image_count_when_participants_may_see_both(tmp_path, admin):
    attack = {"attack": "fgsm", "eps": 4}
    both = {"stimuli": "both", "attack": attack, "one_version_per_image": False}
    study = factories.study(tmp_path, n_images=6, per_participant=4, prepared=True, live=False, **both)
    lifecycle.launch(study)
    study.refresh_from_db()
    # Twelve stimuli from six images: twelve per participant is possible, thirteen is not.
    assert "images_per_participant" in field_errors(change(admin, study, images_per_participant=13))
    reply = change(admin, study, images_per_participant=12)
    assert reply.status_code == 302
    study.refresh_from_db()
    assert study.images_per_participant == 12


def test_a_draft_saves_more_images_per_participant_than_its_set_has_and_is_told_it_is_not_ready(
    tmp_path, admin
):
    study = factories.study(tmp_path, n_images=12, per_participant=4, live=False)
    reply = change(admin, study, images_per_participant=50)
    assert reply.status_code == 302
    study.refresh_from_db()
    assert study.images_per_participant == 50
    page = admin.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert "Not ready:" in page and "50 images per participant, but only 12 source images" in page


def test_the_running_edit_check_counts_images_rather_than_reading_them(tmp_path):
    study = running(tmp_path, "live")
    study.images_per_participant = 50
    with CaptureQueriesContext(connection) as queries:
        problems = lifecycle.edit_problems(study)
    assert list(problems) == ["images_per_participant"]
    # The images themselves and the set's links to them: counted, never listed.
    images = [q["sql"] for q in queries if '"inference_image"' in q["sql"] or "imageset_images" in q["sql"]]
    assert images and all("COUNT(" in sql.upper() for sql in images), images
    assert len(queries) <= 2


@pytest.mark.parametrize(
    ("conditions", "wanted"),
    [
        ([{"name": "a", "weight": 0, "quota": 0}, {"name": "b", "weight": 0, "quota": 0}], "weight 0"),
        ([{"name": "a", "weight": 1, "quota": 0}, {"name": "b", "weight": 0, "quota": 5}], "condition b"),
    ],
)
def test_a_running_study_is_not_saved_with_conditions_nobody_can_be_assigned_to(
    tmp_path, admin, conditions, wanted
):
    study = running(tmp_path, "live")
    reply = change(admin, study, conditions=conditions)
    errors = condition_errors(reply)
    assert any(wanted in error for error in errors), errors
    assert not Condition.objects.exists() and StudyVersion.objects.count() == 1


def test_a_running_study_is_not_saved_with_a_quota_its_images_cannot_serve(tmp_path, admin):
    # 12 images × K=2 judgments serve at most 6 participants of 4 images.
    study = running(tmp_path, "live")
    reply = change(admin, study, conditions=[{"name": "a", "weight": 1, "quota": 7}], judgments_per_item=2)
    errors = condition_errors(reply)
    assert any("condition a wants 7 participants" in error for error in errors), errors
    study.refresh_from_db()
    assert study.judgments_per_item == 0 and not Condition.objects.exists()


def test_a_draft_saves_conditions_it_cannot_run_yet(tmp_path, admin):
    study = factories.study(tmp_path, live=False)
    reply = change(admin, study, conditions=[{"name": "a", "weight": 0, "quota": 0}])
    assert reply.status_code == 302
    assert "every condition has weight 0: nobody could be assigned" in lifecycle.readiness_problems(study)


@pytest.mark.parametrize(
    ("rules", "wanted"),
    [
        ([{"rule": "too_fast", "threshold": 1, "mode": "live"}], "unknown rule 'too_fast'"),
        ([{"rule": "median_rt", "threshold": 300, "mode": "sometimes"}], "mode must be live or posthoc"),
        ([{"rule": "gold_accuracy", "threshold": 80, "mode": "live"}], "gold_accuracy needs a threshold"),
        ([{"rule": "median_rt", "threshold": 300}], "exactly the fields rule, threshold and mode"),
        ({"rule": "median_rt"}, "must be a list"),
    ],
)
@pytest.mark.parametrize("live", [False, True])
def test_a_bad_exclusion_rule_is_an_error_on_its_field_and_nothing_is_saved(
    tmp_path, admin, rules, wanted, live
):
    study = factories.study(tmp_path, live=live)
    errors = field_errors(change(admin, study, exclusion_rules=rules, prompt="A new prompt"))
    assert list(errors) == ["exclusion_rules"]
    assert wanted in errors["exclusion_rules"][0]
    study.refresh_from_db()
    assert study.exclusion_rules == [] and study.prompt != "A new prompt"


def test_good_exclusion_rules_save(tmp_path, admin):
    study = factories.study(tmp_path, live=False)
    rules = [{"rule": "median_rt", "threshold": 300, "mode": "posthoc"}]
    assert change(admin, study, exclusion_rules=rules).status_code == 302
    study.refresh_from_db()
    assert study.exclusion_rules == rules


@pytest.mark.parametrize(
    ("changes", "field", "wanted"),
    [
        ({"blocks": [{"name": "only", "explanation_display": "none"}]}, "blocks", "at least two levels"),
        (
            {
                "blocks": [
                    {"name": "a", "explanation_display": "none"},
                    {"name": "b", "explanation_display": "x"},
                ]
            },
            "blocks",
            "explanation_display must be one of",
        ),
        (
            {"blocks": [{"name": "a", "stimuli": "clean"}, {"name": "b", "stimuli": "adversarial"}]},
            "blocks",
            "need the study's stimuli to be both",
        ),
        ({"stimuli": "adversarial", "attack": {"attack": "pgd", "eps": 9999}}, "attack", "eps"),
        ({"stimuli": "adversarial", "attack": {}}, "attack", "attack is required"),
        ({"item_selection": "audit", "audit_classes": ["no-such-class"]}, "audit_classes", "no-such-class"),
        ({"item_selection": "audit", "audit_classes": []}, "audit_classes", "needs audited classes"),
    ],
)
def test_other_malformed_json_settings_are_errors_on_their_field(tmp_path, admin, changes, field, wanted):
    study = factories.study(tmp_path, live=False)
    errors = field_errors(change(admin, study, **changes))
    assert list(errors) == [field]
    assert wanted in errors[field][0]
    study.refresh_from_db()
    assert study.stimuli == "clean" and study.blocks == [] and study.item_selection == "all"


def test_json_settings_that_do_not_apply_are_not_judged(tmp_path, admin):
    # Clean stimuli ignore the attack; a selection other than the audit ignores its classes.
    study = factories.study(tmp_path, live=False)
    reply = change(admin, study, attack={"attack": "pgd", "eps": 9999}, audit_classes=["no-such-class"])
    assert reply.status_code == 302


@pytest.mark.parametrize("page", ["/admin/studies/study/add/", "/admin/studies/study/preset/"])
def test_the_slug_help_text_shows_the_participant_link_in_full(admin, page):
    html = admin.get(page).content.decode()
    assert "The participant link is /s/ followed by the slug, e.g. /s/my-study/." in html
    assert "/s//" not in html


def versions_of_two_studies_with_one_title(tmp_path, n: int) -> None:
    for slug in ("spring-wave", "autumn-wave"):
        study = factories.study(tmp_path, slug=slug, set_name=slug, title="Trust in top-k")
        for number in range(2, n + 1):
            StudyVersion.objects.create(study=study, number=number, config={})


def test_the_version_list_tells_studies_of_one_title_apart_by_slug(tmp_path, admin):
    versions_of_two_studies_with_one_title(tmp_path, 1)
    page = admin.get("/admin/studies/studyversion/").content.decode()
    assert 'field-study_slug">spring-wave<' in page and 'field-study_slug">autumn-wave<' in page


@pytest.mark.parametrize("n", [1, 20])
def test_the_version_list_takes_as_many_queries_for_many_versions_as_for_few(
    tmp_path, admin, n, django_assert_max_num_queries
):
    versions_of_two_studies_with_one_title(tmp_path, n)
    # Session, user, two counts, the page's rows and the study filter's choices; a query per
    # row for its study would add 2 at n=1 and 40 at n=20.
    with django_assert_max_num_queries(6):
        reply = admin.get("/admin/studies/studyversion/")
    assert reply.content.decode().count('field-study_slug">autumn-wave<') == n
