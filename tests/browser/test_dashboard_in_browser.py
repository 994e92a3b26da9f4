"""The researcher's dashboard refreshes its numbers by itself while participants arrive."""

import pytest

pytestmark = pytest.mark.browser


def test_the_dashboard_updates_itself_when_a_participant_arrives(demo, browser):
    researcher = browser.new_context()
    admin = researcher.new_page()
    admin.goto(f"{demo['base']}/admin/login/?next=/studies/demo-manipulation/dashboard/%3Frefresh%3D2")
    admin.fill("#id_username", "admin")
    admin.fill("#id_password", demo["password"])
    admin.click("input[type=submit]")
    admin.wait_for_selector("#funnel")
    entered = int(admin.inner_text("#funnel tbody td:first-child"))

    participant = browser.new_context()
    page = participant.new_page()
    page.goto(f"{demo['base']}/s/demo-manipulation/")
    page.wait_for_selector("#consent-agree")
    # No reload: the page fetches its numbers again within a few seconds.
    admin.wait_for_function(
        "n => Number(document.querySelector('#funnel tbody td').textContent) === n",
        arg=entered + 1,
        timeout=15_000,
    )
    participant.close()
    researcher.close()
