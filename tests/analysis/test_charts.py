"""The results page's SVG bars: proportions, and coefficients that can be negative."""

import re

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
