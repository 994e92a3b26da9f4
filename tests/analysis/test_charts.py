"""The results page's SVG bars: proportions, and coefficients that can be negative."""

import html
import re

import pytest

from studies.analysis.charts import interval_bars
from studies.analysis.statistics import Estimate


def bars(svg: str) -> list[tuple[float, float]]:
    return [
        (float(x), float(w)) for x, w in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    ]


def zero_line(svg: str) -> float:
    return float(re.search(r'<line x1="([\d.]+)"', svg).group(1))


def test_proportions_grow_from_the_axis_in_proportion_to_their_value():
    svg = interval_bars("shares", [("a", Estimate(0.25, 0.2, 0.3, 10)), ("b", Estimate(0.5, 0.4, 0.6, 10))])
    (xa, wa), (xb, wb) = bars(svg)
    assert xa == xb == zero_line(svg)
    assert wb == 2 * wa
    assert "25.0% (n=10)" in svg and "50.0% (n=10)" in svg


def test_negative_values_extend_left_of_zero_and_coefficients_are_not_percentages():
    svg = interval_bars(
        "agreement",
        [("κ", Estimate(-0.5, -0.7, -0.3, 8)), ("α", Estimate(0.5, 0.3, 0.7, 8))],
        domain=(-1, 1),
        percent=False,
    )
    zero = zero_line(svg)
    (x_negative, w_negative), (x_positive, w_positive) = bars(svg)
    assert x_negative + w_negative == zero == x_positive
    assert w_negative == w_positive
    assert "-0.50 (n=8)" in svg and "%" not in svg


def test_a_missing_value_is_drawn_as_its_reason_and_labels_are_escaped():
    svg = interval_bars("shares", [("<b>", Estimate.missing("no observations"))])
    assert bars(svg) == [] and "no observations" in svg and "&lt;b&gt;" in svg


# Advance widths as a share of the font size, at least as wide as DejaVu Sans and Arial
# (the fonts a researcher's browser most likely draws the chart in): the widest glyphs and
# anything outside ASCII a full em, capitals 0.8 em, everything else 0.65 em.
def drawn_width(text: str, size: float) -> float:
    def advance(char: str) -> float:
        if char in "mwMW%@—" or not char.isascii():
            return 1.0
        return 0.8 if char.isupper() else 0.65

    return size * sum(advance(char) for char in text)


def text_extents(svg: str) -> list[tuple[float, float, str]]:
    """(left, right, text) of every <text> element, from its x, anchor and font size."""
    found = []
    for attributes, content in re.findall(r"<text ([^>]*)>(.*?)</text>", svg):
        content = re.sub(r"<title>.*?</title>", "", content)
        shown = html.unescape(content)
        x = float(re.search(r'\bx="([-\d.]+)"', attributes).group(1))
        size = float(re.search(r'font-size="([\d.]+)"', attributes).group(1))
        width = drawn_width(shown, size)
        left = x - width if 'text-anchor="end"' in attributes else x
        found.append((left, left + width, shown))
    return found


def view_box(svg: str) -> tuple[float, float, float, float]:
    return tuple(float(v) for v in re.search(r'viewBox="([^"]+)"', svg).group(1).split())


LONG_LABELS = [
    (
        "label_check, a between-subjects condition with a rather long name, side_by_side: κ",
        Estimate(0.4, 0.2, 0.6, 120),
    ),
    ("FORCED_CHOICE, WITHOUT ANY EXPLANATION WHATSOEVER, NONE: α", Estimate(-0.95, -1.0, -0.8, 12345)),
    ("clean", Estimate.missing("each group needs at least one participant with answers")),
    ("x" * 300, Estimate(1.0, 0.9, 1.0, 99999)),
]


@pytest.mark.parametrize("domain, percent", [((0.0, 1.0), True), ((-1.0, 1.0), False), ((-1.0, 3.0), False)])
def test_every_label_reason_and_value_stays_inside_the_viewbox(domain, percent):
    svg = interval_bars("long labels", LONG_LABELS, domain=domain, percent=percent)
    min_x, _, width, _ = view_box(svg)
    assert re.search(rf'width="{width:g}"', svg)
    for left, right, text in text_extents(svg):
        assert min_x <= left and right <= min_x + width, (text, left, right, width)


def test_a_label_too_long_to_show_is_shortened_and_kept_whole_in_its_title():
    svg = interval_bars("long", [("condition " + "x" * 300, Estimate(0.5, 0.4, 0.6, 10))])
    [(_, _, shown), _] = text_extents(svg)
    assert shown.endswith("…") and len(shown) < 100
    assert f"<title>condition {'x' * 300}</title>" in svg
    assert view_box(svg)[2] < 1200  # the chart stays a sensible width
