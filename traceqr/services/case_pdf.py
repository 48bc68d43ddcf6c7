"""The printable case file: a PDF of the case with the signed JSON attached inside it.

The PDF is for people; the evidence is the signed JSON, which travels in the PDF as an
attachment (case-file.json) and whose SHA-256 and signature are printed on the last page.
`traceqr verify-document case-file.json --keys jwks.json` checks it.
"""

from __future__ import annotations

import hashlib
import io
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from pypdf import PdfReader, PdfWriter
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from traceqr.services.uploads import stored_private_upload

FONT = "DejaVuSans"
ATTACHMENT = "case-file.json"


@cache
def _register_font() -> str:
    path = resources.files("traceqr.data") / "fonts" / "DejaVuSans.ttf"
    with resources.as_file(path) as font_file:
        pdfmetrics.registerFont(TTFont(FONT, str(font_file)))
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = _register_font()
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=font, fontSize=16),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=font, fontSize=12),
        "body": ParagraphStyle(
            "body", parent=base["BodyText"], fontName=font, fontSize=9, leading=12
        ),
        "small": ParagraphStyle(
            "small", parent=base["BodyText"], fontName=font, fontSize=7, leading=9
        ),
    }


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape("" if text is None else str(text)).replace("\n", "<br/>"), style)


def _table(rows: list[list[Any]], style: ParagraphStyle, widths: list[float]) -> Table:
    table = Table(
        [[_p(cell, style) for cell in row] for row in rows], colWidths=widths, repeatRows=1
    )
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e3f4ec")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0b8c0")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def case_file_pdf(document: dict[str, Any], uploads: Path, labels: dict[str, str]) -> bytes:
    """The PDF of a signed case file; ``labels`` are the headings in the reader's language."""
    styles = _styles()
    signed = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    case = document["case"]
    story: list[Any] = [
        _p(f"{labels['case']} #{case['id']}: {case['title']}", styles["title"]),
        _p(
            f"{labels['status']}: {case['status']} · {labels['opened']}: {case['opened_at']}"
            f" ({case['opened_by']}) · {labels['closed']}: {case['closed_at'] or '—'}",
            styles["body"],
        ),
    ]
    if case.get("outcome"):
        story.append(_p(f"{labels['outcome']}: {case['outcome']}", styles["body"]))
    if document["stamps"]:
        story += [Spacer(1, 4 * mm), _p(labels["stamps"], styles["h2"])]
        for stamp in document["stamps"]:
            story.append(
                _p(
                    f"{stamp['short_code']} · {labels['lot']} {stamp['lot']} #{stamp['seq']} · "
                    f"kid {stamp['kid']} · {labels['checks']}: {stamp['scan_count']}"
                    + (
                        f" · {labels['flag']}: {stamp['flag_reason']}"
                        if stamp["flag_reason"]
                        else ""
                    ),
                    styles["body"],
                )
            )
            rows = [[labels["when"], labels["verdict"], labels["province"], labels["device"]]]
            rows += [
                [
                    scan["at"],
                    f"{scan['status']} {' '.join(scan['reasons'])}",
                    scan["province"] or "",
                    scan["device"] or "",
                ]
                for scan in stamp["scans"][-60:]
            ]
            story += [
                _table(rows, styles["small"], [40 * mm, 70 * mm, 35 * mm, 25 * mm]),
                Spacer(1, 3 * mm),
            ]
    if document["batches"]:
        story += [_p(labels["batches"], styles["h2"])]
        rows = [
            [labels["lot"], labels["product"], labels["business"], labels["stamps"], labels["flag"]]
        ]
        rows += [
            [
                b["lot"],
                b["product"],
                f"{b['business']} ({b['business_tax_code'] or '—'})",
                b["stamps_total"],
                b["flag_reason"] or "",
            ]
            for b in document["batches"]
        ]
        story.append(_table(rows, styles["small"], [25 * mm, 45 * mm, 50 * mm, 20 * mm, 30 * mm]))
    if document["reports"]:
        story += [Spacer(1, 4 * mm), _p(labels["reports"], styles["h2"])]
        for report in document["reports"]:
            story.append(
                _p(
                    " · ".join(
                        str(part)
                        for part in (
                            report["at"],
                            report["status_at_report"],
                            report["shop_name"],
                            report["shop_address"],
                            report["province"],
                            report["note"],
                        )
                        if part
                    ),
                    styles["body"],
                )
            )
            story += _photo(uploads, report.get("photo"))
    if document["notes"]:
        story += [Spacer(1, 4 * mm), _p(labels["notes"], styles["h2"])]
        for note in document["notes"]:
            story.append(_p(f"{note['at']} · {note['by']}: {note['text'] or ''}", styles["body"]))
            story += _photo(uploads, note.get("photo"))
    signature = document["signature"]
    story += [
        Spacer(1, 6 * mm),
        _p(labels["integrity"], styles["h2"]),
        _p(labels["integrity_text"], styles["body"]),
        _p(f"SHA-256 ({ATTACHMENT}): {hashlib.sha256(signed).hexdigest()}", styles["small"]),
        _p(f"{signature['alg']} · kid {signature['kid']} · {signature['value']}", styles["small"]),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"TraceQR case {case['id']}",
        author="TraceQR",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
    ).build(story)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(out.getvalue())))
    writer.add_attachment(ATTACHMENT, signed)
    final = io.BytesIO()
    writer.write(final)
    return final.getvalue()


def _photo(uploads: Path, name: str | None) -> list[Any]:
    if not name:
        return []
    # Report and case photos are private uploads (see uploads.private_folder).
    path = stored_private_upload(uploads, name)
    if path is None:
        return []
    image = Image(str(path))
    scale = min(1.0, (80 * mm) / image.imageWidth, (60 * mm) / image.imageHeight)
    image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
    return [image, Spacer(1, 2 * mm)]


def attached_case_file(pdf: bytes) -> bytes | None:
    """The signed JSON inside a case-file PDF, for checking it."""
    reader = PdfReader(io.BytesIO(pdf))
    for name, contents in reader.attachments.items():
        if name == ATTACHMENT and contents:
            return bytes(contents[0])
    return None
