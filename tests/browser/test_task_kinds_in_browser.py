"""Participants in a real browser against the live demo (real prepared stimuli): a full
session of each task kind by mouse, by keyboard only and by touch on a phone; the server
stopped and restarted mid-session; an image that fails its checksum; the completion
redirect after the last save; and an accessibility check of every screen."""

import contextlib
import csv
import io
import json
import re
import threading
import time

import pytest

from tests.browser.conftest import axe_violations, screenshot
from tests.factories import png_bytes

pytestmark = pytest.mark.browser
KINDS = ["demo-label-check", "demo-label-toggle", "demo-forced-choice", "demo-manipulation"]
QUOTED = re.compile(r"“(.+?)”")


class Participant:
    """A page on a study, with every trial object the server sent (read from the API
    replies the page receives)."""

    def __init__(self, context, base: str, slug: str, query: str = ""):
        self.page = context.new_page()
        self.trials: dict[int, dict] = {}
        self.current: dict | None = None
        self.answers: dict[int, dict] = {}
        self.requested: list[str] = []
        self.page.on("request", lambda request: self.requested.append(request.url))
        self.page.on("response", self._seen)
        self.page.goto(f"{base}/s/{slug}/{query}")

    def _seen(self, response):
        if response.url.endswith("/api/v1/session/next") and response.ok:
            trial = response.json().get("trial")
            if trial:
                self.trials[trial["id"]] = trial
                self.current = trial

    def start(self):
        self.page.click("#consent-agree")
        self.page.click("#start-trials")

    def wait_for_trial(self, timeout=30_000) -> dict | None:
        """The trial on screen once it can be answered, or None on the completion screen."""
        page = self.page
        page.wait_for_selector("#completion-title, #submit-answer", timeout=timeout)
        if page.query_selector("#completion-title"):
            return None
        page.wait_for_selector('input[name="option"]:not([disabled])', timeout=timeout)
        shown = int(page.get_attribute("#answer-form", "data-trial-id") or 0) or self.current["id"]
        return self.trials[shown]

    def pick(self, trial: dict) -> dict:
        """The answer this participant gives: the option an attention check asks for,
        otherwise one that depends on the trial (so answers differ between trials)."""
        options = trial["options"]
        if trial["kind"] == "attention":
            asked = next(o for o in options if f"“{o['text']}”" in trial["prompt"])
            return {"choice": asked["id"]}
        option = options[trial["index"] % len(options)]
        if trial["kind"] == "topk_select":
            return {"selected": [option["id"]]}
        answer = {"choice": option["id"]}
        if trial["confidence"]:
            answer["confidence"] = 1 + trial["index"] % 5
        return answer

    def label_of(self, name: str, value) -> str:
        """The selector of the visible label of an input (what a person clicks or taps)."""
        input_id = self.page.get_attribute(f'input[name="{name}"][value="{value}"]', "id")
        return f'label[for="{input_id}"]'

    def answer_by_pointer(self, trial: dict, tap: bool = False) -> dict:
        answer = self.pick(trial)
        act = self.page.tap if tap else self.page.click
        for option in answer.get("selected", [answer.get("choice")]):
            act(self.label_of("option", option))
        if "confidence" in answer:
            act(self.label_of("confidence", answer["confidence"]))
        act("#submit-answer")
        self.answers[trial["id"]] = answer
        return answer

    def after_answer(self, trial: dict):
        """Practice trials show feedback first; Enter or the button goes on."""
        if trial["practice"]:
            self.page.wait_for_selector("#practice-feedback")
            self.page.click("#practice-continue")

    def complete_by_pointer(self, tap: bool = False, on_trial=None) -> int:
        count = 0
        while (trial := self.wait_for_trial()) is not None:
            if on_trial:
                on_trial(self, trial, count)
            self.answer_by_pointer(trial, tap=tap)
            self.after_answer(trial)
            self.page.wait_for_function(
                "id => !document.querySelector(`#answer-form[data-trial-id='${id}']`)", arg=trial["id"]
            )
            count += 1
        return count


def export(demo, slug: str, practice: bool = False) -> list[dict]:
    args = ["export_responses", slug] + (["--include-practice"] if practice else [])
    return list(csv.DictReader(io.StringIO(demo["server"].manage(*args))))


# axe-core is injected as an inline script, which the pages' Content-Security-Policy rightly
# refuses: the contexts that run it ignore the policy. Every other test runs under it.
AXE_NEEDS_INLINE_SCRIPT = True


def fresh_context(browser, **options):
    options.setdefault("viewport", {"width": 1280, "height": 900})
    return browser.new_context(**options)


def check_stored(rows: list[dict], participant: Participant, pseudonyms: set[str]):
    """Every answer the participant gave is stored once, as given."""
    mine = [row for row in rows if row["participant"] in pseudonyms]
    stored = {int(row["trial_id"]): row for row in mine}
    assert len(stored) == len(mine)
    for trial_id, answer in participant.answers.items():
        if participant.trials[trial_id]["practice"]:
            continue
        row = stored[trial_id]
        if "selected" in answer:
            assert row["selected_labels"].split("|") == [
                o["text"] for o in participant.trials[trial_id]["options"] if o["id"] in answer["selected"]
            ]
        else:
            assert row["choice_id"] == answer["choice"]
            assert row["confidence"] == str(answer.get("confidence", ""))
        assert int(row["rt_ms"]) > 0
    return mine


def session_of(participant: Participant) -> dict:
    """The participant's session as the API describes it, with the page's own token."""
    token = participant.page.evaluate(
        "() => Object.entries(localStorage).find(([k]) => k.endsWith(':token'))[1]"
    )
    reply = participant.page.request.get(
        participant.page.url.split("/s/")[0] + "/api/v1/session", headers={"Authorization": f"Bearer {token}"}
    )
    return reply.json()


def pseudonym(participant: Participant) -> str:
    return session_of(participant)["participant"]


@pytest.mark.parametrize("slug", KINDS)
def test_a_full_session_of_each_task_kind(demo, browser, slug):
    context = fresh_context(browser)
    participant = Participant(context, demo["base"], slug)
    participant.start()
    shots = set()

    def look(p, trial, _):
        # One screenshot per kind and display (the artefacts reviewers look at).
        explanation = (trial["explanation"] or {}).get("display", "none")
        name = f"{trial['kind']}-{explanation}{'-practice' if trial['practice'] else ''}"
        if name not in shots:
            shots.add(name)
            screenshot(p.page, name)
        if explanation == "side_by_side":
            overlay = p.page.locator("#explanation-image")
            assert overlay.is_visible()
            assert overlay.get_attribute("src").startswith("blob:")  # the verified bytes
        if explanation == "toggle" and trial["index"] % 2 == 0:
            assert not p.page.locator("#explanation-image").is_visible()
            p.page.click("#explanation-toggle")
            p.page.wait_for_selector("#explanation-image", state="visible")
        if trial["kind"] == "label_check" and explanation != "none":
            # The question and the caption beside it name one label, on practice trials too.
            asked = QUOTED.findall(p.page.inner_text("#trial-prompt"))
            assert len(asked) == 1 and QUOTED.findall(p.page.text_content("#explanation-caption")) == asked

    answered = participant.complete_by_pointer(on_trial=look)
    participant.page.wait_for_selector("#completion-code")
    # Everything is served by SecondLook itself: no third-party request, ever.
    outside = [
        url for url in participant.requested if not url.startswith((demo["base"] + "/", "blob:", "data:"))
    ]
    assert outside == []
    rows = export(demo, slug)
    mine = check_stored(rows, participant, {pseudonym(participant)})
    practice = sum(t["practice"] for t in participant.trials.values())
    assert len(mine) == answered - practice
    kind = {"demo-forced-choice": "forced_choice", "demo-manipulation": "manipulation_check"}.get(
        slug, "label_check"
    )
    assert {row["task_kind"] for row in mine} <= {kind, "attention"}
    if slug == "demo-label-toggle":
        opened = [row for row in mine if row["trial_index"] and int(row["trial_index"]) % 2 == 0]
        assert opened and all(row["explanation_opened"] == "1" for row in opened)
    context.close()


def test_keyboard_only_completion(demo, browser):
    context = fresh_context(browser)
    participant = Participant(context, demo["base"], "demo-label-check")
    page = participant.page
    page.wait_for_selector("#consent-agree")
    page.keyboard.press("Tab")
    while page.evaluate("document.activeElement.id") != "consent-agree":
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("#start-trials")
    page.focus("#start-trials")
    page.keyboard.press("Enter")
    while (trial := participant.wait_for_trial()) is not None:
        answer = participant.pick(trial)
        if trial["kind"] == "attention":
            page.keyboard.press(str([o["id"] for o in trial["options"]].index(answer["choice"]) + 1))
        else:
            page.keyboard.press("y" if answer["choice"] == "yes" else "n")
            page.keyboard.press(str(answer["confidence"]))
        page.keyboard.press("Enter")
        participant.answers[trial["id"]] = answer
        if trial["practice"]:
            page.wait_for_selector("#practice-feedback")
            page.keyboard.press("Enter")
        page.wait_for_function(
            "id => !document.querySelector(`#answer-form[data-trial-id='${id}']`)", arg=trial["id"]
        )
    page.wait_for_selector("#completion-code")
    mine = check_stored(export(demo, "demo-label-check"), participant, {pseudonym(participant)})
    assert {row["input"] for row in mine} == {"key"}
    context.close()


def test_a_phone_participant_completes_by_touch_without_horizontal_scrolling(demo, browser):
    context = fresh_context(
        browser, viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    participant = Participant(context, demo["base"], "demo-label-check")
    participant.page.tap("#consent-agree")
    participant.page.tap("#start-trials")

    def fits(p, trial, count):
        width = p.page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"trial {trial['index']} scrolls sideways: {width}"
        if count == 3:
            screenshot(p.page, "phone-label_check-side_by_side")

    participant.complete_by_pointer(tap=True, on_trial=fits)
    participant.page.wait_for_selector("#completion-code")
    mine = check_stored(export(demo, "demo-label-check"), participant, {pseudonym(participant)})
    assert {row["input"] for row in mine} == {"touch"}
    assert {row["dpr"] for row in mine} == {"3"}
    # 224-pixel stimuli fit a phone unscaled; the two side by side stack instead of shrinking.
    assert {row["scaled"] for row in mine} == {"0"}
    context.close()


def test_a_reload_mid_session_resumes_at_the_first_unanswered_trial(demo, browser):
    context = fresh_context(browser)
    participant = Participant(context, demo["base"], "demo-label-check")
    participant.start()
    for _ in range(4):  # two practice trials, then two that count
        trial = participant.wait_for_trial()
        participant.answer_by_pointer(trial)
        participant.after_answer(trial)
        participant.page.wait_for_function(
            "id => !document.querySelector(`#answer-form[data-trial-id='${id}']`)", arg=trial["id"]
        )
    participant.page.reload()
    resumed = participant.wait_for_trial()
    assert resumed["index"] == 4
    context.close()


def test_the_server_stopped_mid_session_loses_no_answer_and_duplicates_none(demo, browser):
    server = demo["server"]
    context = fresh_context(browser)
    participant = Participant(context, demo["base"], "demo-forced-choice")
    participant.start()
    page = participant.page
    for _ in range(2):
        trial = participant.wait_for_trial()
        participant.answer_by_pointer(trial)
        page.wait_for_function(
            "id => !document.querySelector(`#answer-form[data-trial-id='${id}']`)", arg=trial["id"]
        )
    trial = participant.wait_for_trial()
    server.stop()
    try:
        participant.answer_by_pointer(trial)
        page.wait_for_selector("#connection-status:not([hidden])", timeout=15_000)
        assert "Reconnecting" in page.inner_text("#connection-status")
        # The answer is not confirmed: the participant cannot move past it.
        time.sleep(2)
        assert page.get_attribute("#answer-form", "data-trial-id") == str(trial["id"])
        assert page.is_disabled("#submit-answer")
    finally:
        server.start()
    page.wait_for_function(
        "id => !document.querySelector(`#answer-form[data-trial-id='${id}']`)",
        arg=trial["id"],
        timeout=60_000,
    )
    participant.complete_by_pointer()
    page.wait_for_selector("#completion-code")
    mine = check_stored(export(demo, "demo-forced-choice"), participant, {pseudonym(participant)})
    assert len(mine) == len([t for t in participant.trials.values() if not t["practice"]])
    context.close()


@pytest.mark.parametrize("failure", ["checksum_mismatch", "image_unavailable"])
def test_an_image_that_cannot_be_loaded_is_reported_and_skipped(demo, browser, failure):
    context = fresh_context(browser)
    broken: set[str] = set()

    def next_reply(route):
        # The second trial's image is broken before the page ever asks for it.
        reply = route.fetch()
        body = reply.json()
        if body.get("trial") and body.get("upcoming") and not broken:
            broken.add(body["upcoming"][0])
        route.fulfill(response=reply)

    def stimulus(route):
        if not any(route.request.url.endswith(url) for url in broken):
            return route.continue_()
        if failure == "image_unavailable":
            return route.abort("connectionfailed")
        # A valid PNG, but not the image the URL's hash names.
        return route.fulfill(status=200, content_type="image/png", body=png_bytes(224, 224, (90, 90, 90)))

    context.route("**/api/v1/session/next", next_reply)
    context.route("**/stimuli/**", stimulus)
    participant = Participant(context, demo["base"], "demo-manipulation")
    participant.start()
    count = participant.complete_by_pointer()
    participant.page.wait_for_selector("#completion-code")
    bad = [t for t in participant.trials.values() if any(t["image"]["url"].endswith(u) for u in broken)]
    assert len(bad) == 1 and bad[0]["id"] not in participant.answers
    assert count == len(participant.trials) - 1
    skipped = json.loads(
        demo["server"]
        .manage(
            "shell",
            "-c",
            f"import json; from studies.models import Trial; t = Trial.objects.get(pk={bad[0]['id']}); "
            "print(json.dumps([t.problem, t.problem_detail]))",
        )
        .strip()
        .splitlines()[-1]
    )
    assert skipped[0] == failure
    context.close()


def test_the_completion_redirect_happens_only_after_the_last_answer_is_saved(demo, browser):
    demo["server"].manage(
        "shell",
        "-c",
        "from studies.models import Study; from studies.services import launch; "
        "s = Study.objects.get(slug='demo-topk'); s.pk = None; s.slug = 'redirect-check'; "
        "s.images_per_participant = 2; s.current_version = None; s.status = 'draft'; "
        "s.platform = 'prolific'; s.redirect_url = ''; s.save(); launch.launch(s)",
    )
    context = fresh_context(browser)
    held = threading.Event()
    saved_at, landed_at = [], []

    def landing(route):
        landed_at.append(time.monotonic())
        route.fulfill(
            status=200, content_type="text/html", body="<title>Prolific</title><h1>Back on Prolific</h1>"
        )

    context.route("https://app.prolific.com/**", landing)
    participant = Participant(
        context, demo["base"], "redirect-check", "?PROLIFIC_PID=p1&STUDY_ID=s&SESSION_ID=x"
    )
    page = participant.page

    def slow_last_answer(route):
        reply = route.fetch()
        if reply.json().get("finished"):
            held.set()
            time.sleep(2)
            saved_at.append(time.monotonic())
        route.fulfill(response=reply)

    context.route("**/api/v1/session/trials/*/response", slow_last_answer)
    participant.start()
    participant.complete_by_pointer()
    page.wait_for_url("https://app.prolific.com/**", timeout=20_000)
    assert held.is_set() and saved_at and landed_at and saved_at[0] < landed_at[0]
    assert "cc=" in page.url
    context.close()


def test_every_screen_passes_an_automated_accessibility_check(demo, browser):
    context = fresh_context(browser, bypass_csp=AXE_NEEDS_INLINE_SCRIPT)
    found = {}
    participant = Participant(context, demo["base"], "demo-label-check")
    page = participant.page
    page.wait_for_selector("#consent-agree")
    found["consent"] = axe_violations(page)
    page.click("#consent-agree")
    page.wait_for_selector("#start-trials")
    found["instructions"] = axe_violations(page)
    page.click("#start-trials")
    while (trial := participant.wait_for_trial()) is not None:
        name = f"{trial['kind']}{'-practice' if trial['practice'] else ''}"
        if name not in found:
            found[name] = axe_violations(page)
        participant.answer_by_pointer(trial)
        if trial["practice"]:
            page.wait_for_selector("#practice-feedback")
            found.setdefault("practice-feedback", axe_violations(page))
            page.click("#practice-continue")
        page.wait_for_function(
            "id => !document.querySelector(`#answer-form[data-trial-id='${id}']`)", arg=trial["id"]
        )
    page.wait_for_selector("#completion-code")
    found["completion"] = axe_violations(page)
    for slug in ("demo-label-toggle", "demo-forced-choice", "demo-manipulation", "demo-topk"):
        other = Participant(context, demo["base"], slug)
        other.start()
        other.wait_for_trial()
        found[slug] = axe_violations(other.page)
    assert {
        "consent",
        "instructions",
        "label_check",
        "label_check-practice",
        "attention",
        "completion",
    } <= set(found)
    assert {screen: v for screen, v in found.items() if v} == {}
    context.close()


EXAMPLES_STUDY = """
from inference.models import Prediction, PrototypeSet
from studies.models import Study
from studies.services import launch

base = Study.objects.get(slug="demo-topk")
study = Study.objects.create(
    slug="examples-check", title="Is the model's label right? With examples", image_set=base.image_set,
    classifier=base.classifier, task_kind="label_check", explanation_display="examples", examples_count=3,
    consent_text="You agree.", images_per_participant=3,
)
# The bundled photos are one per class, too few for MMD-critic: every predicted class gets
# the same four photos as its prototypes, which is all the display needs.
ids = sorted(base.image_set.images.values_list("id", flat=True))[:4]
labels = base.classifier.labels()
for index in {p.topk[0]["index"] for p in Prediction.objects.filter(classifier=base.classifier)}:
    PrototypeSet.objects.create(
        image_set=base.image_set, classifier=base.classifier, class_index=index,
        class_id=labels.class_ids[index], method="mmd_critic", params={}, params_key="browser",
        prototypes=ids,
    )
launch.launch(study)
"""


def test_example_based_explanations_show_the_predicted_classs_prototypes(demo, browser):
    demo["server"].manage("shell", "-c", EXAMPLES_STUDY)
    context = fresh_context(browser, bypass_csp=AXE_NEEDS_INLINE_SCRIPT)
    participant = Participant(context, demo["base"], "examples-check")
    participant.start()

    def examples_shown(p, trial, count):
        shown = p.page.locator("#explanation-examples img.explanation-example")
        assert shown.count() == 3 == len(trial["explanation"]["examples"])
        for n in range(3):
            assert shown.nth(n).get_attribute("src").startswith("blob:")
            assert shown.nth(n).evaluate("img => img.complete && img.naturalWidth > 0")
        if count == 0:
            screenshot(p.page, "label_check-examples")
            assert axe_violations(p.page) == []

    assert participant.complete_by_pointer(on_trial=examples_shown) == 3
    participant.page.wait_for_selector("#completion-title")
    rows = export(demo, "examples-check")
    assert {row["explanation_display"] for row in rows} == {"examples"}
    context.close()


def test_a_participant_can_withdraw_before_the_first_trial(demo, browser):
    context = fresh_context(browser)
    participant = Participant(context, demo["base"], "demo-manipulation")
    page = participant.page
    page.click("#consent-agree")
    page.wait_for_selector("#start-trials")
    page.click("#withdraw")
    page.click("#withdraw-confirm")
    page.wait_for_selector("#completion-title")
    assert page.inner_text("#completion-title") == "You have withdrawn from the study"
    state = session_of(participant)
    assert state["state"] == "done" and state["completion"]["outcome"] == "withdrawn"
    context.close()


def test_the_participant_page_refuses_injected_inline_script(demo, browser):
    from playwright.sync_api import Error as PlaywrightError

    context = fresh_context(browser)
    page = context.new_page()
    page.goto(f"{demo['base']}/s/demo-topk/")
    page.wait_for_selector("#consent-agree")
    # Playwright may report the refusal as an error, or not; what counts is that it never ran.
    with contextlib.suppress(PlaywrightError):
        page.add_script_tag(content="window.injected = true;")
    assert page.evaluate("window.injected === undefined")
    context.close()
