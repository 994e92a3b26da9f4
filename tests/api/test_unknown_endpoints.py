"""Any path under /api/v1/ that matches no endpoint gets the API's JSON 404, whatever the
method and whatever characters the path holds.

Regressions: the schema fuzzer found an HTML 403 for a POST to an unknown path (the
catch-all was not CSRF-exempt), and a path with an encoded newline got Django's HTML 404
(the catch-all's `.*` stopped at the newline); the first fix for it, the (?s) flag, made
every URL of the site impossible to reverse."""

import pytest
from django.test import Client
from django.urls import reverse

NOT_FOUND = {"detail": "There is no such endpoint.", "code": "not_found"}


def assert_json_404(reply):
    assert reply.status_code == 404 and reply["Content-Type"] == "application/json"
    assert reply.json() == NOT_FOUND


@pytest.mark.parametrize("path", ["session/trials/abc/response", "no/such/thing", "studies/"])
def test_a_path_under_the_api_that_matches_no_endpoint_is_a_json_404(path):
    reply = Client(enforce_csrf_checks=True).post(f"/api/v1/{path}", {}, content_type="application/json")
    assert_json_404(reply)


PATHS_WITH_CONTROL_CHARACTERS = [
    f"{path}{char}{tail}"
    for char in ["%0a", "%0d", "%0d%0a", "%00", "%09", "%0b", "%0c", "%1f", "%7f"]
    for path, tail in [
        ("session/next", ""),
        ("studies/x", "/sessions"),
        ("", "session"),
        ("session/trials/1/response", ""),
    ]
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS_WITH_CONTROL_CHARACTERS)
def test_a_get_to_a_path_with_a_control_character_is_a_json_404(path):
    assert_json_404(Client().get(f"/api/v1/{path}"))


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS_WITH_CONTROL_CHARACTERS)
def test_a_post_to_a_path_with_a_control_character_is_a_json_404(path):
    reply = Client(enforce_csrf_checks=True).post(f"/api/v1/{path}", {}, content_type="application/json")
    assert_json_404(reply)


def test_the_catch_all_leaves_every_url_reversible():
    assert reverse("api-next") == "/api/v1/session/next"
    assert reverse("admin:login") == "/admin/login/"
