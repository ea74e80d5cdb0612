"""Charts as SVG (vector graphics), drawn from the report model's figures. Pure: text in, text out.

One chart type carries every figure of the seeds: horizontal bars per category, the
provider's bar beside the benchmark's (all providers), with the value printed at the bar's
end. Means of grades run on 0–10, shares on 0–100%, counts on 0–max. Every text is
XML-escaped: labels come from configuration, never from respondents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

OWN_COLOUR = "#1f5f8b"  # the provider
BENCHMARK_COLOUR = "#b9c7d3"  # all providers
TEXT_COLOUR = "#1a1a1a"
GRID_COLOUR = "#d9d9d9"

WIDTH = 640
LABEL_WIDTH = 270
VALUE_WIDTH = 52
BAR_HEIGHT = 13
ROW_GAP = 9
TOP = 28
# 12 px in a 640 px chart printed 640 px wide (A4 less margins is ~657 px): 9 pt, readable.
FONT_SIZE = 12
LINE_HEIGHT = 14
LABEL_CHARS = 36  # what fits in LABEL_WIDTH at FONT_SIZE


@dataclass(frozen=True)
class ChartRow:
    """One category: its label, the provider's value and the benchmark's (None: no figure)."""

    label: str
    own: float | None
    own_text: str
    benchmark: float | None
    benchmark_text: str


def _wrap(label: str, width: int = LABEL_CHARS) -> list[str]:
    """A long label over as many lines as it needs: never cut short, so two long labels that
    start alike still read apart."""
    lines: list[str] = []
    line = ""
    for word in label.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return lines


def bar_chart(
    rows: Sequence[ChartRow],
    *,
    scale_max: float,
    own_label: str,
    benchmark_label: str = "Alle deelnemers",
    title: str = "",
) -> str:
    """Paired horizontal bars (provider over benchmark) with a legend; returns an ``<svg>`` element."""
    plot_width = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 10
    labels = [_wrap(row.label) for row in rows]
    heights = [max(2 * BAR_HEIGHT, len(lines) * LINE_HEIGHT) + ROW_GAP for lines in labels]
    height = TOP + sum(heights) + 8
    scale = plot_width / scale_max if scale_max > 0 else 0.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'font-size="{FONT_SIZE}">',
        f"<title>{escape(title)}</title>",
        _legend(own_label, benchmark_label),
    ]
    for tick in range(5):
        x = LABEL_WIDTH + plot_width * tick / 4
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{height - 6}" stroke="{GRID_COLOUR}" '
            'stroke-width="0.6"/>'
        )
    y = float(TOP)
    for row, lines, row_height in zip(rows, labels, heights, strict=True):
        middle = y + (row_height - ROW_GAP) / 2
        for i, line in enumerate(lines):
            ty = middle + 4 + (i - (len(lines) - 1) / 2) * LINE_HEIGHT
            parts.append(f'<text x="0" y="{ty:.1f}" fill="{TEXT_COLOUR}">{escape(line)}</text>')
        bars = middle - BAR_HEIGHT
        parts.append(_bar(bars, row.own, row.own_text, scale, OWN_COLOUR))
        parts.append(_bar(bars + BAR_HEIGHT, row.benchmark, row.benchmark_text, scale, BENCHMARK_COLOUR))
        y += row_height
    parts.append("</svg>")
    return "".join(parts)


def _bar(y: float, value: float | None, text: str, scale: float, colour: str) -> str:
    """One bar with its value at its end; a zero prints no "0%" (an empty bar says it)."""
    width = max(0.0, (value or 0.0) * scale)
    label_x = LABEL_WIDTH + width + 4
    shown = "" if value == 0 else escape(text)
    return (
        f'<rect class="bar" x="{LABEL_WIDTH}" y="{y:.1f}" width="{width:.1f}" height="{BAR_HEIGHT - 1}" '
        f'fill="{colour}"/><text x="{label_x:.1f}" y="{y + BAR_HEIGHT - 2:.1f}" fill="{TEXT_COLOUR}">'
        f"{shown}</text>"
    )


def _legend(own_label: str, benchmark_label: str) -> str:
    return (
        f'<rect x="{LABEL_WIDTH}" y="4" width="10" height="10" fill="{OWN_COLOUR}"/>'
        f'<text x="{LABEL_WIDTH + 14}" y="13" fill="{TEXT_COLOUR}">{escape(own_label)}</text>'
        f'<rect x="{LABEL_WIDTH + 180}" y="4" width="10" height="10" fill="{BENCHMARK_COLOUR}"/>'
        f'<text x="{LABEL_WIDTH + 194}" y="13" fill="{TEXT_COLOUR}">{escape(benchmark_label)}</text>'
    )


def grade_badge(text: str, caption: str) -> str:
    """The summary page's big grade in a circle."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" class="badge" role="img" width="150" height="150" '
        'viewBox="0 0 150 150" font-family="DejaVu Sans, Arial, sans-serif">'
        f"<title>{escape(caption)}</title>"
        f'<circle cx="75" cy="75" r="70" fill="{OWN_COLOUR}"/>'
        f'<text x="75" y="92" text-anchor="middle" font-size="48" font-weight="bold" fill="#fff">'
        f"{escape(text)}</text></svg>"
    )


def share_bar(shares: Sequence[tuple[str, float, str]]) -> str:
    """One stacked bar of shares that add up to 100% (the summary's satisfaction), with a legend."""
    colours = ("#1f5f8b", "#5b9bc4", "#f0b45b", "#d9534f", "#9e9e9e", "#7e57c2")
    width, x = 600.0, 0.0
    # The legend in three columns of 200 px: "Zeer ontevreden: 13%" at 11 px needs ~130.
    height = 40 + 16 * ((len(shares) + 2) // 3)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="600" height="{height}" '
        f'viewBox="0 0 600 {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
        "<title>Tevredenheid</title>",
    ]
    for index, (label, percent, text) in enumerate(shares):
        colour = colours[index % len(colours)]
        w = width * percent / 100
        parts.append(f'<rect class="bar" x="{x:.1f}" y="0" width="{w:.1f}" height="24" fill="{colour}"/>')
        x += w
        lx = 200 * (index % 3)
        ly = 40 + 16 * (index // 3)
        parts.append(
            f'<rect x="{lx}" y="{ly - 9}" width="9" height="9" fill="{colour}"/>'
            f'<text x="{lx + 12}" y="{ly}" fill="{TEXT_COLOUR}">{escape(label)}: {escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def share_bars(rows: Sequence[tuple[str, float, str]], title: str) -> str:
    """One horizontal bar per category on 0–100% (the summary's provinces), the text at its end."""
    label_width, bar_width, row_height = 130, 380, BAR_HEIGHT + 6
    width, height = label_width + bar_width + 90, len(rows) * row_height + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, percent, text) in enumerate(rows):
        y = 2 + index * row_height
        bar = bar_width * max(0.0, min(percent, 100.0)) / 100
        parts.append(
            f'<text x="0" y="{y + BAR_HEIGHT - 2}" fill="{TEXT_COLOUR}">{escape(label)}</text>'
            f'<rect class="bar" x="{label_width}" y="{y}" width="{bar:.1f}" height="{BAR_HEIGHT - 1}" '
            f'fill="{OWN_COLOUR}"/><text x="{label_width + bar + 4:.1f}" y="{y + BAR_HEIGHT - 2}" '
            f'fill="{TEXT_COLOUR}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class FlowStep:
    """One box of a flow diagram: a heading and a line of figures under it."""

    heading: str
    figures: str


def flow_diagram(lanes: Sequence[tuple[str, Sequence[FlowStep]]], title: str) -> str:
    """Lanes of boxes joined by arrows (fig. 1, the invitation route per respondent type)."""
    # Sized so four boxes fit the printed page (~657 px) and keep their 11 px text at 8 pt.
    box_w, box_h, gap, lane_h, label_w = 134, 46, 12, 66, 106
    steps_most = max((len(steps) for _, steps in lanes), default=1)
    width = label_w + steps_most * box_w + (steps_most - 1) * gap
    height = len(lanes) * lane_h + 6
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        f'orient="auto"><path d="M0 0L10 5L0 10z" fill="{OWN_COLOUR}"/></marker></defs>',
    ]
    for lane, (label, steps) in enumerate(lanes):
        y = 4 + lane * lane_h
        parts.append(
            f'<text x="0" y="{y + box_h / 2 + 4:.1f}" font-weight="bold" fill="{TEXT_COLOUR}">'
            f"{escape(label)}</text>"
        )
        for index, step in enumerate(steps):
            x = label_w + index * (box_w + gap)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="4" fill="#eef3f7" '
                f'stroke="{OWN_COLOUR}" stroke-width="1"/>'
                f'<text x="{x + 5}" y="{y + 16}" font-weight="bold" fill="{TEXT_COLOUR}">'
                f"{escape(step.heading)}</text>"
                f'<text x="{x + 5}" y="{y + 33}" fill="{TEXT_COLOUR}">{escape(step.figures)}</text>'
            )
            if index + 1 < len(steps):
                ax = x + box_w
                parts.append(
                    f'<line x1="{ax + 2}" y1="{y + box_h / 2}" x2="{ax + gap - 2}" y2="{y + box_h / 2}" '
                    f'stroke="{OWN_COLOUR}" stroke-width="1.2" marker-end="url(#arrow)"/>'
                )
    parts.append("</svg>")
    return "".join(parts)
