"""The export endpoints answer their own media type whatever a browser or a script puts in
Accept (architecture.md §4: "each answers its own media type and */*"), download as files,
and refuse with the API's JSON error, never a CSV or an HTML page."""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests import factories

pytestmark = pytest.mark.django_db

TABLES = ["responses", "participants", "items"]
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
CSV_ACCEPTS = [None, "text/csv", "text/csv; charset=utf-8", "text/*", "*/*", BROWSER]
JSON_ACCEPTS = [None, "application/json", "application/*", "*/*", BROWSER]


@pytest.fixture
def study(tmp_path):
    return factories.study(tmp_path, slug="tables")


@pytest.fixture
def staff():
    client = Client()
    client.force_login(factories.researcher())
    return client


def get(client, path, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    return client.get(path, **headers)


def assert_json_error(reply, status):
    assert reply.status_code == status
    assert reply["Content-Type"] == "application/json"
    body = json.loads(reply.content)
    assert body["detail"] and body["code"]


@pytest.mark.parametrize("accept", CSV_ACCEPTS)
@pytest.mark.parametrize("table", TABLES)
def test_a_table_is_a_csv_download_for_any_accept_that_allows_csv(study, staff, table, accept):
    reply = get(staff, f"/api/v1/studies/{study.slug}/export/{table}.csv", accept)
    assert reply.status_code == 200, reply.content
    assert reply["Content-Type"] == "text/csv; charset=utf-8"
    assert reply["Content-Disposition"] == f'attachment; filename="tables-{table}.csv"'
    header = b"".join(reply.streaming_content).decode().splitlines()[0]
    assert header.split(",")[0]


@pytest.mark.parametrize("accept", JSON_ACCEPTS)
def test_the_codebook_is_a_json_download_for_any_accept_that_allows_json(study, staff, accept):
    reply = get(staff, f"/api/v1/studies/{study.slug}/export/codebook.json", accept)
    assert reply.status_code == 200, reply.content
    assert reply["Content-Type"] == "application/json"
    assert reply["Content-Disposition"] == 'attachment; filename="tables-codebook.json"'
    assert "tables" in json.loads(reply.content)


@pytest.mark.parametrize("path", [f"{table}.csv" for table in TABLES])
def test_a_table_refuses_an_accept_without_csv_with_the_json_error(study, staff, path):
    reply = get(staff, f"/api/v1/studies/{study.slug}/export/{path}", "application/xml")
    assert_json_error(reply, 406)


@pytest.mark.parametrize("accept", ["text/csv", "application/xml"])
def test_the_codebook_refuses_an_accept_without_json_with_the_json_error(study, staff, accept):
    reply = get(staff, f"/api/v1/studies/{study.slug}/export/codebook.json", accept)
    assert_json_error(reply, 406)


REFUSED = [(f"{table}.csv", accept) for table in TABLES for accept in CSV_ACCEPTS] + [
    ("codebook.json", accept) for accept in JSON_ACCEPTS
]


@pytest.mark.parametrize(("path", "accept"), REFUSED)
def test_refusals_are_the_json_error_whatever_the_accept(study, staff, path, accept):
    assert_json_error(get(staff, f"/api/v1/studies/no-such-study/export/{path}", accept), 404)
    plain = Client()
    plain.force_login(User.objects.create_user("plain", password="pw", is_staff=True))
    assert_json_error(get(plain, f"/api/v1/studies/{study.slug}/export/{path}", accept), 403)
    assert_json_error(get(Client(), f"/api/v1/studies/{study.slug}/export/{path}", accept), 403)
