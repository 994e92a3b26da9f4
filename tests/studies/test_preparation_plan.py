"""One request prepares a whole study: a plan of jobs in which each stage starts when the
stages it reads are done, the same for the admin's action, `manage.py prepare --study`
and the demo, with each stage's progress on the study's page."""

import io

import pytest
from django.core.management import call_command
from django.test import Client

from inference.labelsets import imagenet_1k
from inference.models import (
    AdversarialImage,
    Explanation,
    ImageSet,
    PlanStage,
    Prediction,
    PreparationJob,
    PreparationPlan,
)
from inference.services import plans
from inference.services.classifiers import register_bundled
from inference.services.images import import_sources, sample_sources
from studies.services import launch, preparation, presets
from tests import factories

pytestmark = pytest.mark.django_db

Kind = PreparationJob.Kind


@pytest.fixture
def photos():
    photos = ImageSet.objects.create(name="photos")
    wanted = {"skimage/coffee.png", "skimage/chelsea.png"}
    import_sources([s for s in sample_sources() if s.name in wanted], photos, imagenet_1k(), 10_000_000)
    return photos


@pytest.fixture
def adversarial_study(photos):
    # The paper's adversarial-explanations preset: predictions, adversarial images, and
    # explanation maps of both, which read the adversarial images.
    study = presets.create("adversarial-explanations", "fooled", photos, register_bundled())
    study.attack = {"attack": "fgsm", "eps": 8}
    study.images_per_participant = 1
    # The sample photos carry no dataset labels, which practice and gold trials need.
    study.practice_trials = study.gold_trials = 0
    study.save()
    return study


def kinds(plan: PreparationPlan) -> list[str]:
    return list(plan.stages.values_list("kind", flat=True))


def test_a_study_plan_names_what_each_stage_reads(adversarial_study):
    plan = preparation.prepare(adversarial_study, dispatch=False)
    stages = {stage.kind: stage for stage in plan.stages.all()}
    assert list(stages) == [Kind.PREDICTIONS, Kind.ADVERSARIAL, Kind.EXPLANATIONS]
    assert stages[Kind.EXPLANATIONS].needs == [stages[Kind.ADVERSARIAL].index]
    assert stages[Kind.PREDICTIONS].needs == [] and stages[Kind.ADVERSARIAL].needs == []
    # Stages that read nothing start at once; the explanations wait for the attack.
    assert stages[Kind.PREDICTIONS].job and stages[Kind.ADVERSARIAL].job
    assert stages[Kind.EXPLANATIONS].job is None
    waiting = plans.state(plan).stages[2]
    assert waiting.state == "waiting" and waiting.detail == "starts when adversarial images are done"


def test_one_admin_click_prepares_the_whole_study_and_it_launches(
    adversarial_study, django_user_model, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            "/admin/studies/study/",
            {"action": "prepare", "_selected_action": [adversarial_study.pk]},
            follow=True,
        )
    message = page.content.decode()
    assert "Its page shows the progress" in message and "adversarial images:" in message
    plan = PreparationPlan.objects.get()
    assert plan.requested_by.username == "boss"
    assert [stage.job.status for stage in plan.stages.select_related("job")] == ["done"] * 3
    assert Prediction.objects.count() == 2
    assert Explanation.objects.filter(adversarial__isnull=False).count() == AdversarialImage.objects.count()
    page = client.get(f"/admin/studies/study/{adversarial_study.pk}/change/").content.decode()
    assert "Prepared: all 3 stages done." in page
    assert page.count('class="stage-done"') == 3
    launch.launch(adversarial_study)


def test_the_study_page_shows_each_stage_and_what_is_left(adversarial_study, django_user_model):
    preparation.prepare(adversarial_study, dispatch=False)
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    page = client.get(f"/admin/studies/study/{adversarial_study.pk}/change/").content.decode()
    assert "Preparing: 0 of 3 stages finished, 3 to go." in page
    assert "Top-k predictions (job" in page and "pending, 0/2 images" in page
    assert "Explanation maps (job not started): starts when adversarial images are done" in page


def test_a_study_never_prepared_says_how_to_prepare_it(adversarial_study, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    page = client.get(f"/admin/studies/study/{adversarial_study.pk}/change/").content.decode()
    assert "Not prepared yet" in page and "Prepare stimuli" in page


def test_a_failed_stage_stops_those_that_read_it_and_says_why(
    tmp_path, django_user_model, django_capture_on_commit_callbacks
):
    # The factory's classifier record names weights whose sha256 no file has: every job fails.
    study = factories.study(tmp_path, live=False, stimuli="adversarial", attack={"attack": "fgsm", "eps": 4})
    Prediction.objects.all().delete()
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/studies/study/", {"action": "prepare", "_selected_action": [study.pk]})
    page = client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert "Preparation stopped: a stage failed" in page
    assert "not the recorded 000000000000" in page
    assert Prediction.objects.count() == 0


def test_a_stage_waiting_on_a_failed_one_is_blocked_not_started(adversarial_study):
    plan = preparation.prepare(adversarial_study, dispatch=False)
    attack = plan.stages.get(kind=Kind.ADVERSARIAL).job
    attack.mark_failed("the attack ran out of patience")
    plans.advance(plan)
    explanations = plan.stages.get(kind=Kind.EXPLANATIONS)
    assert explanations.job is None
    blocked = plans.state(plan).stages[2]
    assert blocked.state == "blocked" and "needs adversarial images, which failed" in blocked.detail


def test_advancing_twice_gives_each_stage_one_job(adversarial_study):
    plan = preparation.prepare(adversarial_study, dispatch=False)
    for stage in plan.stages.exclude(kind=Kind.EXPLANATIONS).select_related("job"):
        stage.job.mark_done()
    first = plans.advance(plan)
    again = plans.advance(plan)
    assert [stage.kind for stage in first] == [Kind.EXPLANATIONS] and again == []
    assert PreparationJob.objects.filter(kind=Kind.EXPLANATIONS).count() == 1


def test_a_job_finishing_starts_the_stages_waiting_on_it(adversarial_study):
    plan = preparation.prepare(adversarial_study, dispatch=False)
    attack = plan.stages.get(kind=Kind.ADVERSARIAL).job
    attack.mark_done()
    plans.job_finished(attack.pk)
    assert plan.stages.get(kind=Kind.EXPLANATIONS).job is not None


def test_two_studies_share_the_work_they_both_need(photos):
    classifier = register_bundled()
    first = presets.create("topk-mistakes", "first", photos, classifier)
    second = presets.create("adversarial-explanations", "second", photos, classifier)
    a, b = preparation.prepare(first, dispatch=False), preparation.prepare(second, dispatch=False)
    predictions = PreparationJob.objects.filter(kind=Kind.PREDICTIONS)
    assert predictions.count() == 1
    assert a.stages.get(kind=Kind.PREDICTIONS).job == b.stages.get(kind=Kind.PREDICTIONS).job


def test_a_study_that_cannot_be_prepared_writes_no_plan(adversarial_study):
    adversarial_study.attack = {"attack": "pgd", "eps": -3}
    with pytest.raises(ValueError, match="eps"):
        preparation.prepare(adversarial_study)
    assert not PreparationPlan.objects.exists() and not PlanStage.objects.exists()


def test_the_admin_says_when_a_study_cannot_be_prepared(adversarial_study, django_user_model):
    adversarial_study.attack = {"attack": "pgd", "eps": -3}
    adversarial_study.save()
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    page = client.post(
        "/admin/studies/study/",
        {"action": "prepare", "_selected_action": [adversarial_study.pk]},
        follow=True,
    ).content.decode()
    assert "cannot be prepared as configured" in page and "eps" in page
    assert not PreparationJob.objects.exists()


def test_the_command_runs_every_stage_in_the_order_they_read_each_other(adversarial_study):
    out, err = io.StringIO(), io.StringIO()
    call_command("prepare", study=adversarial_study.slug, stdout=out, stderr=err)
    reported = [line for line in out.getvalue().splitlines() if line.startswith("Job ")]
    assert [line.split("(")[1].split(")")[0] for line in reported] == [
        "predictions",
        "adversarial",
        "explanations",
    ]
    assert all(": done (" in line for line in reported)
    plan = PreparationPlan.objects.get()
    jobs = [stage.job for stage in plan.stages.select_related("job")]
    assert jobs[2].started_at >= jobs[1].finished_at
    launch.launch(adversarial_study)


def test_the_command_fails_with_the_reason_of_a_failed_stage(tmp_path):
    study = factories.study(tmp_path, live=False)
    Prediction.objects.all().delete()
    with pytest.raises(Exception, match="Top-k predictions failed: .*not the recorded 000000000000"):
        call_command("prepare", study=study.slug, stdout=io.StringIO(), stderr=io.StringIO())
