"""Researchers who share an installation see only their own studies: everything else
answers as if the study did not exist, and a refusal never tells whether a slug is taken."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from studies.models import Study
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db

DATA_PAGES = [
    "/studies/{slug}/dashboard/",
    "/studies/{slug}/results/",
    "/api/v1/studies/{slug}/export/responses.csv",
    "/api/v1/studies/{slug}/export/participants.csv",
    "/api/v1/studies/{slug}/export/items.csv",
    "/api/v1/studies/{slug}/export/codebook.json",
    "/api/v1/studies/{slug}/status",
]


@pytest.fixture
def two_labs(tmp_path):
    ours = factories.study(tmp_path, slug="ours", set_name="ours")
    theirs = factories.study(tmp_path, slug="theirs", set_name="theirs")
    alice = factories.researcher("alice", False)
    ours.researchers.add(alice)
    return ours, theirs, alice


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", DATA_PAGES)
def test_a_researcher_reads_their_study_and_nothing_of_anothers(two_labs, page):
    ours, theirs, alice = two_labs
    client = logged_in(alice)
    assert client.get(page.format(slug="ours")).status_code == 200
    other = client.get(page.format(slug="theirs"))
    missing = client.get(page.format(slug="no-such-study"))
    assert other.status_code == missing.status_code == 404
    assert b"theirs" not in other.content


@pytest.mark.parametrize("page", DATA_PAGES)
def test_staff_without_the_permission_are_refused_alike_for_real_and_made_up_slugs(two_labs, page):
    ours, _, _ = two_labs
    plain = User.objects.create_user("plain", password="pw", is_staff=True)
    ours.researchers.add(plain)
    client = logged_in(plain)
    assert client.get(page.format(slug="ours")).status_code == 403
    assert client.get(page.format(slug="no-such-study")).status_code == 403


@pytest.mark.parametrize("page", DATA_PAGES)
def test_nobody_anonymous_reads_anything(two_labs, page):
    reply = Client().get(page.format(slug="ours"))
    assert reply.status_code in (302, 401, 403)
    assert b"ours" not in reply.content or reply.status_code == 302


def test_the_lead_and_superusers_see_every_study(two_labs):
    lead = factories.researcher("lead")
    boss = User.objects.create_superuser("boss", "", "pw")
    for user in (lead, boss):
        client = logged_in(user)
        assert {client.get(f"/studies/{slug}/results/").status_code for slug in ("ours", "theirs")} == {200}


def test_the_admin_lists_only_the_researchers_studies_and_their_participants(two_labs):
    ours, theirs, alice = two_labs
    alice.user_permissions.add(*Permission.objects.filter(codename__in=["view_study", "view_participant"]))
    for study in (ours, theirs):
        ParticipantClient(APIClient(), study.slug).enter()
    client = logged_in(alice)
    studies = client.get(reverse("admin:studies_study_changelist"))
    assert list(studies.context["cl"].queryset) == [ours]
    participants = client.get(reverse("admin:studies_participant_changelist"))
    assert {p.study for p in participants.context["cl"].queryset} == {ours}
    # The study filter names only the studies she sees.
    assert "theirs" not in participants.content.decode().lower().split("changelist-filter")[-1]
    assert client.get(reverse("admin:studies_study_change", args=[theirs.pk])).status_code == 302


def test_whoever_creates_a_study_in_the_admin_may_see_it(tmp_path):
    creator = factories.researcher("creator", False, "add_study", "change_study", "view_study")
    template = factories.study(tmp_path, slug="template", live=False)
    client = logged_in(creator)
    # The add form as the admin fills it in, with the fields a researcher must choose.
    blank = client.get(reverse("admin:studies_study_add")).context["adminform"].form
    form = {name: blank[name].value() for name in blank.fields if blank[name].value() is not None}
    form.update(
        title="Mine",
        slug="mine",
        image_set=template.image_set.pk,
        classifier=template.classifier.pk,
        consent_text="ok",
        completion_code="DONE-1",
        **{"conditions-TOTAL_FORMS": 0, "conditions-INITIAL_FORMS": 0},
    )
    form = {name: value for name, value in form.items() if value != []}
    reply = client.post(reverse("admin:studies_study_add"), form)
    assert reply.status_code == 302, reply.context["adminform"].form.errors if reply.context else reply
    mine = Study.objects.get(slug="mine")
    assert list(mine.researchers.all()) == [creator]
    assert client.get("/studies/mine/results/").status_code == 200
    assert client.get("/studies/template/results/").status_code == 404


def test_whoever_creates_a_study_from_a_preset_may_see_it(tmp_path):
    creator = factories.researcher("preset-user", False, "add_study", "change_study", "view_study")
    source = factories.study(tmp_path, slug="source", live=False)
    form = {
        "preset": "topk-mistakes",
        "slug": "from-preset",
        "image_set": source.image_set_id,
        "classifier": source.classifier_id,
        "audit_classes": "",
    }
    client = logged_in(creator)
    assert client.post("/admin/studies/study/preset/", form).status_code == 302
    assert list(Study.objects.get(slug="from-preset").researchers.all()) == [creator]
    assert client.get("/studies/from-preset/dashboard/").status_code == 200
