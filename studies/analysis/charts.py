"""Server-side SVG charts for the results page: bars with 95 % interval whiskers. Plain
SVG text built from numbers only (labels are escaped), so it needs no plotting library
and no script."""

from html import escape

from studies.analysis.statistics import Estimate

PLOT, BAR, GAP, TOP = 330, 34, 18, 16


def interval_bars(
    title: str,
    rows: list[tuple[str, Estimate]],
    domain: tuple[float, float] = (0.0, 1.0),
    percent: bool = True,
) -> str:
    """Horizontal bars from zero to each value, with interval whiskers, on `domain`
    (proportions by default; d' or agreement coefficients can be negative). Rows without a
    value are drawn as a labelled gap saying why."""
    height = TOP * 2 + len(rows) * (BAR + GAP)
    # Room on the left for the longest label (about 7 px a character at 13 px).
    left_edge = max(190, 16 + 7 * max((len(label) for label, _ in rows), default=0))
    width = left_edge + PLOT
    lowest, highest = domain
    scale = (PLOT - 110) / (highest - lowest)

    def x(value: float) -> float:
        return left_edge + (min(max(value, lowest), highest) - lowest) * scale

    zero = x(0.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"><title>{escape(title)}</title>',
        f'<line x1="{zero:.1f}" y1="{TOP}" x2="{zero:.1f}" y2="{height - TOP}" stroke="#1b1b1b"/>',
    ]
    for n, (label, estimate) in enumerate(rows):
        y = TOP + n * (BAR + GAP)
        parts.append(
            f'<text x="{left_edge - 8}" y="{y + BAR / 2 + 5}" text-anchor="end" font-size="13">'
            f"{escape(label)}</text>"
        )
        if estimate.value is None:
            why = escape(estimate.why_not)
            parts.append(f'<text x="{left_edge + 8}" y="{y + BAR / 2 + 5}" font-size="12">{why}</text>')
            continue
        left, right = sorted((zero, x(estimate.value)))
        bar = max(1.0, right - left)
        parts.append(f'<rect x="{left:.1f}" y="{y}" width="{bar:.1f}" height="{BAR}" fill="#1d4ed8"/>')
        if estimate.low is not None:
            x1, x2, mid = x(estimate.low), x(estimate.high), y + BAR / 2
            parts.append(
                f'<line x1="{x1:.1f}" y1="{mid}" x2="{x2:.1f}" y2="{mid}" stroke="#1b1b1b" stroke-width="2"/>'
            )
            for end in (x1, x2):
                parts.append(
                    f'<line x1="{end:.1f}" y1="{mid - 7}" x2="{end:.1f}" y2="{mid + 7}" '
                    'stroke="#1b1b1b" stroke-width="2"/>'
                )
        value = f"{100 * estimate.value:.1f}%" if percent else f"{estimate.value:.2f}"
        text_x = max(right, x(estimate.high) if estimate.high is not None else right) + 6
        caption = escape(f"{value} (n={estimate.n})")
        parts.append(f'<text x="{text_x:.1f}" y="{y + BAR - 4}" font-size="12">{caption}</text>')
    parts.append("</svg>")
    return "".join(parts)
