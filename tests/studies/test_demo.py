"""`manage.py demo` builds a live study from the bundled photos and classifier, and a
second run reuses everything."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from inference.models import Classifier, Image, Prediction, PreparationJob
from studies.models import Item, Study, StudyVersion

pytestmark = pytest.mark.django_db


def counts():
    return {
        model.__name__: model.objects.count()
        for model in (User, Image, Classifier, PreparationJob, Prediction, Study, StudyVersion, Item)
    }


def test_the_demo_builds_a_live_study_and_running_it_twice_duplicates_nothing(settings, tmp_path, capsys):
    settings.DATA_DIR = tmp_path
    call_command("demo", no_serve=True)
    first = capsys.readouterr().out
    # The studies share their preparations: each is run and reported once, not per study.
    reported = [line for line in first.splitlines() if line.startswith("Job ")]
    assert len(reported) == len(set(reported)) == PreparationJob.objects.count()
    study = Study.objects.get(slug="demo-topk")
    assert study.status == Study.Status.LIVE
    assert study.current_version.items.count() == 24
    # One live study per task kind, on real prepared stimuli (one shared attack).
    kinds = {s.task_kind for s in Study.objects.filter(status=Study.Status.LIVE)}
    assert kinds == {"topk_select", "label_check", "forced_choice", "manipulation_check"}
    both = Study.objects.get(slug="demo-label-check").current_version.items
    assert both.filter(adversarial__isnull=False).count() == both.filter(adversarial__isnull=True).count() > 0
    assert all(item.explanation_id for item in both.all())
    assert PreparationJob.objects.filter(kind="adversarial").count() == 1
    for slug in ("demo-label-toggle", "demo-forced-choice", "demo-manipulation"):
        assert f"http://127.0.0.1:8000/s/{slug}/" in first
    # The three studies of the 2018 paper, from the presets, live on the bundled photos.
    paper = {s.slug: s for s in Study.objects.filter(slug__startswith="demo-paper-")}
    assert {slug: s.status for slug, s in paper.items()} == dict.fromkeys(
        ["demo-paper-topk", "demo-paper-adversarial", "demo-paper-bias"], Study.Status.LIVE
    )
    mistakes = paper["demo-paper-topk"].current_version.items.all()
    assert mistakes and all(i.prediction.topk[0]["class_id"] != i.image.true_class for i in mistakes)
    assert paper["demo-paper-adversarial"].current_version.config["conditions"][1]["name"] == "saliency"
    assert {i.labels[0]["text"] for i in paper["demo-paper-bias"].current_version.items.all()} == {
        "basketball"
    }
    assert "http://127.0.0.1:8000/s/demo-topk/" in first
    password = (tmp_path / "demo-admin-password.txt").read_text().strip()
    assert f"user admin, password {password}" in first
    assert User.objects.get(username="admin").check_password(password)
    before = counts()

    call_command("demo", no_serve=True)
    second = capsys.readouterr().out
    assert counts() == before
    assert f"password {password}" in second
    assert "0 imported, 24 duplicates, 0 rejected" in second
