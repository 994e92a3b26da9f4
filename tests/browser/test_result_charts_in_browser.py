"""The results page's SVG charts drawn by a real browser in the researcher pages' font:
long labels, reasons and values stay inside the chart (tests/analysis/test_charts.py checks
the same from the SVG's attributes, for any font at most as wide as its bound)."""

import pytest

from studies.analysis.charts import interval_bars
from studies.analysis.statistics import Estimate

pytestmark = pytest.mark.browser
# As static/css/dashboard.css sets it for the researcher pages.
FONT = 'font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif'
ROWS = [
    (
        "label_check, a between-subjects condition with a rather long name, side_by_side: κ",
        Estimate(0.4, 0.2, 0.6, 120),
    ),
    ("FORCED_CHOICE, WITHOUT ANY EXPLANATION WHATSOEVER, NONE: α", Estimate(-0.95, -1.0, -0.8, 12345)),
    ("clean", Estimate.missing("each group needs at least one participant with answers")),
    ("W" * 300, Estimate(1.0, 0.9, 1.0, 99999)),
]
OUTSIDE = """() => {
    const svg = document.querySelector("svg");
    const view = svg.viewBox.baseVal;
    return Array.from(svg.querySelectorAll("text"), (text) => {
        const box = text.getBBox();
        return {text: text.textContent, left: box.x, right: box.x + box.width, width: view.width};
    }).filter((t) => t.left < 0 || t.right > t.width);
}"""


@pytest.mark.parametrize("domain, percent", [((0.0, 1.0), True), ((-1.0, 1.0), False)])
def test_chart_text_is_drawn_inside_the_chart(browser, domain, percent):
    page = browser.new_page()
    page.set_content(
        f'<body style="{FONT}">{interval_bars("long", ROWS, domain=domain, percent=percent)}</body>'
    )
    assert page.evaluate(OUTSIDE) == []
    page.close()
