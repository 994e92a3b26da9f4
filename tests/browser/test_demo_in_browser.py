"""The demo end to end in a real browser, on the embedded default (SQLite, in-process
tasks, the bundled model and photos): a participant completes the study, and the
researcher finds the answers in the CSV export."""

import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.requirements import unavailable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`manage.py demo` in a fresh data directory with no service configured, then its
    development server on a free port."""
    data = tmp_path_factory.mktemp("demo-data")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.embedded", "SECONDLOOK_DATA_DIR": str(data)})
    port = free_port()
    setup = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve", "--addrport", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert setup.returncode == 0, setup.stderr
    assert (data / "secondlook.sqlite3").exists()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/s/demo-topk/", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise AssertionError("the demo server did not start") from None
            time.sleep(0.3)
    password = (data / "demo-admin-password.txt").read_text().strip()
    yield {"base": base, "output": setup.stdout, "password": password}
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        unavailable(
            "SECONDLOOK_REQUIRE_BROWSER", "Debian's chromium is not installed (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
