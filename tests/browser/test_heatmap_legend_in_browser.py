"""The heatmap's colour legend in a real browser, on the demo's really prepared overlays: a
bar from low to high relevance under the overlay, painted with the render's colour map,
beside the image (side by side) and in the opened panel (toggle); and a study normalised
per image shows the per-image overlays."""

import pytest

from inference.engine.colormap import CIVIDIS
from tests.browser.conftest import screenshot
from tests.browser.test_task_kinds_in_browser import Participant, fresh_context

pytestmark = pytest.mark.browser

IMAGE_NORMALISED_STUDY = """
from studies.models import Study
from studies.services import launch

base = Study.objects.get(slug="demo-label-check")
study = Study.objects.create(
    slug="per-image-heatmaps", title="Per-image heatmaps", image_set=base.image_set,
    classifier=base.classifier, task_kind="label_check", stimuli="both", attack=base.attack,
    explanation_display="side_by_side", heatmap_normalisation="image", consent_text="You agree.",
    images_per_participant=3,
)
launch.launch(study)
"""
PER_IMAGE_HASHES = """
from inference.models import Explanation
rows = Explanation.objects.exclude(image_overlay_sha256="")
print(" ".join(rows.values_list("image_overlay_sha256", flat=True)))
"""


def rgb(index: int) -> str:
    return "rgb({}, {}, {})".format(*CIVIDIS[index])


def first_heatmap_trial(participant: Participant) -> dict:
    """Answers trials until one shows a heatmap (attention checks show none)."""
    while (trial := participant.wait_for_trial()) is not None:
        if trial["explanation"] and trial["explanation"]["display"] in ("side_by_side", "toggle"):
            return trial
        participant.answer_by_pointer(trial)
        participant.after_answer(trial)
        participant.page.wait_for_function(
            "id => !document.querySelector(`#answer-form[data-trial-id='${id}']`)", arg=trial["id"]
        )
    raise AssertionError("no trial showed a heatmap")


def check_legend(page, trial: dict) -> None:
    legend = page.locator("#heatmap-legend")
    overlay = page.locator("#explanation-image")
    assert legend.is_visible() and overlay.is_visible()
    assert legend.inner_text().split() == ["low", "high", "relevance"]
    # Right under the overlay, from its left edge, and small: no wider than the overlay.
    image, box = overlay.bounding_box(), legend.bounding_box()
    assert image["y"] + image["height"] <= box["y"] <= image["y"] + image["height"] + 16
    assert abs(box["x"] - image["x"]) <= 1 and box["width"] <= image["width"]
    painted = page.eval_on_selector(".heatmap-legend-bar", "bar => getComputedStyle(bar).backgroundImage")
    assert painted.startswith("linear-gradient(")
    assert painted.count("rgb(") == len(trial["explanation"]["legend"]["stops"])
    assert rgb(0) in painted.split(",", 1)[1][:40] and painted.rstrip(")").endswith(f"{rgb(255)} 100%")
    bar = page.locator(".heatmap-legend-bar").bounding_box()
    assert bar["width"] >= 64 and bar["height"] >= 8


def test_the_side_by_side_heatmap_has_a_legend_from_low_to_high_relevance(demo, browser):
    context = fresh_context(browser)
    participant = Participant(context, demo["base"], "demo-label-check")
    participant.start()
    trial = first_heatmap_trial(participant)
    check_legend(participant.page, trial)
    screenshot(participant.page, "heatmap-legend-side-by-side")
    context.close()


def test_the_toggled_heatmap_shows_its_legend_when_opened(demo, browser):
    context = fresh_context(browser)
    participant = Participant(context, demo["base"], "demo-label-toggle")
    participant.start()
    trial = first_heatmap_trial(participant)
    page = participant.page
    assert not page.locator("#heatmap-legend").is_visible()
    page.click("#explanation-toggle")
    page.wait_for_selector("#heatmap-legend", state="visible")
    check_legend(page, trial)
    screenshot(page, "heatmap-legend-toggle")
    page.click("#explanation-toggle")
    assert not page.locator("#heatmap-legend").is_visible()
    context.close()


def test_a_study_normalised_per_image_shows_the_per_image_overlays(demo, browser):
    demo["server"].manage("shell", "-c", IMAGE_NORMALISED_STUDY)
    per_image = set(demo["server"].manage("shell", "-c", PER_IMAGE_HASHES).split())
    context = fresh_context(browser)
    participant = Participant(context, demo["base"], "per-image-heatmaps")
    participant.start()
    trial = first_heatmap_trial(participant)
    assert trial["explanation"]["image"]["sha256"] in per_image
    # The page shows an image only once its bytes match the sha256 (preload.js).
    overlay = participant.page.locator("#explanation-image")
    assert overlay.get_attribute("src").startswith("blob:")
    assert overlay.evaluate("img => img.complete && img.naturalWidth > 0")
    check_legend(participant.page, trial)
    context.close()
