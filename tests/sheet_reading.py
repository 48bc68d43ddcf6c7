"""Reading printed sheets back: render PDF pages at 300 dpi and decode QR codes cell by cell
(zxing-cpp misses some codes when asked to read a whole page of them at once)."""

from __future__ import annotations

import numpy as np
import pypdfium2 as pdfium
import zxingcpp

from traceqr.domain.sheet import SheetLayout

DPI = 300
PX_PER_MM = DPI / 25.4


def px(mm: float) -> int:
    return round(mm * PX_PER_MM)


def render_pages(pdf: bytes) -> list[np.ndarray]:
    """Every page as a grey-scale array at 300 dpi."""
    document = pdfium.PdfDocument(pdf)
    try:
        return [np.asarray(page.render(scale=DPI / 72).to_pil().convert("L")) for page in document]
    finally:
        document.close()


def read_sheet(pdf: bytes, layout: SheetLayout) -> list[list[str]]:
    """For each stamp slot in order, the texts of the QR codes found in its cell (the stamp
    square, its text line and its side area, with half of the gap around them)."""
    found: list[list[str]] = []
    for page in render_pages(pdf):
        for slot in range(layout.per_page):
            left, top = layout.stamp_box_mm(slot)
            half_gap = layout.gap_mm / 2
            cell = page[
                px(top - half_gap) : px(top + layout.cell_height_mm + half_gap),
                px(left - half_gap) : px(left + layout.cell_width_mm + half_gap),
            ]
            texts = [
                result.text
                for result in zxingcpp.read_barcodes(cell, formats=zxingcpp.BarcodeFormat.QRCode)
            ]
            if not texts and cell.min() > 128:
                continue  # an empty cell at the end of the last page
            found.append(texts)
    return found
