"""A researcher's "preview as participant" link in a real browser: every screen says it is
a preview; a participant's ordinary link shows no such banner."""

import pytest

from tests.browser.conftest import axe_violations, screenshot
from tests.browser.test_task_kinds_in_browser import AXE_NEEDS_INLINE_SCRIPT, Participant, fresh_context

pytestmark = pytest.mark.browser
SLUG = "demo-topk"
BANNER = "Preview: your answers are kept apart from real participants' and never counted"


def preview_query(demo) -> str:
    token = demo["server"].manage(
        "shell",
        "-c",
        "from urllib.parse import urlencode; from studies.models import Study; "
        "from studies.services import sessions; "
        f"print(urlencode({{'preview': sessions.preview_token(Study.objects.get(slug='{SLUG}'))}}))",
    )
    return "?" + token.strip().splitlines()[-1]


def banner_shown(page) -> bool:
    banner = page.locator("#preview-banner")
    if not banner.count() or not banner.is_visible():
        return False
    assert banner.get_attribute("role") == "status"
    assert banner.inner_text().strip() == BANNER
    return True


def test_every_screen_of_a_preview_says_so(demo, browser):
    context = fresh_context(browser, bypass_csp=AXE_NEEDS_INLINE_SCRIPT)
    participant = Participant(context, demo["base"], SLUG, preview_query(demo))
    page = participant.page
    page.wait_for_selector("#consent-agree")
    assert banner_shown(page)
    assert axe_violations(page) == []
    screenshot(page, "preview-consent")
    page.click("#consent-agree")
    page.wait_for_selector("#start-trials")
    assert banner_shown(page)
    page.click("#start-trials")

    def on_trial(p, trial, count):
        assert banner_shown(p.page), trial

    assert participant.complete_by_pointer(on_trial=on_trial) > 0
    page.wait_for_selector("#completion-title")
    assert banner_shown(page)
    page.reload()  # a resumed preview says so too
    page.wait_for_selector("#completion-title")
    assert banner_shown(page)
    context.close()


def test_an_ordinary_link_shows_no_preview_banner(demo, browser):
    context = fresh_context(browser)
    participant = Participant(context, demo["base"], SLUG)
    page = participant.page
    page.wait_for_selector("#consent-agree")
    assert not banner_shown(page)
    page.click("#consent-agree")
    page.wait_for_selector("#start-trials")
    assert not banner_shown(page)
    page.click("#start-trials")
    participant.wait_for_trial()
    assert not banner_shown(page)
    assert "Preview" not in page.inner_text("body")
    context.close()
