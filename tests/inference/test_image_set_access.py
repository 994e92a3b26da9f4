"""An image set that studies are built on belongs to their researchers: adding to it or
changing it (its images, an image's label, deleting) needs access to every one of those
studies, in the admin and on the upload endpoint alike. A set no study uses stays open to
whoever holds the model permission."""

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from inference.models import Image, ImageSet
from studies.models import Study
from studies.services import access
from tests import factories

pytestmark = pytest.mark.django_db

INFERENCE_PERMISSIONS = [
    "view_imageset",
    "change_imageset",
    "delete_imageset",
    "add_image",
    "view_image",
    "change_image",
    "delete_image",
]
MAY_CHANGE = ["boss", "lead", "on_both"]
MAY_NOT = ["on_one", "on_none"]


def staff(username: str, *inference_codenames: str, every_study: bool = False) -> User:
    user = factories.researcher(username, every_study)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="inference", codename__in=inference_codenames)
    )
    return user


@pytest.fixture
def shared(tmp_path):
    """The set "shared" with two studies on it, ours and theirs, and a researcher of each kind."""
    ours = factories.study(tmp_path, slug="ours", set_name="shared", live=False)
    theirs = Study.objects.create(
        slug="theirs", title="Theirs", image_set=ours.image_set, classifier=ours.classifier
    )
    people = {
        "boss": User.objects.create_superuser("boss", "", "pw"),
        "lead": staff("lead", *INFERENCE_PERMISSIONS, every_study=True),
        "on_both": staff("on_both", *INFERENCE_PERMISSIONS),
        "on_one": staff("on_one", *INFERENCE_PERMISSIONS),
        "on_none": staff("on_none", *INFERENCE_PERMISSIONS),
        "no_model_permission": staff("no_model_permission"),
    }
    ours.researchers.add(people["on_both"], people["on_one"], people["no_model_permission"])
    theirs.researchers.add(people["on_both"], people["no_model_permission"])
    return ours.image_set, people


def logged_in(user, client_class=Client):
    client = client_class()
    client.force_login(user)
    return client


def change_url(image_set: ImageSet) -> str:
    return f"/admin/inference/imageset/{image_set.pk}/change/"


def change_form(image_set: ImageSet, images: list[Image]) -> dict:
    return {"name": image_set.name, "description": "edited", "images": [image.pk for image in images]}


@pytest.mark.parametrize("who", MAY_CHANGE)
def test_whoever_sees_every_study_on_the_set_edits_it_in_the_admin(shared, who, tmp_path):
    image_set, people = shared
    client = logged_in(people[who])
    page = client.get(change_url(image_set))
    assert page.status_code == 200 and page.context["has_change_permission"]
    kept = list(image_set.images.all()[:2])
    assert client.post(change_url(image_set), change_form(image_set, kept)).status_code == 302
    assert list(image_set.images.all()) == kept


@pytest.mark.parametrize("who", MAY_NOT)
def test_a_researcher_missing_from_a_study_on_the_set_sees_it_read_only_and_cannot_save(shared, who):
    image_set, people = shared
    before = list(image_set.images.all())
    client = logged_in(people[who])
    page = client.get(change_url(image_set))
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert 'name="images"' not in page.content.decode()
    assert client.post(change_url(image_set), change_form(image_set, before[:1])).status_code == 403
    image_set.refresh_from_db()
    assert list(image_set.images.all()) == before and image_set.description == ""


@pytest.mark.parametrize("who", MAY_NOT)
def test_a_researcher_missing_from_a_study_on_the_set_cannot_delete_it(shared, who):
    image_set, people = shared
    client = logged_in(people[who])
    delete_url = f"/admin/inference/imageset/{image_set.pk}/delete/"
    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert ImageSet.objects.filter(pk=image_set.pk).exists()


def test_staff_without_the_model_permission_are_refused_even_on_every_study(shared):
    image_set, people = shared
    client = logged_in(people["no_model_permission"])
    assert client.get(change_url(image_set)).status_code == 403
    assert client.post(change_url(image_set), change_form(image_set, [])).status_code == 403
    assert image_set.images.count() == 6


@pytest.mark.parametrize("who", MAY_NOT)
def test_a_set_no_study_uses_stays_open_to_whoever_holds_the_model_permission(shared, who, tmp_path):
    _, people = shared
    free = factories.image_set(tmp_path, n=2, name="free")
    client = logged_in(people[who])
    assert client.post(change_url(free), change_form(free, [])).status_code == 302
    assert free.images.count() == 0
    response = client.post(f"/admin/inference/imageset/{free.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not ImageSet.objects.filter(pk=free.pk).exists()


@pytest.mark.parametrize("who", MAY_NOT)
def test_an_image_in_a_set_a_study_uses_cannot_be_relabelled_or_deleted_by_a_researcher_missing_from_it(
    shared, who
):
    image_set, people = shared
    image = image_set.images.first()
    client = logged_in(people[who])
    url = f"/admin/inference/image/{image.pk}/"
    assert client.post(f"{url}change/", {"true_class": "n01440764", "true_label": "tench"}).status_code == 403
    assert client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    # The bulk action asks about each image it would delete, too.
    bulk = client.post(
        "/admin/inference/image/",
        {"action": "delete_selected", "_selected_action": [image.pk], "post": "yes"},
    )
    assert bulk.status_code == 403
    image.refresh_from_db()
    assert image.true_class == "" and image_set.images.filter(pk=image.pk).exists()


@pytest.mark.parametrize("who", MAY_CHANGE)
def test_whoever_sees_every_study_on_the_set_relabels_its_images(shared, who):
    image_set, people = shared
    image = image_set.images.first()
    client = logged_in(people[who])
    reply = client.post(
        f"/admin/inference/image/{image.pk}/change/", {"true_class": "n01440764", "true_label": "tench"}
    )
    assert reply.status_code == 302
    image.refresh_from_db()
    assert image.true_label == "tench"


def upload(client, set_name: str, color=(4, 5, 6)):
    image = SimpleUploadedFile("new.png", factories.png_bytes(color=color))
    return client.post(f"/api/v1/image-sets/{set_name}/images", {"file": image}, format="multipart")


@pytest.mark.parametrize("who", MAY_CHANGE)
def test_whoever_sees_every_study_on_the_set_uploads_into_it(shared, who):
    image_set, people = shared
    reply = upload(logged_in(people[who], APIClient), "shared")
    assert reply.status_code == 201
    assert image_set.images.filter(sha256=reply.json()["sha256"]).exists()


@pytest.mark.parametrize("who", MAY_NOT)
def test_an_upload_into_a_set_of_studies_the_researcher_is_missing_from_is_a_json_403(shared, who):
    image_set, people = shared
    reply = upload(logged_in(people[who], APIClient), "shared")
    assert reply.status_code == 403
    assert reply.json()["code"] == "not_your_image_set"
    assert "shared" in reply.json()["detail"]
    assert image_set.images.count() == 6 and Image.objects.count() == 6


@pytest.mark.parametrize("who", MAY_NOT)
def test_an_upload_into_a_new_or_unused_set_needs_only_the_model_permission(shared, who, tmp_path):
    _, people = shared
    factories.image_set(tmp_path, n=1, name="unused")
    client = logged_in(people[who], APIClient)
    assert upload(client, "unused", color=(1, 1, 1)).status_code == 201
    assert upload(client, f"new-{who}".replace("_", "-"), color=(2, 2, 2)).status_code == 201
    assert ImageSet.objects.get(name="unused").images.count() == 2


def test_staff_without_the_model_permission_cannot_upload_even_on_every_study(shared):
    image_set, people = shared
    reply = upload(logged_in(people["no_model_permission"], APIClient), "shared")
    assert reply.status_code == 403 and reply.json()["code"] == "permission_denied"
    assert image_set.images.count() == 6


def test_the_object_permission_also_needs_the_model_permission(shared):
    image_set, people = shared
    assert access.may_change_image_set(people["no_model_permission"], image_set)
    assert not people["no_model_permission"].has_perm("inference.change_imageset", image_set)
    assert people["on_both"].has_perm("inference.change_imageset", image_set)
    # Other permissions and other objects are not this backend's to grant.
    assert not people["on_both"].has_perm("inference.change_classifier", image_set)
    assert not people["on_both"].has_perm("studies.change_study", image_set)


def test_whether_a_set_may_change_is_one_query_however_many_studies_use_it(shared, django_assert_num_queries):
    image_set, people = shared
    for n in range(20):
        Study.objects.create(
            slug=f"more-{n}",
            title="More",
            image_set=image_set,
            classifier_id=Study.objects.first().classifier_id,
        )
    researcher, image = people["on_both"], image_set.images.first()
    researcher.get_all_permissions()  # cached on the user after the first permission check
    with django_assert_num_queries(1):
        assert not access.may_change_image_set(researcher, image_set)
    with django_assert_num_queries(1):
        assert not access.may_change_image(researcher, image)


def test_an_inactive_or_non_staff_user_changes_only_sets_no_study_uses(shared, tmp_path):
    image_set, people = shared
    free = factories.image_set(tmp_path, n=1, name="free")
    outsider = User.objects.create_user("outsider")
    assert access.may_change_image_set(outsider, free)
    assert not access.may_change_image_set(outsider, image_set)
    retired = people["on_both"]
    retired.is_active = False
    assert not access.may_change_image_set(retired, image_set)
