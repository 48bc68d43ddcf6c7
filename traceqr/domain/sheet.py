"""Printable stamp sheets: a grid of QR codes with their short codes, as a vector PDF.

Each QR is drawn as filled rectangles, one per horizontal run of dark modules, in a
coordinate system scaled to the module (so the numbers are small integers) with the y axis
flipped to run top-down like the matrix rows. White is the paper: only dark modules are
painted. Nothing is drawn in a QR's 4-module quiet zone, which is part of ``stamp_mm``.

A cell is the stamp square with a text line under it; cells are separated by ``gap_mm``.
The grid is centred across the page and starts at the top margin; a footer line (page
number) sits at the bottom margin. Stamps are consumed lazily and each page is written as
soon as it is full, so a sheet of 100,000 stamps takes no more memory than one of 100.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from itertools import chain
from typing import BinaryIO

import numpy as np

from traceqr.domain.pdf_stream import PdfStreamWriter, pdf_string
from traceqr.domain.qr import ECC_LEVELS, QUIET_ZONE_MODULES, qr_matrix

PT_PER_MM = 72 / 25.4
TEXT_LINE_MM = 3.0  # the short code line under each stamp
FOOTER_MM = 4.0  # reserved above the bottom margin for the footer line
CODE_FONT, FOOTER_FONT = "F1", "F2"
FONTS = {CODE_FONT: "Courier-Bold", FOOTER_FONT: "Helvetica"}
COURIER_ADVANCE = 0.6  # every Courier glyph is 600/1000 em wide
MAX_CODE_PT, MIN_CODE_PT = 7.0, 5.0
FOOTER_PT = 7.0
SEQ_ROOM = " #999999"  # the room reserved after the short code for a sequence number
CUT_MARK_OFFSET_MM = 0.5  # crop marks start this far from the cell corner ...
CUT_MARK_MM = 1.5  # ... and are at most this long; both shrink with a narrow gap
CUT_MARK_WIDTH_PT = 0.2


class SheetLayoutError(ValueError):
    """A layout that cannot be printed; the message says what to change."""


@dataclass(frozen=True)
class SheetLayout:
    """Page and stamp geometry, in millimetres. Validated on construction."""

    page_width_mm: float = 210.0  # A4
    page_height_mm: float = 297.0
    margin_mm: float = 8.0
    stamp_mm: float = 25.0  # QR side INCLUDING its 4-module quiet zone
    gap_mm: float = 2.0  # between cells
    ecc: str = "Q"  # L/M/Q/H
    min_module_mm: float = 0.4
    cut_marks: bool = False  # thin crop marks at cell corners, in the gaps

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            is_number = isinstance(value, float | int) and not isinstance(value, bool)
            if is_number and not math.isfinite(value):
                raise SheetLayoutError(f"{field.name} must be a finite number")
        for name in ("page_width_mm", "page_height_mm", "stamp_mm", "min_module_mm"):
            if getattr(self, name) <= 0:
                raise SheetLayoutError(f"{name} must be greater than 0")
        for name in ("margin_mm", "gap_mm"):
            if getattr(self, name) < 0:
                raise SheetLayoutError(f"{name} must not be negative")
        if not isinstance(self.ecc, str) or self.ecc.upper() not in ECC_LEVELS:
            raise SheetLayoutError(f"ecc must be one of L, M, Q, H; got {self.ecc!r}")
        object.__setattr__(self, "ecc", self.ecc.upper())
        if self.cut_marks and self.gap_mm <= 0:
            raise SheetLayoutError("cut marks are drawn in the gaps: set gap_mm above 0")
        if self.columns < 1 or self.rows < 1:
            need_w = 2 * self.margin_mm + self.stamp_mm
            need_h = 2 * self.margin_mm + FOOTER_MM + self.cell_height_mm
            raise SheetLayoutError(
                f"not even one {self.stamp_mm:g} mm stamp fits on a {self.page_width_mm:g}"
                f" × {self.page_height_mm:g} mm page with {self.margin_mm:g} mm margins:"
                f" the page must be at least {need_w:g} × {need_h:g} mm;"
                " use smaller margins or a smaller stamp"
            )

    @property
    def cell_height_mm(self) -> float:
        return self.stamp_mm + TEXT_LINE_MM

    @property
    def columns(self) -> int:
        room = self.page_width_mm - 2 * self.margin_mm + self.gap_mm
        return max(0, math.floor(room / (self.stamp_mm + self.gap_mm) + 1e-9))

    @property
    def rows(self) -> int:
        room = self.page_height_mm - 2 * self.margin_mm - FOOTER_MM + self.gap_mm
        return max(0, math.floor(room / (self.cell_height_mm + self.gap_mm) + 1e-9))

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    @property
    def grid_left_mm(self) -> float:
        width = self.columns * (self.stamp_mm + self.gap_mm) - self.gap_mm
        return (self.page_width_mm - width) / 2

    def stamp_box_mm(self, slot: int) -> tuple[float, float]:
        """(left, top) of the stamp square in slot ``slot`` (0-based, row by row), in mm
        from the page's top-left corner. The square is ``stamp_mm`` wide, quiet zone
        included; the text line is the ``TEXT_LINE_MM`` below it."""
        row, column = divmod(slot, self.columns)
        left = self.grid_left_mm + column * (self.stamp_mm + self.gap_mm)
        return left, self.margin_mm + row * (self.cell_height_mm + self.gap_mm)

    def module_mm(self, symbol_size: int) -> float:
        """The module size for a QR of ``symbol_size`` modules (quiet zone excluded)."""
        return self.stamp_mm / (symbol_size + 2 * QUIET_ZONE_MODULES)

    def min_stamp_mm(self, symbol_size: int) -> float:
        """The smallest ``stamp_mm`` giving modules of at least ``min_module_mm``."""
        return self.min_module_mm * (symbol_size + 2 * QUIET_ZONE_MODULES)


@dataclass(frozen=True)
class SheetStamp:
    url: str  # exactly the QR text
    short_code: str  # printed under the QR (ASCII)
    seq: int | None = None  # printed after the short code on stamps of about 30 mm or more


@dataclass(frozen=True)
class SheetSummary:
    pages: int
    stamps: int
    module_mm: float
    qr_version: int
    per_page: int


def check_stamp_fits(url: str, layout: SheetLayout) -> float:
    """The module size (mm) a stamp with this URL gets, or :class:`SheetLayoutError`.

    Callers that stream the PDF to a client can call this before sending anything.
    """
    return _check_module(layout, qr_matrix(url, layout.ecc).size)


def _check_module(layout: SheetLayout, size: int) -> float:
    module = layout.module_mm(size)
    if module < layout.min_module_mm - 1e-9:
        version = (size - 17) // 4
        raise SheetLayoutError(
            f"a {layout.stamp_mm:g} mm stamp gives {module:.3f} mm modules, below the"
            f" {layout.min_module_mm:g} mm minimum: these codes (QR version {version},"
            f" ECC {layout.ecc}) need stamp_mm of at least"
            f" {math.ceil(layout.min_stamp_mm(size) * 10) / 10:g} mm"
        )
    return module


def _ascii(text: str) -> str:
    """``text`` with every character outside printable ASCII replaced by ``?``."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _number_table(digits: int) -> np.ndarray:
    """Row ``v`` holds ``v`` right-aligned in ``digits`` characters plus a space (ASCII)."""
    text = "".join(f"{v:>{digits}} " for v in range(10**digits))
    return np.frombuffer(text.encode(), dtype=np.uint8).reshape(10**digits, digits + 1)


class _Painter:
    """Turns stamps into content-stream bytes for one sheet (all QRs the same size)."""

    def __init__(self, layout: SheetLayout, symbol_size: int, code: str) -> None:
        """``code`` is a typical short code: it sets one font size for the sheet."""
        self.layout = layout
        self.size = symbol_size
        self.page_height_pt = layout.page_height_mm * PT_PER_MM
        self.stamp_pt = layout.stamp_mm * PT_PER_MM
        self.module_pt = layout.module_mm(symbol_size) * PT_PER_MM
        self.quiet_pt = QUIET_ZONE_MODULES * self.module_pt
        # The matrix is copied into ``cells``: one light cell, then each row followed by a
        # light cell, so that the changes between neighbours pair up as run start and end.
        self.row_stride = symbol_size + 1
        self.cells = np.zeros(symbol_size * self.row_stride + 1, dtype=np.bool_)
        self.grid = self.cells[1:].reshape(symbol_size, self.row_stride)[:, :symbol_size]
        digits = len(str(symbol_size))
        self.numbers = _number_table(digits)
        # One text line "cc rr ww 1 re" per run, written in place: numbers then the tail.
        most_runs = symbol_size * self.row_stride // 2
        self.lines = np.empty((most_runs, 3 * (digits + 1) + 5), dtype=np.uint8)
        self.lines[:, 3 * (digits + 1) :] = np.frombuffer(b"1 re\n", dtype=np.uint8)
        self.line_numbers = self.lines[:, : 3 * (digits + 1)].reshape(most_runs, 3, digits + 1)
        self.fields = np.empty((most_runs, 3), dtype=np.intp)  # column, row, width
        # Sequence numbers are printed only where room for six digits is left at the
        # minimum font size, so a sheet has them on every stamp or on none.
        self.print_seq = self.code_font_pt(code + SEQ_ROOM) >= MIN_CODE_PT
        self.font_pt = self.code_font_pt(code + SEQ_ROOM if self.print_seq else code)

    def code_font_pt(self, text: str) -> float:
        return min(MAX_CODE_PT, self.stamp_pt / (COURIER_ADVANCE * max(len(text), 1)))

    def rectangles(self, modules: np.ndarray) -> bytes:
        """``c r w 1 re`` for every horizontal run of dark modules, then ``f``."""
        self.grid[...] = modules
        cells = self.cells
        edges = np.flatnonzero(cells[1:] != cells[:-1])
        starts = edges[0::2]
        count = len(starts)
        fields = self.fields[:count]
        np.divmod(starts, self.row_stride, out=(fields[:, 1], fields[:, 0]))
        np.subtract(edges[1::2], starts, out=fields[:, 2])
        self.line_numbers[:count] = self.numbers[fields]
        return self.lines[:count].tobytes() + b"f\n"

    def stamp(self, slot: int, modules: np.ndarray, stamp: SheetStamp) -> bytes:
        left_mm, top_mm = self.layout.stamp_box_mm(slot)
        left = left_mm * PT_PER_MM
        top = self.page_height_pt - top_mm * PT_PER_MM  # PDF y of the square's top edge
        qr = b"q %.5f 0 0 %.5f %.3f %.3f cm\n%bQ\n" % (
            self.module_pt,
            -self.module_pt,
            left + self.quiet_pt,
            top - self.quiet_pt,
            self.rectangles(modules),
        )
        label = _ascii(stamp.short_code)
        if stamp.seq is not None and self.print_seq:
            label = f"{label} #{stamp.seq}"
        font = min(self.font_pt, self.code_font_pt(label))
        line_pt = TEXT_LINE_MM * PT_PER_MM
        baseline = top - self.stamp_pt - (line_pt - font) / 2 - 0.75 * font
        x = left + (self.stamp_pt - COURIER_ADVANCE * font * len(label)) / 2
        text = b"BT /%s %.2f Tf %.3f %.3f Td %b Tj ET\n" % (
            CODE_FONT.encode(),
            font,
            x,
            baseline,
            pdf_string(label),
        )
        marks = self.cut_marks(left, top) if self.layout.cut_marks else b""
        return qr + text + marks

    def cut_marks(self, left: float, top: float) -> bytes:
        """Short lines continuing the cell's edges outward, a little off its four corners
        (so that no ink touches the cell), ending before the middle of the gap."""
        start = min(CUT_MARK_OFFSET_MM, 0.2 * self.layout.gap_mm) * PT_PER_MM
        end = min(CUT_MARK_OFFSET_MM + CUT_MARK_MM, 0.45 * self.layout.gap_mm) * PT_PER_MM
        right = left + self.stamp_pt
        bottom = top - self.layout.cell_height_mm * PT_PER_MM
        segments = []
        for x, y, dx, dy in ((left, top, -1, 1), (right, top, 1, 1),
                             (left, bottom, -1, -1), (right, bottom, 1, -1)):  # fmt: skip
            segments.append(f"{x + dx * start:.3f} {y:.3f} m {x + dx * end:.3f} {y:.3f} l")
            segments.append(f"{x:.3f} {y + dy * start:.3f} m {x:.3f} {y + dy * end:.3f} l")
        return f"q {CUT_MARK_WIDTH_PT} w 0 G {' '.join(segments)} S Q\n".encode()

    def footer(self, text: str) -> bytes:
        layout = self.layout
        x = layout.margin_mm * PT_PER_MM
        width = (layout.page_width_mm - 2 * layout.margin_mm) * PT_PER_MM
        baseline = (layout.margin_mm + 1.0) * PT_PER_MM
        fitting = int(width / (0.6 * FOOTER_PT))  # Helvetica averages well under 0.6 em
        clip = b"%.3f %.3f %.3f %.3f re W n" % (x, baseline - 3, width, FOOTER_PT + 3)
        return b"q %b BT /%s %.1f Tf %.3f %.3f Td %b Tj ET Q\n" % (
            clip,
            FOOTER_FONT.encode(),
            FOOTER_PT,
            x,
            baseline,
            pdf_string(_ascii(text)[:fitting]),
        )


def render_sheet(
    stamps: Iterable[SheetStamp],
    out: BinaryIO,
    layout: SheetLayout = SheetLayout(),
    *,
    footer: str = "",
    total: int | None = None,
) -> SheetSummary:
    """Write a PDF of ``stamps`` to ``out``, page by page as the iterable yields them.

    ``footer`` is printed on every page before ``page N`` (``page N / M`` when ``total``,
    the number of stamps, is given). Raises :class:`SheetLayoutError` before writing
    anything when the first stamp does not fit the layout, and mid-way (leaving an
    unfinished PDF) if a later stamp's QR is a different size or ``total`` is wrong.
    """
    iterator = iter(stamps)
    first = next(iterator, None)
    if first is None:
        raise SheetLayoutError("no stamps to print")
    if total is not None and total < 1:
        raise SheetLayoutError("total must be the number of stamps, at least 1")
    first_symbol = qr_matrix(first.url, layout.ecc)
    size = first_symbol.size
    module_mm = _check_module(layout, size)
    code = _ascii(first.short_code)
    painter = _Painter(layout, size, code)
    if painter.font_pt < MIN_CODE_PT:
        needed = MIN_CODE_PT * COURIER_ADVANCE * len(code) / PT_PER_MM
        raise SheetLayoutError(
            f"the short code {code!r} does not fit under a {layout.stamp_mm:g} mm stamp"
            f" at {MIN_CODE_PT:g} pt: use stamp_mm of at least {math.ceil(needed * 10) / 10:g}"
        )

    per_page = layout.per_page
    total_pages = -(-total // per_page) if total is not None else None
    width_pt = layout.page_width_mm * PT_PER_MM
    height_pt = layout.page_height_mm * PT_PER_MM
    writer = PdfStreamWriter(out, FONTS, info={"Title": _ascii(footer) or "TraceQR stamps"})
    chunks: list[bytes] = [b"0 g\n"]
    count = 0

    def finish_page() -> None:
        page_number = writer.page_count + 1
        label = f"page {page_number}" + (f" / {total_pages}" if total_pages else "")
        chunks.append(painter.footer(f"{footer}  {label}" if footer else label))
        writer.add_page(b"".join(chunks), width_pt, height_pt)
        del chunks[1:]

    for stamp in chain((first,), iterator):
        symbol = first_symbol if count == 0 else qr_matrix(stamp.url, layout.ecc)
        if symbol.size != size:
            raise SheetLayoutError(
                f"stamp {count + 1} needs a {symbol.size}-module QR, the sheet's first needs"
                f" {size}: print stamps with the same URL length on one sheet"
            )
        if total is not None and count == total:
            raise SheetLayoutError(f"more stamps than the total of {total}")
        chunks.append(painter.stamp(count % per_page, symbol.modules, stamp))
        count += 1
        if count % per_page == 0:
            finish_page()
    if count % per_page:
        finish_page()
    if total is not None and count != total:
        raise SheetLayoutError(f"{count} stamps printed, but the total was given as {total}")
    writer.close()
    return SheetSummary(
        pages=writer.page_count,
        stamps=count,
        module_mm=module_mm,
        qr_version=first_symbol.version,
        per_page=per_page,
    )
