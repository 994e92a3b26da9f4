"""Every kind of preparation, end to end on the real bundled classifier and real photos:
adversarial images judged on their stored files, explanation overlays with one shared
scale and with each map's own, features, prototypes and criticisms per class, and the
bias-audit ranking."""

import io

import numpy as np
import PIL.Image
import pytest
from django.core.files.storage import default_storage

from inference.engine.render import CIVIDIS, overlay
from inference.labelsets import imagenet_1k
from inference.models import (
    AdversarialImage,
    Embedding,
    Explanation,
    ImageSet,
    ModelInput,
    PreparationJob,
    PrototypeSet,
)
from inference.services.classifiers import register_bundled
from inference.services.images import import_sources, sample_sources
from inference.services.jobs import params_key, request_job

pytestmark = pytest.mark.django_db
Kind = PreparationJob.Kind
PHOTOS = {"skimage/coffee.png", "foolbox/imagenet_00_243.jpg", "foolbox/imagenet_01_559.jpg"}


@pytest.fixture
def photos():
    image_set = ImageSet.objects.create(name="photos")
    import_sources([s for s in sample_sources() if s.name in PHOTOS], image_set, imagenet_1k(), 10_000_000)
    return image_set


@pytest.fixture
def prepare(django_capture_on_commit_callbacks):
    def run(kind, image_set, params):
        with django_capture_on_commit_callbacks(execute=True):
            job = request_job(kind, image_set, register_bundled(), params)
        job.refresh_from_db()
        assert job.status == PreparationJob.Status.DONE, (job.message, list(job.errors.values("message")))
        return job

    return run


def pixels(stored_file) -> np.ndarray:
    with default_storage.open(stored_file.name) as handle:
        return np.asarray(PIL.Image.open(handle).convert("RGB"))


PGD = {"attack": "pgd", "eps": 8, "steps": 5}


def test_adversarial_images_are_judged_on_their_stored_files(photos, prepare):
    job = prepare(Kind.ADVERSARIAL, photos, PGD)
    rows = list(AdversarialImage.objects.filter(job=job).select_related("image"))
    assert len(rows) == 3
    for row in rows:
        clean = pixels(ModelInput.objects.get(image=row.image).file)
        adversarial = pixels(row.file)
        assert adversarial.shape == clean.shape == (224, 224, 3)
        distance = np.abs(adversarial.astype(int) - clean.astype(int)).max()
        assert distance <= 8 and row.linf == pytest.approx(distance)
        assert (
            row.topk[0]["index"] != row.attacked_class
            if row.success
            else row.topk[0]["index"] == row.attacked_class
        )
        assert row.params == {**job.params} and row.params["seed"] == 0
    assert sum(row.success for row in rows) >= 2  # 8/255 with PGD fools this model on photos


def test_an_adversarial_job_run_again_stores_nothing_twice(photos, prepare):
    first = prepare(Kind.ADVERSARIAL, photos, PGD)
    before = list(AdversarialImage.objects.values_list("id", "sha256"))
    again = prepare(Kind.ADVERSARIAL, photos, PGD)
    assert again.pk == first.pk
    assert list(AdversarialImage.objects.values_list("id", "sha256")) == before


@pytest.mark.parametrize(
    "params, message",
    [
        ({"attack": "pgd", "eps": 0}, "eps"),
        ({"attack": "pgd", "eps": 300}, "eps"),
        ({"attack": "pgd", "eps": 4, "targeting": "given", "target_class": 1000}, "target_class"),
        ({"attack": "teleport", "eps": 4}, "attack"),
        ({"eps": 4}, "attack is required"),
        ({"attack": "fgsm", "eps": 4, "label": "guess"}, "label"),
    ],
)
def test_bad_attack_requests_are_refused_before_anything_is_queued(photos, params, message):
    with pytest.raises(ValueError, match=message):
        request_job(Kind.ADVERSARIAL, photos, register_bundled(), params)
    assert PreparationJob.objects.count() == 0


def test_explanations_of_clean_and_adversarial_images_share_one_scale(photos, prepare):
    prepare(Kind.ADVERSARIAL, photos, PGD)
    job = prepare(
        Kind.EXPLANATIONS,
        photos,
        {"method": "gradient", "on": "clean_and_adversarial", "attack": PGD},
    )
    rows = list(Explanation.objects.all())
    assert len(rows) == 6 and sum(row.adversarial_id is not None for row in rows) == 3
    assert len({row.scale for row in rows}) == 1 and rows[0].scale > 0
    for row in rows:
        raw = np.load(io.BytesIO(default_storage.open(row.raw.name).read()))
        assert raw.shape == (224, 224)
        assert pixels(row.overlay).shape == (224, 224, 3)
        assert row.stimulus_path == f"/stimuli/{row.overlay_sha256}.png"
    assert job.progress()["done"] == 3


def raw_map(row: Explanation) -> np.ndarray:
    return np.load(io.BytesIO(default_storage.open(row.raw.name).read()))


def test_each_map_is_rendered_with_the_sets_scale_and_with_its_own(photos, prepare):
    prepare(Kind.EXPLANATIONS, photos, {"method": "gradcam"})
    rows = list(Explanation.objects.all())
    raws = {row.pk: raw_map(row) for row in rows}
    relevance = {pk: np.abs(raw).astype(np.float32) for pk, raw in raws.items()}
    set_scale = np.percentile(np.concatenate([r.ravel() for r in relevance.values()]), 99)
    assert len(rows) == 3
    for row in rows:
        stimulus = pixels(ModelInput.objects.get(image=row.image).file)
        mine = relevance[row.pk]
        assert mine.shape == stimulus.shape[:2]
        # Per image set: relevance / the 99th percentile of all the set's clean maps, clipped.
        assert row.scale == pytest.approx(set_scale)
        shared = np.clip(mine / np.float32(row.scale), 0, 1)
        np.testing.assert_array_equal(pixels(row.overlay), overlay(stimulus, shared))
        # Per image: the map's own 99th percentile, so every map reaches the top of the colour
        # map (its bottom only where the map has no relevance: scales have no offset).
        assert row.image_scale == pytest.approx(np.percentile(mine, 99))
        own = np.clip(mine / np.float32(row.image_scale), 0, 1)
        assert own.max() == 1 and (own == 1).mean() >= 0.009
        stored = pixels(row.image_overlay)
        np.testing.assert_array_equal(stored, overlay(stimulus, own))
        # Its most relevant pixel is blended (opacity 0.5) with the colour map's top colour.
        top = np.unravel_index(np.argmax(mine), mine.shape)
        expected = np.rint((stimulus[top].astype(np.float32) + CIVIDIS[255].astype(np.float32)) / 2)
        np.testing.assert_array_equal(stored[top], expected)
        assert row.image_stimulus_path == f"/stimuli/{row.image_overlay_sha256}.png"
    # The reason for the choice: with the set's scale, some map does not reach the top colour.
    assert min(float(np.clip(r / set_scale, 0, 1).max()) for r in relevance.values()) < 1


def test_explanations_on_adversarial_images_that_were_not_prepared_are_per_image_errors(photos, prepare):
    job = prepare(
        Kind.EXPLANATIONS, photos, {"method": "gradient", "on": "clean_and_adversarial", "attack": PGD}
    )
    assert job.progress()["failed"] == 3
    assert all("prepare them first" in error.message for error in job.errors.all())
    assert Explanation.objects.filter(adversarial__isnull=True).count() == 3


def test_features_are_stored_and_classes_with_one_image_get_no_prototypes(photos, prepare):
    job = prepare(Kind.PROTOTYPES, photos, {"m": 1, "c": 1, "group_by": "true_class"})
    assert Embedding.objects.count() == 3
    vector = Embedding.objects.first().array()
    assert vector.shape == (1280,) and np.isfinite(vector).all()
    # Every photo has a different true class: no class has two images to select from.
    assert PrototypeSet.objects.filter(job=job).count() == 0


def test_prototypes_select_images_of_each_class(db, tmp_path, prepare):
    image_set = ImageSet.objects.create(name="two-classes")
    coffee = [s for s in sample_sources() if s.name == "skimage/coffee.png"][0]
    rotated = tmp_path / "n07920052"
    rotated.mkdir()
    photo = PIL.Image.open(coffee.path).convert("RGB")
    for angle in (0, 90, 180):
        photo.rotate(angle).save(rotated / f"coffee{angle}.png")
    from inference.services.images import sources_from_path

    import_sources(sources_from_path(tmp_path), image_set, imagenet_1k(), 10_000_000)
    prepare(Kind.PROTOTYPES, image_set, {"m": 2, "c": 1})
    prototype_set = PrototypeSet.objects.get()
    assert prototype_set.class_id == "n07920052" and prototype_set.class_index == 967
    ids = set(image_set.images.values_list("id", flat=True))
    assert len(prototype_set.prototypes) == 2 and set(prototype_set.prototypes) <= ids
    assert len(prototype_set.criticisms) == 1 and set(prototype_set.criticisms) <= ids - set(
        prototype_set.prototypes
    )
    assert prototype_set.params["gamma"] > 0


def test_the_bias_audit_ranks_other_classes_images_by_the_budget_that_reaches_the_target(photos, prepare):
    job = prepare(Kind.BIAS, photos, {"target_class": 967, "max_eps": 8, "steps": 5})
    ranking = PrototypeSet.objects.get(method=PrototypeSet.Method.ADVERSARIAL_DISTANCE)
    coffee = photos.images.get(original_name="skimage/coffee.png")
    assert coffee.pk not in ranking.criticisms  # already espresso: not another class
    budgets = [ranking.scores[str(image_id)] for image_id in ranking.criticisms]
    assert budgets == sorted(budgets) and all(0 < b <= 8 for b in budgets)
    for image_id in ranking.criticisms:
        row = AdversarialImage.objects.get(image_id=image_id, params_key=job.params_key)
        assert row.topk[0]["index"] == 967


def test_the_adversarial_key_of_an_explanation_job_matches_the_adversarial_job(photos, prepare):
    job = prepare(Kind.ADVERSARIAL, photos, PGD)
    assert job.params_key == params_key(Kind.ADVERSARIAL, job.params)


def test_every_prepared_stimulus_is_served_by_its_content_hash(photos, prepare, client):
    import hashlib

    prepare(Kind.ADVERSARIAL, photos, {"attack": "fgsm", "eps": 4})
    prepare(Kind.EXPLANATIONS, photos, {"method": "gradient"})
    paths = [row.stimulus_path for row in ModelInput.objects.all()]
    paths += [row.stimulus_path for row in AdversarialImage.objects.all()]
    paths += [row.stimulus_path for row in Explanation.objects.all()]
    paths += [row.image_stimulus_path for row in Explanation.objects.all()]
    assert len(paths) == 12
    for path in paths:
        reply = client.get(path)
        assert reply.status_code == 200 and reply["Cache-Control"].endswith("immutable")
        body = b"".join(reply.streaming_content)
        assert hashlib.sha256(body).hexdigest() == path.split("/")[-1].split(".")[0]
    assert client.get("/stimuli/" + "0" * 64 + ".png").status_code == 404


def test_example_based_explanations_give_prototypes_and_nearest_images_of_the_class(db, tmp_path, prepare):
    from inference.services.examples import class_members, nearest_of_class, prototypes_of_class

    image_set = ImageSet.objects.create(name="espressos")
    coffee = [s for s in sample_sources() if s.name == "skimage/coffee.png"][0]
    folder = tmp_path / "espresso"
    folder.mkdir()
    photo = PIL.Image.open(coffee.path).convert("RGB")
    for angle in (0, 5, 90, 180):
        photo.rotate(angle).save(folder / f"coffee{angle}.png")
    from inference.services.images import sources_from_path

    import_sources(sources_from_path(tmp_path), image_set, imagenet_1k(), 10_000_000)
    prepare(Kind.PROTOTYPES, image_set, {"m": 2, "c": 1})
    classifier = register_bundled()
    members = class_members(classifier, image_set, 967)
    assert len(members) == 4
    upright = image_set.images.get(original_name="espresso/coffee0.png")
    tilted = image_set.images.get(original_name="espresso/coffee5.png")
    nearest = nearest_of_class(upright, classifier, image_set, 967, k=3)
    assert nearest[0] == tilted.pk and upright.pk not in nearest and len(nearest) == 3
    assert set(prototypes_of_class(classifier, image_set, 967)) <= set(members)
    assert prototypes_of_class(classifier, image_set, 1) == []
