"""`manage.py prepare` as a person at a terminal sees it: one progress bar and one result
line per preparation, however many of the studies asked for need it (the demo prepares
eight studies that share three preparations)."""

import io

import pytest
from django.core.management import call_command

from inference.labelsets import imagenet_1k
from inference.models import ImageSet
from inference.services.classifiers import register_bundled
from inference.services.images import import_sources, sample_sources
from studies.models import Study

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_studies():
    photos = ImageSet.objects.create(name="photos")
    wanted = {"skimage/coffee.png", "skimage/chelsea.png"}
    import_sources([s for s in sample_sources() if s.name in wanted], photos, imagenet_1k(), 10_000_000)
    classifier = register_bundled()
    return [
        Study.objects.create(
            slug=slug, title=slug, image_set=photos, classifier=classifier, images_per_participant=2
        )
        for slug in ("first", "second")
    ]


def shown(stream: io.StringIO) -> list[str]:
    """The lines a terminal ends up showing: a carriage return redraws its line."""
    return [line.split("\r")[-1] for line in stream.getvalue().split("\n") if line.split("\r")[-1].strip()]


def test_a_preparation_two_studies_share_runs_and_is_reported_once(two_studies):
    out, err = io.StringIO(), io.StringIO()
    call_command("prepare", study=[s.slug for s in two_studies], stdout=out, stderr=err)
    reported = [line for line in shown(out) if line.startswith("Job ")]
    assert len(reported) == 1 and reported[0].endswith("(predictions): done (2/2, 0 failed)")
    bars = shown(err)
    assert len(bars) == 1 and bars[0].startswith("100%|") and "2/2" in bars[0]


def test_each_progress_bar_is_shown_once_whichever_way_the_studies_are_named(two_studies):
    for slug in ("first", "second"):
        err = io.StringIO()
        call_command("prepare", study=slug, stderr=err, stdout=io.StringIO())
        bars = shown(err)
        assert len(bars) == 1 and bars[0].startswith("100%|"), bars
