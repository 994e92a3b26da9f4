"""Image tags from a CSV and the bias explorer: galleries of both criticism modes and of
the nearest images in feature space, prediction rates per tag with their counts, and a
bias-audit study in one step."""

import numpy as np
import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from inference.labelsets import imagenet_1k
from inference.models import Embedding, ImageTag, Prediction, PrototypeSet
from inference.services.tags import import_tags
from studies.models import Study
from tests import factories

pytestmark = pytest.mark.django_db
LABELS = imagenet_1k()
BALL = LABELS.resolve("basketball")
BALL_INDEX = LABELS.index(BALL)


@pytest.fixture
def explored(tmp_path):
    """Six images: the first two labelled basketball, the model predicting basketball for
    images 0, 1 and 4; tags, features and both kinds of criticisms stored."""
    study = factories.study(tmp_path, live=False, slug="source", labels=[BALL, BALL, *LABELS.class_ids[:4]])
    images = list(study.image_set.images.order_by("id"))
    for n, image in enumerate(images):
        prediction = Prediction.objects.get(image=image)
        if n in (0, 1, 4):
            prediction.topk[0] = {
                **prediction.topk[0],
                "index": BALL_INDEX,
                "class_id": BALL,
                "label": "basketball",
            }
            prediction.save()
        vector = np.zeros(8, dtype=np.float32)
        vector[0] = 1.0 if n in (0, 1, 5) else 0.1  # image 5 sits closest to the class in feature space
        vector[1 + n % 7] = 0.2
        Embedding.objects.create(image=image, classifier=study.classifier, dim=8, vector=vector.tobytes())
    common = {
        "image_set": study.image_set,
        "classifier": study.classifier,
        "class_index": BALL_INDEX,
        "class_id": BALL,
    }
    PrototypeSet.objects.create(
        **common,
        method="mmd_critic",
        params={},
        params_key="m",
        prototypes=[images[0].pk],
        criticisms=[images[1].pk],
    )
    PrototypeSet.objects.create(
        **common,
        method="adversarial_distance",
        params={},
        params_key="b",
        criticisms=[images[3].pk, images[2].pk],
        scores={str(images[3].pk): 2.0, str(images[2].pk): 5.0},
    )
    rows = ["image,skin_tone"] + [
        f"{image.original_name},{'dark' if n % 2 else 'light'}" for n, image in enumerate(images)
    ]
    report = import_tags("\n".join(rows), study.image_set)
    assert report.tagged == 6 and not report.rejected
    return study, images


def explore(study, klass="basketball"):
    staff = Client()
    user = factories.researcher()
    staff.force_login(user)
    query = {"classifier": study.classifier.name, "image_set": study.image_set.name, "class": klass}
    return staff, staff.get("/bias/", query)


def test_the_explorer_shows_both_criticism_modes_nearest_images_and_rates_per_tag(explored):
    study, images = explored
    _, page = explore(study)
    assert page.status_code == 200
    context = page.context
    explorer = context["explorer"]
    assert [t.image.pk for t in explorer.prototypes] == [images[0].pk]
    assert [t.image.pk for t in explorer.criticisms] == [images[1].pk]
    assert [t.image.pk for t in explorer.closest_by_attack] == [images[3].pk, images[2].pk]
    assert explorer.closest_by_attack[0].note == "budget 2/255"
    assert explorer.nearest_in_features[0].image.pk == images[5].pk
    assert all(t.image.pk not in (images[0].pk, images[1].pk) for t in explorer.nearest_in_features)
    rates = {(r["tag"], r["value"]): (r["predicted"], r["images"]) for r in context["tag_rates"]}
    assert rates == {("skin_tone", "light"): (2, 3), ("skin_tone", "dark"): (1, 3)}
    light = next(r for r in context["tag_rates"] if r["value"] == "light")
    assert light["rate"].value == pytest.approx(2 / 3) and light["rate"].n == 3
    assert 'id="closest-by-attack"' in page.content.decode()


def test_a_gallery_becomes_a_bias_audit_study_in_one_step(explored):
    study, _ = explored
    staff, _ = explore(study)
    query = {
        "classifier": study.classifier.name,
        "image_set": study.image_set.name,
        "class": BALL,
        "slug": "audit",
    }
    assert staff.post("/bias/", query).status_code == 403  # viewing is not creating
    factories.researcher().user_permissions.add(Permission.objects.get(codename="add_study"))
    reply = staff.post("/bias/", query)
    created = Study.objects.get(slug="audit")
    assert reply.status_code == 302 and reply["Location"] == f"/admin/studies/study/{created.pk}/change/"
    assert created.item_selection == "audit" and created.audit_classes == [BALL]
    assert list(created.researchers.all()) == [factories.researcher()]
    again = staff.post("/bias/", query)
    assert again.status_code == 400 and "exists already" in again.content.decode()


def test_an_unknown_class_is_a_clear_error(explored):
    study, _ = explored
    _, page = explore(study, "unicorn")
    assert page.status_code == 400 and "not a class of imagenet-1k" in page.content.decode()


def test_the_explorer_is_for_staff_with_the_permission(explored, django_user_model):
    outsider = Client()
    outsider.force_login(django_user_model.objects.create_user("someone", password="pw", is_staff=True))
    assert outsider.get("/bias/").status_code == 403


def test_tags_are_imported_row_by_row_and_bad_rows_are_reported(explored, tmp_path):
    study, images = explored
    text = "\n".join(
        [
            "image,skin_tone,setting",
            f"{images[0].sha256},medium,indoor",  # by sha256; replaces the earlier value
            "nowhere.png,dark,outdoor",
            f"{images[1].original_name},{'x' * 300},indoor",
        ]
    )
    report = import_tags(text, study.image_set)
    assert report.tagged == 1
    assert [line for line, _ in report.rejected] == [3, 4]
    assert "no image 'nowhere.png'" in report.rejected[0][1]
    assert ImageTag.objects.get(image=images[0], name="skin_tone").value == "medium"
    assert ImageTag.objects.get(image=images[0], name="setting").value == "indoor"
    assert not ImageTag.objects.filter(image=images[1], name="setting").exists()
    with pytest.raises(ValueError, match="'image' column"):
        import_tags("name,skin_tone\nx,y", study.image_set)
    csv_file = tmp_path / "tags.csv"
    csv_file.write_text("image,setting\n" + images[2].original_name + ",outdoor\n")
    call_command("import_tags", str(csv_file), set=study.image_set.name)
    assert ImageTag.objects.get(image=images[2], name="setting").value == "outdoor"
    with pytest.raises(CommandError, match="No image set"):
        call_command("import_tags", str(csv_file), set="nope")
