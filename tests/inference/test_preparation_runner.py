"""The batch runner: out-of-memory back-off, failing images isolated, progress and ETA."""

from types import SimpleNamespace

import pytest
import torch

from inference.models import JobError, PreparationJob
from inference.preparation import runner
from tests import factories

pytestmark = pytest.mark.django_db


class RecordingHandler:
    """Processes images like a model would, failing the way a test asks it to."""

    def __init__(self, oom_above: int = 10**6, poison: frozenset = frozenset()):
        self.oom_above, self.poison, self.calls, self.done = oom_above, poison, [], set()

    def process(self, job, loaded, images, batch_size):
        self.calls.append((len(images), batch_size))
        if batch_size > self.oom_above:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if any(image.pk in self.poison for image in images):
            raise RuntimeError("NaN in the logits")
        self.done |= {image.pk for image in images}
        return {}

    def done_ids(self, job, image_ids):
        return self.done & set(image_ids)


@pytest.fixture
def images(tmp_path):
    return list(factories.image_set(tmp_path, n=8).images.order_by("id"))


def test_out_of_memory_halves_the_batch_and_finishes_every_image(images, settings):
    settings.SECONDLOOK_MODEL_BATCH = 8
    handler = RecordingHandler(oom_above=2)
    errors = runner.compute(handler, SimpleNamespace(pk=1), None, images)
    assert errors == {}
    assert handler.done == {image.pk for image in images}
    assert handler.calls == [(8, 8), (8, 4), (8, 2)]


def test_an_image_that_always_fails_is_isolated_and_the_others_are_done(images, settings):
    settings.SECONDLOOK_MODEL_BATCH = 4
    bad = images[2].pk
    handler = RecordingHandler(poison=frozenset({bad}))
    errors = runner.compute(handler, SimpleNamespace(pk=1), None, images)
    assert errors == {bad: "RuntimeError: NaN in the logits"}
    assert handler.done == {image.pk for image in images} - {bad}
    assert handler.calls == [(8, 4)] + [(1, 1)] * 8


def test_out_of_memory_on_a_single_image_is_that_images_error(images, settings):
    settings.SECONDLOOK_MODEL_BATCH = 1
    handler = RecordingHandler(oom_above=0)
    errors = runner.compute(handler, SimpleNamespace(pk=1), None, images[:2])
    assert set(errors) == {images[0].pk, images[1].pk}
    assert all("out of memory" in message for message in errors.values())


def test_progress_reports_rate_and_time_left(db, tmp_path):
    image_set = factories.image_set(tmp_path, n=4)
    job = PreparationJob.objects.create(
        image_set=image_set, classifier=factories.classifier(), params_key="x", total=4
    )
    assert job.progress() == {"done": 0, "failed": 0, "total": 4, "rate": None, "eta_seconds": None}
    from django.utils import timezone

    job.started_at = timezone.now() - timezone.timedelta(seconds=10)
    job.save()
    job.batches.create(index=0, image_ids=[1, 2], status="done", done=1, failed=1)
    progress = job.progress()
    assert (progress["done"], progress["failed"]) == (1, 1)
    assert progress["rate"] == pytest.approx(0.2, rel=0.05)
    assert progress["eta_seconds"] == pytest.approx(10, rel=0.05)
    assert JobError.objects.count() == 0
