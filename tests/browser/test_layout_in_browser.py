"""The participant page's layout on phones and desktops against the live demo: on common
phone screens the options and Next are in view on the first trial of every task kind
without scrolling; hints fit the input (keys with a keyboard and mouse, taps on a touch
screen); and the study's display scale enlarges the images by its whole number, falls
back to what a smaller screen has room for, and reaches the export as shown."""

import pytest

from tests.browser.conftest import axe_violations, screenshot
from tests.browser.test_task_kinds_in_browser import (
    AXE_NEEDS_INLINE_SCRIPT,
    Participant,
    export,
    fresh_context,
    pseudonym,
)

pytestmark = pytest.mark.browser
PHONES = [(360, 640), (390, 844), (412, 915)]
# A demo study of each task kind; the label check's first trial is a practice trial with a heatmap.
FIRST_TRIALS = {
    "topk_select": "demo-topk",
    "label_check": "demo-label-check",
    "forced_choice": "demo-forced-choice",
    "manipulation_check": "demo-manipulation",
}
OUT_OF_VIEW = """() => {
    const targets = [
        ...document.querySelectorAll("#answer-form label.option"),
        document.getElementById("submit-answer"),
    ];
    const outside = targets.filter((node) => {
        const box = node.getBoundingClientRect();
        const across = box.left >= 0 && box.right <= window.innerWidth;
        return !(across && box.top >= 0 && box.bottom <= window.innerHeight);
    });
    const names = outside.map((node) => node.textContent.trim());
    return {scrolled: window.scrollY, targets: targets.length, outside: names};
}"""


def phone(browser, width: int, height: int, **options):
    return fresh_context(
        browser,
        viewport={"width": width, "height": height},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        **options,
    )


@pytest.mark.parametrize("kind", list(FIRST_TRIALS))
@pytest.mark.parametrize("size", PHONES, ids=[f"{w}x{h}" for w, h in PHONES])
def test_on_a_phone_the_options_and_next_are_in_view_and_hints_say_tap(demo, browser, size, kind):
    context = phone(browser, *size)
    participant = Participant(context, demo["base"], FIRST_TRIALS[kind])
    page = participant.page
    page.tap("#consent-agree")
    page.tap("#start-trials")
    trial = participant.wait_for_trial()
    assert trial["kind"] == kind
    found = page.evaluate(OUT_OF_VIEW)
    assert found["scrolled"] == 0 and found["targets"] >= 3
    assert found["outside"] == [], f"{kind} at {size}: out of view {found['outside']}"
    assert page.is_visible("#tap-hint")
    assert not page.is_visible("#shortcut-hint")
    assert not any(key.is_visible() for key in page.locator("kbd.shortcut").all())
    context.close()


def test_the_phone_layout_passes_an_automated_accessibility_check(demo, browser):
    context = phone(browser, 360, 640, bypass_csp=AXE_NEEDS_INLINE_SCRIPT)
    participant = Participant(context, demo["base"], "demo-label-check")
    participant.page.tap("#consent-agree")
    participant.page.tap("#start-trials")
    participant.wait_for_trial()
    assert axe_violations(participant.page) == []
    context.close()


def test_on_a_desktop_hints_name_the_keys_and_not_taps(demo, browser):
    context = fresh_context(browser)
    participant = Participant(context, demo["base"], "demo-label-check")
    participant.start()
    participant.wait_for_trial()
    page = participant.page
    assert page.is_visible("#shortcut-hint") and "Enter" in page.inner_text("#shortcut-hint")
    assert not page.is_visible("#tap-hint")
    assert page.locator("kbd.shortcut").first.is_visible()
    context.close()


SCALED_STUDY = """
from studies.models import Study
from studies.services import launch

study = Study.objects.get(slug="demo-label-check")
study.pk, study.slug, study.current_version, study.status = None, "scale-check", None, "draft"
study.display_scale, study.practice_trials, study.attention_checks = 2, 0, 0
study.images_per_participant = 2
study.save()
launch.launch(study)
"""
SIZES = """() => ["stimulus", "explanation-image"].map((id) => {
    const img = document.getElementById(id);
    const box = img.getBoundingClientRect();
    return {natural: [img.naturalWidth, img.naturalHeight], shown: [box.width, box.height],
            rendering: getComputedStyle(img).imageRendering};
})"""


def test_the_display_scale_enlarges_by_its_whole_number_and_falls_back_where_there_is_no_room(demo, browser):
    demo["server"].manage("shell", "-c", SCALED_STUDY)
    # (viewport, the scale shown): room for 2×; a phone, room for 1×; narrower than the image.
    screens = [((1280, 900), 2), ((390, 844), 1), ((200, 700), None)]
    shown_by = {}
    for (width, height), scale in screens:
        context = fresh_context(browser, viewport={"width": width, "height": height})
        participant = Participant(context, demo["base"], "scale-check")
        participant.start()
        trial = participant.wait_for_trial()
        assert trial["display_scale"] == 2
        stimulus, overlay = participant.page.evaluate(SIZES)
        natural = stimulus["natural"]
        if scale is None:
            # Scaled down to fit the page's width (less its 8 px padding each side).
            assert stimulus["shown"][0] == pytest.approx(width - 16, abs=1)
            assert stimulus["shown"][0] < natural[0]
        else:
            assert stimulus["shown"] == [natural[0] * scale, natural[1] * scale]
            assert stimulus["rendering"] == ("pixelated" if scale > 1 else "auto")
        # The heatmap beside it is shown at the same scale.
        assert overlay["shown"] == pytest.approx(stimulus["shown"], abs=1)
        if scale == 2:
            screenshot(participant.page, "label_check-display-scale-2")
        participant.answer_by_pointer(trial)
        participant.page.wait_for_function(
            "id => !document.querySelector(`#answer-form[data-trial-id='${id}']`)", arg=trial["id"]
        )
        shown_by[pseudonym(participant)] = (scale, natural, stimulus["shown"])
        context.close()
    rows = [row for row in export(demo, "scale-check") if row["participant"] in shown_by]
    assert len(rows) == 3
    for row in rows:
        scale, natural, shown = shown_by[row["participant"]]
        assert row["display_scale_requested"] == "2"
        if scale is None:
            assert float(row["display_scale"]) == pytest.approx(shown[0] / natural[0], abs=0.01)
            assert float(row["display_scale"]) < 1 and row["scaled"] == "1"
        else:
            assert row["display_scale"] == str(scale) and row["scaled"] == "0"
