"""The same code on the real parts: PostgreSQL, Redis and a Celery worker process that
computes predictions with the bundled classifier."""

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import redis
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection

from config.celery import app as celery_app
from inference.engine.testing import tiny_net
from inference.labelsets import imagenet_1k
from inference.models import Classifier, ImageSet, Prediction, PreparationJob
from inference.services import classifier_registrations, image_imports
from inference.services.classifiers import register_bundled
from inference.services.images import import_sources, sample_sources
from inference.services.jobs import request_job
from tests.factories import png_bytes
from tests.requirements import unavailable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def redis_url():
    url = os.environ.get("REDIS_URL")
    if not url:
        unavailable("SECONDLOOK_REQUIRE_SERVICES", "REDIS_URL is not set")
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as error:
        unavailable("SECONDLOOK_REQUIRE_SERVICES", f"Redis at {url} does not answer: {error}")
    return url


def clear_queues(redis_url: str) -> None:
    """Drop what earlier runs may have left: our queues and kombu's unacknowledged set."""
    redis.Redis.from_url(redis_url).delete("gpu", "default", "unacked", "unacked_index", "unacked_mutex")


def worker_env(postgres: str, redis_url: str, tmp_path, settings, **extra: str) -> dict:
    """A worker's environment: the test database, the broker, the same media directory."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.embedded",
        "DATABASE_URL": postgres,
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "SECONDLOOK_DATA_DIR": str(tmp_path),
        **extra,
    }


def start_worker(name: str, env: dict, tmp_path) -> subprocess.Popen:
    log = (tmp_path / f"{name}.log").open("w")
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "gpu,default"]
    command += ["--pool", "solo", "--without-mingle", "--without-gossip", "-l", "info"]
    command += ["-n", f"{name}-{os.getpid()}@%h"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def send_to_workers(settings, redis_url: str) -> None:
    """This test process sends tasks to the broker instead of running them itself."""
    settings.SECONDLOOK_TASK_MODE = "celery"
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = redis_url


@pytest.fixture
def worker(postgres, redis_url, tmp_path, settings):
    """A real `celery worker` process on the test database, and this process sending to it."""
    clear_queues(redis_url)
    env = worker_env(postgres, redis_url, tmp_path, settings)
    process = start_worker("test", env, tmp_path)
    send_to_workers(settings, redis_url)
    try:
        yield process
    finally:
        celery_app.conf.task_always_eager = True
        stop_worker(process)


def wait_for(job: PreparationJob, seconds: float = 180) -> PreparationJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job.pk} still {job.status} ({job.done}/{job.total}) after {seconds}s")


@pytest.fixture
def photos():
    image_set = ImageSet.objects.create(name="photos")
    wanted = {"skimage/coffee.png", "foolbox/imagenet_00_243.jpg", "foolbox/imagenet_01_559.jpg"}
    import_sources([s for s in sample_sources() if s.name in wanted], image_set, imagenet_1k(), 10_000_000)
    return image_set


def test_a_celery_worker_process_computes_the_predictions_on_postgres(worker, photos):
    assert connection.vendor == "postgresql"
    job = wait_for(request_job(PreparationJob.Kind.PREDICTIONS, photos, register_bundled(), {"k": 5}))
    assert job.status == PreparationJob.Status.DONE, job.message
    assert job.worker.endswith(f":{worker.pid}"), job.worker
    assert Prediction.objects.filter(job=job).count() == 3
    coffee = Prediction.objects.get(image__original_name="skimage/coffee.png")
    assert coffee.topk[0]["label"] == "espresso"

    # Asking again is a no-op: no new job, no new rows.
    again = request_job(PreparationJob.Kind.PREDICTIONS, photos, register_bundled(), {"k": 5})
    assert again.pk == job.pk and Prediction.objects.count() == 3


def test_health_reports_the_broker_and_a_live_worker(worker, client):
    # The worker answers pings once it has started; until then the site is degraded.
    deadline = time.monotonic() + 60
    while (body := client.get("/health/").json())["status"] != "ok" and time.monotonic() < deadline:
        assert body["status"] == "degraded" and body["checks"]["broker"]["ok"], body
        time.sleep(0.5)
    assert body["status"] == "ok", body
    assert body["checks"]["workers"]["replied"] >= 1 and body["checks"]["database"]["vendor"] == "postgresql"
    stop_worker(worker)
    body = client.get("/health/").json()
    assert body["status"] == "degraded" and body["checks"]["workers"]["ok"] is False


def test_the_prepare_command_queues_the_job_and_follows_it_to_the_end(worker, photos, capsys):
    classifier = register_bundled()
    call_command("prepare", image_set=photos.name, classifier=classifier.name, verbosity=0)
    assert "done (3/3, 0 failed)" in capsys.readouterr().out
    assert PreparationJob.objects.get().worker.endswith(f":{worker.pid}")


def test_one_request_prepares_a_whole_study_on_the_workers(worker, photos):
    # The workers start each stage once the stages it reads are done: nobody asks twice.
    from inference.services import plans
    from studies.services import preparation, presets

    study = presets.create("adversarial-explanations", "fooled", photos, register_bundled())
    study.attack = {"attack": "fgsm", "eps": 4}
    plan = preparation.prepare(study)
    deadline = time.monotonic() + 240
    while not (state := plans.state(plan)).finished and time.monotonic() < deadline:
        time.sleep(0.5)
    assert state.succeeded, state.stages
    jobs = {stage.kind: stage.job for stage in plan.stages.select_related("job")}
    assert jobs["explanations"].started_at >= jobs["adversarial"].finished_at
    assert all(job.worker.endswith(f":{worker.pid}") for job in jobs.values())


def test_the_worker_computes_adversarial_images_and_explanations(worker, photos):
    classifier = register_bundled()
    attack = {"attack": "fgsm", "eps": 4}
    adversarial = wait_for(request_job(PreparationJob.Kind.ADVERSARIAL, photos, classifier, attack))
    assert adversarial.status == PreparationJob.Status.DONE, adversarial.message
    assert adversarial.progress()["done"] == 3
    explanations = wait_for(
        request_job(
            PreparationJob.Kind.EXPLANATIONS,
            photos,
            classifier,
            {"method": "gradcam", "on": "clean_and_adversarial", "attack": attack},
        )
    )
    assert explanations.status == PreparationJob.Status.DONE, explanations.message
    assert explanations.worker.endswith(f":{worker.pid}")
    assert explanations.progress()["done"] == 3


def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    postgres, redis_url, tmp_path, settings, photos
):
    """SIGKILL the worker while it is working on a batch; a new worker finishes the job once
    the unacknowledged task comes back (visibility timeout), every row stored exactly once."""
    from inference.models import AdversarialImage, JobBatch

    settings.SECONDLOOK_PREPARATION_BATCH = 1
    clear_queues(redis_url)
    env = worker_env(
        postgres,
        redis_url,
        tmp_path,
        settings,
        CELERY_VISIBILITY_TIMEOUT="6",
        CELERY_UNACKED_RESTORE_INTERVAL="2",
        CELERY_UNACKED_RESTORE_THROTTLE="1",
    )
    send_to_workers(settings, redis_url)
    first = start_worker("doomed", env, tmp_path)
    second = None
    try:
        attack = {"attack": "pgd", "eps": 8, "steps": 60}
        job = request_job(PreparationJob.Kind.ADVERSARIAL, photos, register_bundled(), attack)
        deadline = time.monotonic() + 180
        # Kill it while it works on a batch after having finished another one.
        while not (
            job.batches.filter(status=JobBatch.Status.DONE).exists()
            and job.batches.filter(status=JobBatch.Status.RUNNING).exists()
        ):
            assert time.monotonic() < deadline, "the first worker never got going"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        killed = job.batches.get(status=JobBatch.Status.RUNNING)
        second = start_worker("rescuer", env, tmp_path)
        job = wait_for(job, seconds=240)
        assert job.status == PreparationJob.Status.DONE, job.message
        assert job.progress()["done"] == 3 and job.progress()["failed"] == 0
        assert AdversarialImage.objects.filter(params_key=job.params_key).count() == 3
        killed.refresh_from_db()
        assert killed.status == JobBatch.Status.DONE and killed.attempts >= 2
    finally:
        celery_app.conf.task_always_eager = True
        for process in (first, second):
            if process:
                stop_worker(process)


def wait_until_finished(row, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row.refresh_from_db()
        if row.is_finished:
            return row
        time.sleep(0.25)
    raise AssertionError(f"{row} still {row.status} after {seconds}s")


def test_a_worker_imports_an_archive_uploaded_in_the_admin(worker):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("n01440764/fish.png", png_bytes(color=(1, 2, 3)))
        archive.writestr("notes.txt", b"not an image")
    upload = SimpleUploadedFile("photos.zip", buffer.getvalue())
    row = wait_until_finished(image_imports.request_import(ImageSet.objects.create(name="uploaded"), upload))
    assert row.status == row.Status.DONE, row.message
    assert row.counts() == {"imported": 1, "duplicate": 0, "rejected": 1, "left": 0}
    assert row.image_set.images.get().true_class == "n01440764"


def test_a_worker_registers_a_classifier_uploaded_in_the_admin(worker, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.jit.script(tiny_net(num_classes=1000)).save(str(path))
    preprocessing = {"resize": 40, "crop": 32, "interpolation": "bilinear", "mean": [0.5] * 3}
    preprocessing["std"] = [0.5] * 3
    row = classifier_registrations.request_registration(
        name="tiny",
        source="torchscript",
        weights_file=SimpleUploadedFile("tiny.pt", path.read_bytes()),
        preprocessing=preprocessing,
    )
    row = wait_until_finished(row)
    assert row.status == row.Status.DONE, row.message
    assert Classifier.objects.get(name="tiny").num_classes == 1000
