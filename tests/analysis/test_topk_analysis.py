"""The top-k analysis on a hand-made study whose numbers are known: the dataset's error
against the rectified error, accepted mistakes and rejected dataset labels."""

import pytest
from django.test import Client
from rest_framework.test import APIClient
from statsmodels.stats.proportion import proportion_confint

from inference.labelsets import imagenet_1k
from inference.models import Prediction
from studies.analysis import topk
from studies.models import Trial
from studies.services import launch as lifecycle
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
IDS = imagenet_1k().class_ids
NAMES = imagenet_1k().names


def top(*indices):
    return [
        {"rank": r + 1, "index": i, "class_id": IDS[i], "label": NAMES[i], "prob": 0.1}
        for r, i in enumerate(indices)
    ]


@pytest.fixture
def judged(tmp_path):
    # Images labelled 0..3; the model: A right, B wrong (truth 2nd), C wrong (truth absent), D right.
    study = factories.study(
        tmp_path, n_images=4, per_participant=4, live=False, slug="rectify", labels=IDS[:4]
    )
    images = list(study.image_set.images.order_by("id"))
    model = {
        0: top(0, 10, 11, 12, 13),
        1: top(20, 1, 21, 22, 23),
        2: top(30, 31, 32, 33, 34),
        3: top(3, 40, 41, 42, 43),
    }
    for n, image in enumerate(images):
        Prediction.objects.filter(image=image).update(topk=model[n])
    lifecycle.launch(study)
    # What each of three raters selects per image (by dataset label index).
    choices = {
        0: [[IDS[0]], [IDS[0]], [IDS[0]]],
        1: [[IDS[20]], [IDS[20], IDS[1]], [IDS[1]]],  # the mistake: top-1 accepted by 2 of 3
        2: [["none"], ["none"], ["none"]],
        3: [[IDS[40]], [IDS[40]], [IDS[3], IDS[40]]],  # the dataset's label: accepted by 1 of 3
    }
    by_sha = {image.sha256: n for n, image in enumerate(images)}
    for rater in range(3):
        client = ParticipantClient(APIClient(), study.slug)
        client.enter()
        client.consent()
        while (trial := client.next().json()["trial"]) is not None:
            n = by_sha[Trial.objects.get(pk=trial["id"]).item.image.sha256]
            assert client.respond(trial, {"selected": choices[n][rater]}).status_code == 201
    return study


def test_the_rectified_error_counts_what_most_raters_accept(judged):
    result = topk.analyse(judged)
    assert (result["items"], result["raters"], result["k"]) == (4, 12, 5)
    assert result["dataset_top1_error"].value == pytest.approx(0.5)
    assert result["dataset_topk_error"].value == pytest.approx(0.25)
    assert result["rectified_top1_error"].value == pytest.approx(0.5)
    assert result["rectified_topk_error"].value == pytest.approx(0.25)
    assert result["mistakes_accepted"].value == pytest.approx(0.5) and result["mistakes_accepted"].n == 2
    assert result["dataset_label_rejected"] == [
        {"image": "img003.png", "true_label": NAMES[3], "accepted_by": 1, "raters": 3}
    ]
    for name in ("dataset_top1_error", "rectified_top1_error"):
        estimate = result[name]
        assert estimate.low <= estimate.value <= estimate.high and estimate.n == 4
    assert [row["items"] for row in result["per_class"]] == [1, 1, 1, 1]
    # Per class (one image each here): a Wilson interval on that class's images.
    dataset_errors = [row["dataset_top1_error"] for row in result["per_class"]]
    assert sum(e.value for e in dataset_errors) == 2 and all(e.n == 1 for e in dataset_errors)
    for row in result["per_class"]:
        for name in ("dataset_top1_error", "rectified_top1_error"):
            estimate = row[name]
            low, high = proportion_confint(round(estimate.value), 1, method="wilson")
            assert (estimate.low, estimate.high) == (pytest.approx(low), pytest.approx(high))


def test_a_stricter_threshold_rejects_the_narrowly_accepted_mistake(judged):
    result = topk.analyse(judged, threshold=0.7)
    assert result["mistakes_accepted"].value == 0
    assert result["rectified_top1_error"].value == pytest.approx(0.75)


def test_a_study_without_answers_says_what_cannot_be_computed(tmp_path):
    study = factories.study(tmp_path, slug="silent")
    result = topk.analyse(study)
    assert result["items"] == 0
    assert result["rectified_top1_error"].value is None
    assert result["rectified_top1_error"].why_not == "no judged items"


def test_the_results_page_shows_the_numbers_a_chart_and_how_to_reproduce(judged):
    staff = Client()
    staff.force_login(factories.researcher())
    page = staff.get(f"/studies/{judged.slug}/results/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "Rectified top-1 error" in html and judged.classifier.weights_sha256 in html
    numbers = staff.get(f"/studies/{judged.slug}/results/?format=json&threshold=0.7").json()
    assert numbers["topk"]["rectified_top1_error"]["value"] == pytest.approx(0.75)
    assert numbers["topk"]["mistakes_accepted"]["n"] == 2
    assert numbers["reproducibility"]["study_seed"] == judged.seed
    assert staff.get(f"/studies/{judged.slug}/results/?threshold=2").status_code == 400
    assert staff.get(f"/studies/{judged.slug}/results/?threshold=lots").status_code == 400


def test_the_results_page_is_for_staff_with_the_permission(judged, django_user_model):
    outsider = Client()
    outsider.force_login(django_user_model.objects.create_user("someone", password="pw", is_staff=True))
    assert outsider.get(f"/studies/{judged.slug}/results/").status_code == 403
    assert Client().get(f"/studies/{judged.slug}/results/").status_code == 302


def test_a_study_without_answers_says_so_on_every_section(tmp_path):
    study = factories.study(tmp_path, slug="checks", task_kind="label_check")
    staff = Client()
    staff.force_login(factories.researcher())
    html = staff.get(f"/studies/{study.slug}/results/").content.decode()
    assert "No label check answered yet." in html and "No answers yet." in html
