"""Server-side SVG charts for the results page: bars with 95 % interval whiskers. Plain
SVG text built from numbers only (labels are escaped), so it needs no plotting library
and no script.

SVG text neither wraps nor clips to its box, so the chart is laid out around an upper
bound of each text's drawn width (text_width): the label column is as wide as the longest
label, the chart as wide as the furthest value or reason. A label too long for any column
is shortened with "…" and kept whole in its <title> (shown on hover)."""

from html import escape

from studies.analysis.statistics import Estimate

SPAN, BAR, GAP, TOP, PAD = 220, 34, 18, 16, 8
LABEL_SIZE, NOTE_SIZE = 13, 12
MIN_LABELS, MIN_WIDTH = 190, 520  # charts with short labels keep one common look
LABEL_CHARS, NOTE_CHARS = 60, 90


def text_width(text: str, size: float) -> float:
    """An upper bound of the width of `text` drawn at `size` px in the common sans-serif
    fonts (DejaVu Sans, Arial, Helvetica): the widest glyphs and anything beyond ASCII a
    full em, capitals 0.8 em, everything else 0.65 em."""

    def advance(char: str) -> float:
        if char in "mwMW%@—" or not char.isascii():
            return 1.0
        return 0.8 if char.isupper() else 0.65

    return size * sum(advance(char) for char in text)


def _text(x: float, y: float, size: int, text: str, limit: int, anchor: str = "") -> str:
    """A <text> element; a text longer than `limit` characters is shortened and carries
    the whole text in its <title>."""
    shown = _shortened(text, limit)
    title = f"<title>{escape(text)}</title>" if shown != text else ""
    anchor = f' text-anchor="{anchor}"' if anchor else ""
    return f'<text x="{x:.1f}" y="{y:g}"{anchor} font-size="{size}">{title}{escape(shown)}</text>'


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


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
    labels = [text_width(_shortened(label, LABEL_CHARS), LABEL_SIZE) for label, _ in rows]
    left_edge = max([MIN_LABELS] + [2 * PAD + width for width in labels])
    lowest, highest = domain
    scale = SPAN / (highest - lowest)

    def x(value: float) -> float:
        return left_edge + (min(max(value, lowest), highest) - lowest) * scale

    zero = x(0.0)
    parts, right_edge = [], left_edge + SPAN
    for n, (label, estimate) in enumerate(rows):
        y = TOP + n * (BAR + GAP)
        parts.append(_text(left_edge - PAD, y + BAR / 2 + 5, LABEL_SIZE, label, LABEL_CHARS, "end"))
        if estimate.value is None:
            why = estimate.why_not
            parts.append(_text(left_edge + PAD, y + BAR / 2 + 5, NOTE_SIZE, why, NOTE_CHARS))
            right_edge = max(right_edge, left_edge + PAD + text_width(_shortened(why, NOTE_CHARS), NOTE_SIZE))
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
        caption = f"{value} (n={estimate.n})"
        parts.append(_text(text_x, y + BAR - 4, NOTE_SIZE, caption, NOTE_CHARS))
        right_edge = max(right_edge, text_x + text_width(caption, NOTE_SIZE))
    width = round(max(MIN_WIDTH, right_edge + PAD))
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"><title>{escape(title)}</title>',
        f'<line x1="{zero:.1f}" y1="{TOP}" x2="{zero:.1f}" y2="{height - TOP}" stroke="#1b1b1b"/>',
    ]
    return "".join(head + parts + ["</svg>"])
