"""Computing top-k predictions with the real bundled classifier, as the worker does."""

import pytest
from django.core.management import CommandError, call_command

from inference.labelsets import imagenet_1k
from inference.models import Classifier, ImageSet, Prediction, PreparationJob
from inference.services.classifiers import register_bundled
from inference.services.images import import_sources, sample_sources
from inference.services.jobs import request_predictions
from inference.services.predictions import STORED_K, run_prediction_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_now(django_capture_on_commit_callbacks):
    """request_predictions() with its on-commit dispatch run, as after a real commit."""

    def request(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            job = request_predictions(*args, **kwargs)
        job.refresh_from_db()
        return job

    return request


@pytest.fixture
def photos():
    image_set = ImageSet.objects.create(name="photos")
    wanted = {"skimage/coffee.png", "skimage/chelsea.png", "foolbox/imagenet_00_243.jpg"}
    sources = [s for s in sample_sources() if s.name in wanted]
    import_sources(sources, image_set, imagenet_1k(), max_pixels=10_000_000)
    return image_set


def test_the_bundled_classifier_is_registered_with_its_weights_hash_and_preprocessing():
    classifier = register_bundled()
    assert classifier.weights_sha256.startswith("57934424")
    assert classifier.preprocessing["interpolation"] == "bicubic"
    assert classifier.preprocessing["mean"] == [0.5, 0.5, 0.5]
    assert register_bundled().pk == classifier.pk
    assert Classifier.objects.count() == 1


def test_a_prediction_job_stores_one_top_k_row_per_image_with_real_predictions(photos, request_now):
    classifier = register_bundled()
    job = request_now(photos, classifier, k=5)
    assert job.status == PreparationJob.Status.DONE and (job.done, job.total) == (3, 3)
    coffee = Prediction.objects.get(image__original_name="skimage/coffee.png")
    assert len(coffee.topk) == STORED_K
    top = coffee.topk[0]
    assert (top["rank"], top["index"], top["class_id"], top["label"]) == (1, 967, "n07920052", "espresso")
    assert top["prob"] > 0.8
    probs = [entry["prob"] for entry in coffee.topk]
    assert probs == sorted(probs, reverse=True)
    cat = Prediction.objects.get(image__original_name="skimage/chelsea.png")
    assert {entry["index"] for entry in cat.topk[:3]} & {281, 282, 285}


def test_recomputing_is_a_no_op(photos, request_now):
    classifier = register_bundled()
    first = request_now(photos, classifier)
    before = list(Prediction.objects.order_by("id").values_list("id", "topk", "created_at"))
    again = request_now(photos, classifier)
    assert again.pk == first.pk
    run_prediction_job(first.pk)
    assert list(Prediction.objects.order_by("id").values_list("id", "topk", "created_at")) == before
    assert PreparationJob.objects.count() == 1


def test_an_interrupted_job_computes_only_what_is_missing(photos, request_now):
    classifier = register_bundled()
    job = request_now(photos, classifier)
    kept = Prediction.objects.exclude(image__original_name="skimage/coffee.png")
    kept_rows = list(kept.order_by("id").values_list("id", "created_at"))
    Prediction.objects.filter(image__original_name="skimage/coffee.png").delete()
    PreparationJob.objects.filter(pk=job.pk).update(status=PreparationJob.Status.RUNNING)
    job = run_prediction_job(job.pk)
    assert job.status == PreparationJob.Status.DONE and job.done == 3
    assert list(kept.order_by("id").values_list("id", "created_at")) == kept_rows
    assert Prediction.objects.count() == 3


def test_weights_that_no_longer_match_the_record_fail_the_job_with_the_reason(photos, request_now):
    classifier = register_bundled()
    Classifier.objects.filter(pk=classifier.pk).update(weights_sha256="f" * 64)
    job = request_now(photos, classifier)
    assert job.status == PreparationJob.Status.FAILED
    assert "not the recorded ffffffffffff" in job.message
    assert Prediction.objects.count() == 0


def test_a_stored_image_that_went_missing_fails_the_job_and_names_it(photos, request_now):
    classifier = register_bundled()
    image = photos.images.get(original_name="skimage/coffee.png")
    image.file.storage.delete(image.file.name)
    job = request_now(photos, classifier)
    assert job.status == PreparationJob.Status.FAILED
    assert image.sha256[:12] in job.message


def test_the_prepare_command_runs_in_process_and_reports(photos, capsys):
    classifier = register_bundled()
    call_command("prepare", image_set="photos", classifier=classifier.name, verbosity=0)
    assert "done (3/3)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="Give --study"):
        call_command("prepare", image_set="nope", classifier=classifier.name, verbosity=0)
    with pytest.raises(CommandError, match="No study"):
        call_command("prepare", study="nope", verbosity=0)
