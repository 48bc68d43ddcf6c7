"""The authority's dashboard as a PDF report for a period: figures, charts, tables.

The caller hands over text already in the reader's language (Vietnamese or English); this
module only lays it out, in DejaVu Sans so every Vietnamese letter prints.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer

from traceqr.domain.charts import Chart, format_number
from traceqr.services.case_pdf import FONT, _p, _styles, _table

SERIES_COLOURS = ("#2e8b57", "#c9a227", "#c0392b", "#2f6db5")


@dataclass(frozen=True)
class ReportChart:
    title: str
    chart: Chart
    series: list[str]
    colours: tuple[str, ...] = SERIES_COLOURS


@dataclass(frozen=True)
class ReportTable:
    title: str
    columns: list[str]
    rows: list[list[str]]
    empty: str = ""


def _drawing(item: ReportChart, width: float) -> Drawing:
    chart = item.chart
    scale = width / chart.width
    drawing = Drawing(width, chart.height * scale + 14)
    top = chart.height * scale + 14

    def y(value: float) -> float:  # SVG y grows downwards, PDF y upwards
        return top - 14 - value * scale

    for tick_y, value in chart.y_ticks:
        drawing.add(
            Line(
                chart.bars[0].x * scale if chart.bars else 40,
                y(tick_y),
                width,
                y(tick_y),
                strokeColor=colors.HexColor("#dde3e8"),
                strokeWidth=0.4,
            )
        )
        drawing.add(String(2, y(tick_y) - 2, format_number(value), fontName=FONT, fontSize=6))
    for bar in chart.bars:
        drawing.add(
            Rect(
                bar.x * scale,
                y(bar.y + bar.height),
                max(bar.width * scale, 0.4),
                bar.height * scale,
                fillColor=colors.HexColor(item.colours[bar.series % len(item.colours)]),
                strokeColor=None,
            )
        )
    for x, label in chart.x_labels:
        drawing.add(
            String(
                x * scale,
                y(chart.baseline) - 9,
                label,
                fontName=FONT,
                fontSize=6,
                textAnchor="middle",
            )
        )
    legend_x = 0.0
    for i, name in enumerate(item.series):
        drawing.add(
            Rect(
                legend_x,
                top - 8,
                6,
                6,
                fillColor=colors.HexColor(item.colours[i % len(item.colours)]),
                strokeColor=None,
            )
        )
        drawing.add(String(legend_x + 9, top - 7, name, fontName=FONT, fontSize=7))
        legend_x += 18 + len(name) * 3.6
    return drawing


def authority_report_pdf(
    *,
    title: str,
    subtitle: str,
    summary: list[tuple[str, str]],
    charts: list[ReportChart],
    tables: list[ReportTable],
    footer: str,
    generated_at: datetime,
) -> bytes:
    styles = _styles()
    buffer = io.BytesIO()
    page = landscape(A4)
    doc = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=title,
        author="TraceQR",
    )
    width = page[0] - 24 * mm
    story: list[Any] = [
        Paragraph(_escape(title), styles["title"]),
        _p(subtitle, styles["body"]),
        Spacer(1, 3 * mm),
    ]
    if summary:
        half = (len(summary) + 1) // 2
        rows = [
            [
                *(summary[i] if i < len(summary) else ("", "")),
                *(summary[i + half] if i + half < len(summary) else ("", "")),
            ]
            for i in range(half)
        ]
        story.append(_table(rows, styles["body"], [width * 0.3, width * 0.2] * 2))
        story.append(Spacer(1, 4 * mm))
    for item in charts:
        story.append(
            KeepTogether([Paragraph(_escape(item.title), styles["h2"]), _drawing(item, width)])
        )
        story.append(Spacer(1, 3 * mm))
    for table in tables:
        parts: list[Any] = [Paragraph(_escape(table.title), styles["h2"])]
        if table.rows:
            widths = _widths(table, width)
            parts.append(_table([table.columns, *table.rows], styles["small"], widths))
        else:
            parts.append(_p(table.empty, styles["body"]))
        story.extend(parts)
        story.append(Spacer(1, 3 * mm))
    story.append(_p(f"{footer} · {generated_at.strftime('%Y-%m-%d %H:%M UTC')}", styles["small"]))
    doc.build(story)
    return buffer.getvalue()


def _widths(table: ReportTable, width: float) -> list[float]:
    """Text columns wider than number columns."""
    weights = []
    for i in range(len(table.columns)):
        longest = max((len(row[i]) for row in table.rows if i < len(row)), default=0)
        weights.append(3.0 if longest > 14 else 1.0)
    total = sum(weights)
    return [width * w / total for w in weights]


def _escape(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text)
