"""Security headers: a Content-Security-Policy without inline script on participant and
researcher pages, frames refused everywhere, and pages that keep to their policy."""

import re

import pytest

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def inline_scripts(html: str) -> list[str]:
    """<script> elements a browser would execute that carry their code inline."""
    found = []
    for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S):
        if "src=" in attributes or 'type="application/json"' in attributes:
            continue
        found.append(body)
    return found


def test_the_participant_page_runs_no_inline_script_and_cannot_be_framed(client, live_study):
    reply = client.get(f"/s/{live_study.slug}/")
    assert reply.status_code == 200
    policy = directives(reply)
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert "blob:" in policy["img-src"]  # stimuli are shown from verified blobs
    assert reply["X-Frame-Options"] == "DENY"
    assert reply["Referrer-Policy"] == "same-origin"
    assert inline_scripts(reply.content.decode()) == []
    assert 'style="' not in reply.content.decode()


def test_the_api_and_its_docs_keep_the_strict_policy(client):
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert directives(docs)["script-src"] == "'self'"
    assert inline_scripts(docs.content.decode()) == []
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert directives(client.get("/api/v1/schema/"))["default-src"] == "'self'"


def test_researcher_pages_run_no_inline_script(client, live_study):
    from tests import factories

    client.force_login(factories.researcher())
    for page in (f"/studies/{live_study.slug}/dashboard/", f"/studies/{live_study.slug}/results/"):
        reply = client.get(page)
        assert reply.status_code == 200
        assert directives(reply)["script-src"] == "'self'"
        assert inline_scripts(reply.content.decode()) == [], page


def test_only_the_admin_may_use_inline_styles(admin_client):
    reply = admin_client.get("/admin/")
    assert reply.status_code == 200
    policy = directives(reply)
    assert policy["style-src"] == "'self' 'unsafe-inline'" and policy["script-src"] == "'self'"
