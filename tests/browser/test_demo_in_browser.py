"""The demo end to end in a real browser, on the embedded default (SQLite, in-process
tasks, the bundled model and photos): a participant completes the study, and the
researcher finds the answers in the CSV export."""

import csv
import io
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def answer_trial(page, expected_index: int) -> str:
    page.wait_for_selector(f'#progress:has-text("Image {expected_index + 1} of 8")')
    # Options are enabled once the image is painted (reaction time starts there).
    page.wait_for_selector('input[name="option"]:not([disabled])')
    options = page.locator('input[name="option"]')
    choice = options.nth(expected_index % 3).get_attribute("value")
    page.check(f'input[name="option"][value="{choice}"]')
    page.click("#submit-answer")
    return choice


def test_the_demo_prints_its_links_and_login(demo):
    assert f"{demo['base']}/admin/" in demo["output"]
    assert f"{demo['base']}/s/demo-topk/" in demo["output"]
    assert f"password {demo['password']}" in demo["output"]


def test_a_participant_completes_the_demo_and_the_researcher_exports_the_answers(demo, browser):
    participant = browser.new_context(viewport={"width": 1280, "height": 900})
    page = participant.new_page()
    page.goto(f"{demo['base']}/s/demo-topk/")
    # The consent text is Markdown, rendered (and sanitised) by the server.
    assert page.inner_text(".consent-text strong") == "three minutes"
    page.click("#consent-agree")
    page.click("#start-trials")
    chosen = [answer_trial(page, index) for index in range(4)]
    page.reload()  # resumes at the first unanswered trial
    chosen += [answer_trial(page, index) for index in range(4, 8)]
    page.wait_for_selector("#completion-code")
    assert page.inner_text("#completion-code") == "DEMO-DONE"
    participant.close()

    researcher = browser.new_context()
    admin = researcher.new_page()
    admin.goto(f"{demo['base']}/admin/")
    admin.fill("#id_username", "admin")
    admin.fill("#id_password", demo["password"])
    admin.click("input[type=submit]")
    admin.wait_for_selector("text=Site administration")
    admin.goto(f"{demo['base']}/admin/studies/study/")
    admin.click("text=Do these labels describe the photo? (demo)")
    with admin.expect_download() as download:
        admin.click("text=responses CSV")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(rows) == 8
    assert {row["participant_status"] for row in rows} == {"completed"}
    assert [row["trial_index"] for row in rows] == [str(i) for i in range(8)]
    for row, choice in zip(rows, chosen, strict=True):
        selected = [row[f"rank{r}_class_id"] for r in range(1, 6) if row[f"rank{r}_selected"] == "1"]
        assert selected == [choice] or (choice == "none" and row["none_selected"] == "1")
        assert int(row["rt_ms"]) > 0
    researcher.close()


def test_an_unknown_study_shows_a_clear_message(demo, browser):
    page = browser.new_page()
    response = page.goto(f"{demo['base']}/s/no-such-study/")
    assert response.status == 404
    page.close()
