"""Computing top-k predictions with the real bundled classifier, as the worker does."""

import pytest
from django.core.management import CommandError, call_command

from inference.labelsets import imagenet_1k
from inference.models import Classifier, ImageSet, JobBatch, Prediction, PreparationJob
from inference.preparation.handlers.predictions import STORED_K
from inference.preparation.runner import run_batch
from inference.services.classifiers import register_bundled
from inference.services.images import import_sources, sample_sources
from inference.services.jobs import request_job

pytestmark = pytest.mark.django_db
PREDICTIONS = PreparationJob.Kind.PREDICTIONS


@pytest.fixture
def request_now(django_capture_on_commit_callbacks):
    """request_job() with its on-commit dispatch run, as after a real commit."""

    def request(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            job = request_job(PREDICTIONS, *args, **kwargs)
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
    job = request_now(photos, classifier, {"k": 5})
    assert job.status == PreparationJob.Status.DONE
    assert job.progress()["done"] == job.total == 3
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
    first = request_now(photos, classifier, {"k": 5})
    before = list(Prediction.objects.order_by("id").values_list("id", "topk", "created_at"))
    again = request_now(photos, classifier, {"k": 5})
    assert again.pk == first.pk
    for batch in first.batches.all():
        run_batch(batch.pk)
    assert list(Prediction.objects.order_by("id").values_list("id", "topk", "created_at")) == before
    assert PreparationJob.objects.count() == 1


def test_a_job_started_twice_is_one_job(photos):
    classifier = register_bundled()
    first = request_job(PREDICTIONS, photos, classifier, {"k": 5}, dispatch=False)
    second = request_job(PREDICTIONS, photos, classifier, {"k": 5}, dispatch=False)
    assert first.pk == second.pk and PreparationJob.objects.count() == 1
    assert JobBatch.objects.count() == 1


def test_a_batch_interrupted_half_way_computes_only_what_is_missing(photos, request_now):
    classifier = register_bundled()
    job = request_now(photos, classifier, {"k": 5})
    kept = Prediction.objects.exclude(image__original_name="skimage/coffee.png")
    kept_rows = list(kept.order_by("id").values_list("id", "created_at"))
    # As if the worker died after storing two of three rows: the message is redelivered.
    Prediction.objects.filter(image__original_name="skimage/coffee.png").delete()
    PreparationJob.objects.filter(pk=job.pk).update(status=PreparationJob.Status.RUNNING)
    job.batches.update(status=JobBatch.Status.RUNNING)
    run_batch(job.batches.get().pk)
    job.refresh_from_db()
    assert job.status == PreparationJob.Status.DONE and job.progress()["done"] == 3
    assert list(kept.order_by("id").values_list("id", "created_at")) == kept_rows
    assert Prediction.objects.count() == 3


def test_weights_that_no_longer_match_the_record_fail_the_job_with_the_reason(photos, request_now):
    classifier = register_bundled()
    Classifier.objects.filter(pk=classifier.pk).update(weights_sha256="f" * 64)
    classifier.refresh_from_db()
    job = request_now(photos, classifier, {"k": 5})
    assert job.status == PreparationJob.Status.FAILED
    assert "not the recorded ffffffffffff" in job.message
    assert Prediction.objects.count() == 0


def test_an_image_that_vanished_is_recorded_and_the_others_are_still_done(photos, request_now):
    classifier = register_bundled()
    coffee = photos.images.get(original_name="skimage/coffee.png")
    coffee.file.storage.delete(coffee.file.name)
    cat = photos.images.get(original_name="skimage/chelsea.png")
    cat_id = cat.pk
    job = request_job(PREDICTIONS, photos, classifier, {"k": 5}, dispatch=False)
    cat.delete()  # deleted between the request and the work
    job = request_now(photos, classifier, {"k": 5})
    assert job.status == PreparationJob.Status.DONE
    assert job.progress() | {"rate": None, "eta_seconds": None} == {
        "done": 1,
        "failed": 2,
        "total": 3,
        "rate": None,
        "eta_seconds": None,
    }
    errors = {error.image_ref: error.message for error in job.errors.all()}
    assert "cannot read the stored image file" in errors[coffee.pk]
    assert "deleted before it was prepared" in errors[cat_id]
    assert Prediction.objects.count() == 1


def test_the_prepare_command_runs_in_process_and_reports(photos, capsys):
    classifier = register_bundled()
    call_command("prepare", image_set="photos", classifier=classifier.name, verbosity=0)
    assert "done (3/3, 0 failed)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="Give --study"):
        call_command("prepare", image_set="nope", classifier=classifier.name, verbosity=0)
    with pytest.raises(CommandError, match="No study"):
        call_command("prepare", study="nope", verbosity=0)
    with pytest.raises(CommandError, match="k must be a whole number from 1 to 10"):
        call_command("prepare", image_set="photos", classifier=classifier.name, k=11, verbosity=0)
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("prepare", image_set="photos", classifier=classifier.name, params="{", verbosity=0)


def test_asking_again_after_a_failure_retries_only_the_failed_image(photos, request_now):
    classifier = register_bundled()
    coffee = photos.images.get(original_name="skimage/coffee.png")
    saved = coffee.file.read()
    coffee.file.close()
    coffee.file.storage.delete(coffee.file.name)
    first = request_now(photos, classifier, {"k": 5})
    assert first.progress()["failed"] == 1
    kept = list(Prediction.objects.order_by("id").values_list("id", "created_at"))
    from django.core.files.base import ContentFile

    coffee.file.storage.save(coffee.file.name, ContentFile(saved))  # the researcher fixes it
    second = request_now(photos, classifier, {"k": 5})
    assert second.pk != first.pk and second.status == PreparationJob.Status.DONE
    assert second.progress()["failed"] == 0
    assert Prediction.objects.count() == 3
    assert list(Prediction.objects.order_by("id").values_list("id", "created_at"))[:2] == kept
