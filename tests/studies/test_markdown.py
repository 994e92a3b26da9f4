"""Consent and instructions are Markdown written by researchers: rendered, and made safe."""

import pytest
from rest_framework.test import APIClient

from studies.services.markdown import render
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db


def test_markdown_formatting_is_rendered():
    html = render("You **agree** to take part.\n\n- one\n- two\n\n[Lab](https://lab.example.org)")
    assert "<strong>agree</strong>" in html
    assert "<li>one</li>" in html
    assert '<a href="https://lab.example.org" rel="noopener noreferrer nofollow">Lab</a>' in html


@pytest.mark.parametrize(
    "text, forbidden",
    [
        ("<script>alert(1)</script>", "<script"),
        ('<img src=x onerror="alert(1)">', "onerror"),
        ("[click](javascript:alert(1))", "javascript:"),
        ('<a href="https://x.org" onclick="steal()">x</a>', "onclick"),
        ("<iframe src='https://evil.example.org'></iframe>", "<iframe"),
        ("<style>body{display:none}</style>", "<style"),
        ('<p style="position:fixed">overlay</p>', "style="),
    ],
)
def test_no_script_or_active_content_survives(text, forbidden):
    assert forbidden not in render(text).lower()


def test_the_session_carries_the_rendered_consent_and_instructions(db, tmp_path):
    consent = "I **agree**<script>x()</script>"
    study = factories.study(tmp_path, consent_text=consent, instructions="Press *Start*.")
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    session = client.get("session").json()
    assert session["consent"]["html"] == "<p>I <strong>agree</strong></p>"
    assert session["consent"]["text"] == consent
    assert session["instructions_html"] == "<p>Press <em>Start</em>.</p>"
