"""The site's icon: every page links it (participant, researcher and admin pages), and
/favicon.ico, which browsers ask for by themselves, leads to it instead of a 404."""

import io
import re

import PIL.Image
import pytest
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.views import serve
from django.templatetags.static import static
from django.test import Client, RequestFactory

from tests import factories

pytestmark = pytest.mark.django_db

ICON_LINK = re.compile(r'<link rel="icon" href="([^"]+)"')


def icons_linked(reply) -> list[str]:
    assert reply.status_code == 200
    return ICON_LINK.findall(reply.content.decode())


def test_favicon_ico_leads_to_a_small_icon_that_the_static_files_serve(client):
    reply = client.get("/favicon.ico")
    assert reply.status_code in (301, 302)
    assert reply["Location"] == static("img/favicon.ico")
    path = reply["Location"].removeprefix("/static/")
    served = serve(RequestFactory().get(reply["Location"]), path, insecure=True)
    assert served.status_code == 200
    data = b"".join(served.streaming_content)
    assert len(data) < 2048
    icon = PIL.Image.open(io.BytesIO(data))
    assert (icon.format, icon.size) == ("ICO", (32, 32))


def test_the_icons_linked_are_static_files_of_this_site():
    for name in ("img/favicon.svg", "img/favicon.ico"):
        found = finders.find(name)
        assert found, name
        with open(found, "rb") as handle:
            assert len(handle.read()) < 2048


def test_the_participant_page_links_the_icon(client, live_study):
    links = icons_linked(client.get(f"/s/{live_study.slug}/"))
    assert links == [static("img/favicon.svg"), static("img/favicon.ico")]


@pytest.mark.parametrize("page", ["/studies/topk/dashboard/", "/studies/topk/results/", "/bias/"])
def test_researcher_pages_link_the_icon(live_study, page):
    client = Client()
    client.force_login(factories.researcher())
    assert static("img/favicon.svg") in icons_linked(client.get(page))


def test_admin_pages_link_the_icon(admin_client):
    assert static("img/favicon.svg") in icons_linked(Client().get("/admin/login/"))
    assert static("img/favicon.svg") in icons_linked(admin_client.get("/admin/"))
    assert static("img/favicon.svg") in icons_linked(admin_client.get("/admin/studies/study/"))


def test_the_icon_keeps_to_the_content_security_policy(client, live_study):
    reply = client.get(f"/s/{live_study.slug}/")
    assert "img-src 'self'" in reply["Content-Security-Policy"]
    assert all(link.startswith("/") and not link.startswith("//") for link in icons_linked(reply))
