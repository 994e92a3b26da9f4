"""Server-side SVG charts for the results page: bars with 95 % interval whiskers. Plain
SVG text built from numbers only (labels are escaped), so it needs no plotting library
and no script."""

from html import escape

from studies.analysis.statistics import Estimate

WIDTH, BAR, GAP, TOP, LEFT = 520, 34, 18, 16, 190


def interval_bars(title: str, rows: list[tuple[str, Estimate]], unit: str = "%") -> str:
    """Horizontal bars of proportions (0–1) with their intervals; rows without a value
    are drawn as a labelled gap saying why."""
    height = TOP * 2 + len(rows) * (BAR + GAP)
    scale = WIDTH - LEFT - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}"><title>{escape(title)}</title>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{height - TOP}" stroke="#1b1b1b"/>',
    ]
    for n, (label, estimate) in enumerate(rows):
        y = TOP + n * (BAR + GAP)
        parts.append(
            f'<text x="{LEFT - 8}" y="{y + BAR / 2 + 5}" text-anchor="end" font-size="13">'
            f"{escape(label)}</text>"
        )
        if estimate.value is None:
            parts.append(
                f'<text x="{LEFT + 8}" y="{y + BAR / 2 + 5}" font-size="12">{escape(estimate.why_not)}</text>'
            )
            continue
        width = max(1.0, estimate.value * scale)
        parts.append(f'<rect x="{LEFT}" y="{y}" width="{width:.1f}" height="{BAR}" fill="#1d4ed8"/>')
        if estimate.low is not None:
            x1, x2, mid = LEFT + estimate.low * scale, LEFT + estimate.high * scale, y + BAR / 2
            parts.append(
                f'<line x1="{x1:.1f}" y1="{mid}" x2="{x2:.1f}" y2="{mid}" stroke="#1b1b1b" stroke-width="2"/>'
            )
            for x in (x1, x2):
                parts.append(
                    f'<line x1="{x:.1f}" y1="{mid - 7}" x2="{x:.1f}" y2="{mid + 7}" '
                    'stroke="#1b1b1b" stroke-width="2"/>'
                )
        text = f"{100 * estimate.value:.1f}{unit} (n={estimate.n})"
        parts.append(
            f'<text x="{LEFT + width + 6:.1f}" y="{y + BAR - 4}" font-size="12">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
