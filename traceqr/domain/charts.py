"""Bar charts drawn on the server: the geometry once, then SVG for pages and the same
shapes for the PDF report. No script, no style attribute (the CSP allows neither): colours
come from classes in app.css, or from the caller when drawing the PDF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

LEFT, RIGHT, TOP, BOTTOM = 52.0, 8.0, 10.0, 26.0


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    value: int
    label: str  # the x label of its column


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    bars: list[Bar]
    y_ticks: list[tuple[float, int]]  # (y, value)
    x_labels: list[tuple[float, str]]  # (x centre, label), thinned to fit
    baseline: float  # y of zero


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^n at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def stacked_bars(
    labels: list[str],
    series: list[list[int]],
    *,
    width: float = 720.0,
    height: float = 220.0,
    max_x_labels: int = 10,
) -> Chart:
    """Columns, one per label, with ``series`` stacked bottom up (each as long as labels)."""
    if any(len(values) != len(labels) for values in series):
        raise ValueError("every series needs one value per label")
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    totals = [sum(values[i] for values in series) for i in range(len(labels))]
    top = nice_ceiling(max(totals, default=0))
    step = plot_w / max(len(labels), 1)
    gap = min(step * 0.2, 4.0)
    baseline = TOP + plot_h
    bars: list[Bar] = []
    for i, label in enumerate(labels):
        y = baseline
        for s, values in enumerate(series):
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            bars.append(Bar(LEFT + i * step + gap / 2, y, step - gap, h, s, value, label))
    steps = 5 if top >= 5 else top  # 1, 2 or 5 × 10^n splits into whole numbers
    ticks = [(baseline - plot_h * k / steps, top * k // steps) for k in range(steps + 1)]
    every = max(1, math.ceil(len(labels) / max_x_labels))
    x_labels = [
        (LEFT + i * step + step / 2, label) for i, label in enumerate(labels) if i % every == 0
    ]
    return Chart(width, height, bars, ticks, x_labels, baseline)


def format_number(value: int) -> str:
    """1.234.567: Vietnamese thousands separators."""
    return f"{value:,}".replace(",", ".")


def chart_svg(chart: Chart, title: str, series_names: list[str], css_prefix: str = "chart") -> str:
    """The chart as an inline SVG element, with a title and a tooltip per bar."""
    out = [
        f'<svg class="{css_prefix}" viewBox="0 0 {chart.width:g} {chart.height:g}" '
        f'role="img" aria-label={quoteattr(title)} xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for y, value in chart.y_ticks:
        out.append(
            f'<line class="{css_prefix}__grid" x1="{LEFT:g}" x2="{chart.width - RIGHT:g}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="{css_prefix}__tick" x="{LEFT - 6:g}" y="{y + 4:.1f}" '
            f'text-anchor="end">{escape(format_number(value))}</text>'
        )
    for bar in chart.bars:
        name = series_names[bar.series] if bar.series < len(series_names) else ""
        tip = f"{bar.label}: {format_number(bar.value)} {name}".strip()
        out.append(
            f'<rect class="{css_prefix}__bar {css_prefix}__bar--{bar.series}" '
            f'x="{bar.x:.1f}" y="{bar.y:.1f}" width="{max(bar.width, 0.5):.1f}" '
            f'height="{bar.height:.1f}"><title>{escape(tip)}</title></rect>'
        )
    for x, label in chart.x_labels:
        out.append(
            f'<text class="{css_prefix}__label" x="{x:.1f}" y="{chart.baseline + 16:.1f}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
