"""Printable stamp sheets: a grid of QR codes with their short codes, as a vector PDF.

Each QR is drawn as filled rectangles, one per horizontal run of dark modules, in a
coordinate system scaled to the module (so the numbers are small integers) with the y axis
flipped to run top-down like the matrix rows. White is the paper: only dark modules are
painted. Nothing is drawn in a QR's 4-module quiet zone, which is part of ``stamp_mm``.

A cell is the stamp square with a text line under it and, optionally, a side area of
``side_mm`` to the right of the square holding a line of text (any Vietnamese, drawn as
vector outlines, see :mod:`traceqr.domain.glyphs`) or a logo (one image stored once in the
PDF). Cells are separated by ``gap_mm``. The grid is centred across the page and starts at
the top margin; a footer line (page number) sits at the bottom margin. Pages are A4, A5 or
Letter sheets (:meth:`SheetLayout.paper`) or one row of labels on a roll
(:meth:`SheetLayout.roll`). Stamps are consumed lazily and each page is written as soon as
it is full, so a sheet of 100,000 stamps takes no more memory than one of 100.
:func:`render_preview_png` draws the first page as a PNG for the sheet designer.
"""

from __future__ import annotations

import io
import math
import multiprocessing
import os
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, fields, replace
from itertools import chain, islice
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps

from traceqr.domain.glyphs import TextBlock, default_font, fit_text
from traceqr.domain.pdf_stream import PdfForm, PdfImage, PdfStreamWriter, flate, pdf_string
from traceqr.domain.qr import ECC_LEVELS, QUIET_ZONE_MODULES, qr_matrix

PT_PER_MM = 72 / 25.4
TEXT_LINE_MM = 3.0  # the short code line under each stamp
PIN_LINE_MM = 5.0  # the scratch-off PIN spot under the short code, when stamps carry PINs
PIN_FONT_PT = 8.0
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
SIDES = ("none", "text", "logo")  # what the area right of each QR holds
MIN_SIDE_MM = 5.0
SIDE_PAD_MM = 0.5  # text and logo keep this far inside the side area
SIDE_TEXT_MAX_PT, SIDE_TEXT_MIN_PT, SIDE_TEXT_LINES = 9.0, 4.5, 3
SIDE_TEXT_MAX_CHARS = 200
LOGO_NAME, SIDE_TEXT_NAME = "Logo", "SideText"  # XObject resource names
LOGO_DPI = 300  # a logo is downscaled to at most this for its printed size
MAX_LOGO_PIXELS = 25_000_000
PAPER_SIZES_MM = {"A4": (210.0, 297.0), "A5": (148.0, 210.0), "letter": (215.9, 279.4)}
ROLL_MARGIN_MM = 2.0


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
    side: str = "none"  # none / text / logo: what is printed to the right of each QR
    side_mm: float = 25.0  # the width of that side area (unused when side is "none")
    across: int | None = None  # exactly this many cells per row; None: as many as fit
    page_footer: bool = True  # room for the footer line (page numbers) on every page
    pin_spot: bool = False  # a boxed PIN under each code, for the printer's scratch-off layer

    @classmethod
    def paper(cls, name: str = "A4", *, landscape: bool = False, **options: Any) -> SheetLayout:
        """A layout on A4, A5 or letter paper (``options`` are the other fields)."""
        sizes = {key.lower(): size for key, size in PAPER_SIZES_MM.items()}
        size = sizes.get(name.lower()) if isinstance(name, str) else None
        if size is None:
            raise SheetLayoutError(
                f"paper must be one of {', '.join(PAPER_SIZES_MM)}; got {name!r}"
            )
        width, height = (size[1], size[0]) if landscape else size
        return cls(page_width_mm=width, page_height_mm=height, **options)

    @classmethod
    def roll(
        cls,
        width_mm: float,
        labels_across: int = 1,
        *,
        margin_mm: float = ROLL_MARGIN_MM,
        **options: Any,
    ) -> SheetLayout:
        """A label roll ``width_mm`` wide with ``labels_across`` cells side by side: every
        page is one row of cells (page height = one cell + the margins) and has no footer,
        the way label printers feed a roll. ``options`` are the other fields."""
        if not isinstance(labels_across, int) or isinstance(labels_across, bool):
            raise SheetLayoutError("labels_across must be a whole number of labels")
        if labels_across < 1:
            raise SheetLayoutError("labels_across must be at least 1")
        stamp_mm = options.get("stamp_mm", cls.stamp_mm)
        if not isinstance(stamp_mm, float | int) or isinstance(stamp_mm, bool):
            raise SheetLayoutError("stamp_mm must be a number")
        if not isinstance(margin_mm, float | int) or isinstance(margin_mm, bool):
            raise SheetLayoutError("margin_mm must be a number")
        return cls(
            page_width_mm=width_mm,
            page_height_mm=2 * margin_mm
            + stamp_mm
            + TEXT_LINE_MM
            + (PIN_LINE_MM if options.get("pin_spot") else 0.0),
            margin_mm=margin_mm,
            across=labels_across,
            page_footer=False,
            **options,
        )

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            is_number = isinstance(value, float | int) and not isinstance(value, bool)
            if is_number and not math.isfinite(value):
                raise SheetLayoutError(f"{field.name} must be a finite number")
        for name in ("stamp_mm", "page_width_mm", "page_height_mm", "min_module_mm"):
            if getattr(self, name) <= 0:
                raise SheetLayoutError(f"{name} must be greater than 0")
        for name in ("margin_mm", "gap_mm"):
            if getattr(self, name) < 0:
                raise SheetLayoutError(f"{name} must not be negative")
        if not isinstance(self.ecc, str) or self.ecc.upper() not in ECC_LEVELS:
            raise SheetLayoutError(f"ecc must be one of L, M, Q, H; got {self.ecc!r}")
        object.__setattr__(self, "ecc", self.ecc.upper())
        if not isinstance(self.side, str) or self.side.lower() not in SIDES:
            raise SheetLayoutError(f"side must be one of none, text, logo; got {self.side!r}")
        object.__setattr__(self, "side", self.side.lower())
        if self.side != "none" and self.side_mm < MIN_SIDE_MM:
            raise SheetLayoutError(
                f"side_mm must be at least {MIN_SIDE_MM:g} mm to hold {self.side}"
                f" beside the QR; got {self.side_mm:g}"
            )
        if self.cut_marks and self.gap_mm <= 0:
            raise SheetLayoutError("cut marks are drawn in the gaps: set gap_mm above 0")
        if self.across is not None:
            if not isinstance(self.across, int) or isinstance(self.across, bool):
                raise SheetLayoutError("across must be a whole number of cells")
            if self.across < 1:
                raise SheetLayoutError("across must be at least 1")
            if self._fitting_columns < self.across:
                need = 2 * self.margin_mm + self.across * (self.cell_width_mm + self.gap_mm)
                raise SheetLayoutError(
                    f"{self.across} cells of {self.cell_width_mm:g} mm (stamp and side area)"
                    f" do not fit across a {self.page_width_mm:g} mm page with"
                    f" {self.margin_mm:g} mm margins and {self.gap_mm:g} mm gaps: the page"
                    f" must be at least {need - self.gap_mm:g} mm wide; use fewer across,"
                    " a smaller stamp or side area, or smaller margins or gaps"
                )
        if self.columns < 1 or self.rows < 1:
            need_w = 2 * self.margin_mm + self.cell_width_mm
            need_h = 2 * self.margin_mm + self.footer_mm + self.cell_height_mm
            what = "stamp" if self.side == "none" else f"stamp with its {self.side_mm:g} mm side"
            raise SheetLayoutError(
                f"not even one {self.stamp_mm:g} mm {what} fits on a {self.page_width_mm:g}"
                f" × {self.page_height_mm:g} mm page with {self.margin_mm:g} mm margins:"
                f" the page must be at least {need_w:g} × {need_h:g} mm;"
                " use smaller margins or a smaller stamp"
            )

    @property
    def side_width_mm(self) -> float:
        """The width of the side area right of the stamp square (0 without one)."""
        return 0.0 if self.side == "none" else self.side_mm

    @property
    def cell_width_mm(self) -> float:
        return self.stamp_mm + self.side_width_mm

    @property
    def cell_height_mm(self) -> float:
        return self.stamp_mm + TEXT_LINE_MM + (PIN_LINE_MM if self.pin_spot else 0.0)

    @property
    def footer_mm(self) -> float:
        return FOOTER_MM if self.page_footer else 0.0

    @property
    def _fitting_columns(self) -> int:
        room = self.page_width_mm - 2 * self.margin_mm + self.gap_mm
        return max(0, math.floor(room / (self.cell_width_mm + self.gap_mm) + 1e-9))

    @property
    def columns(self) -> int:
        fitting = self._fitting_columns
        return fitting if self.across is None else min(fitting, self.across)

    @property
    def rows(self) -> int:
        room = self.page_height_mm - 2 * self.margin_mm - self.footer_mm + self.gap_mm
        return max(0, math.floor(room / (self.cell_height_mm + self.gap_mm) + 1e-9))

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    @property
    def grid_left_mm(self) -> float:
        width = self.columns * (self.cell_width_mm + self.gap_mm) - self.gap_mm
        return (self.page_width_mm - width) / 2

    def stamp_box_mm(self, slot: int) -> tuple[float, float]:
        """(left, top) of the stamp square in slot ``slot`` (0-based, row by row), in mm
        from the page's top-left corner. The square is ``stamp_mm`` wide, quiet zone
        included; the text line is the ``TEXT_LINE_MM`` below it, the side area (if any)
        the ``side_mm`` right of it."""
        row, column = divmod(slot, self.columns)
        left = self.grid_left_mm + column * (self.cell_width_mm + self.gap_mm)
        return left, self.margin_mm + row * (self.cell_height_mm + self.gap_mm)

    def side_box_mm(self, slot: int) -> tuple[float, float, float, float]:
        """(left, top, width, height) of the side area of slot ``slot``, in mm from the
        page's top-left corner: right of the stamp square, as tall as it."""
        left, top = self.stamp_box_mm(slot)
        return left + self.stamp_mm, top, self.side_width_mm, self.stamp_mm

    def module_mm(self, symbol_size: int) -> float:
        """The module size for a QR of ``symbol_size`` modules (quiet zone excluded)."""
        return self.stamp_mm / (symbol_size + 2 * QUIET_ZONE_MODULES)

    def min_stamp_mm(self, symbol_size: int) -> float:
        """The smallest ``stamp_mm`` giving modules of at least ``min_module_mm``."""
        return self.min_module_mm * (symbol_size + 2 * QUIET_ZONE_MODULES)


# Printed before a test stamp's short code (the sheet's fonts are ASCII: "TEM THỬ").
TEST_MARK = "TEM THU"
TEST_FOOTER = "TEM THU - KHONG DUNG CHO SAN PHAM (TEST STAMPS, NOT FOR PRODUCTS)"


@dataclass(frozen=True)
class SheetStamp:
    url: str  # exactly the QR text
    short_code: str  # printed under the QR (ASCII)
    seq: int | None = None  # printed after the short code on stamps of about 30 mm or more
    pin: str | None = None  # the scratch-off PIN, printed in its spot when the layout has one
    test: bool = False  # a test stamp: TEST_MARK is printed before its short code


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


def fit_stamp_size(layout: SheetLayout, url: str) -> SheetLayout:
    """``layout`` with its stamps made just big enough (in steps of 0.5 mm) for codes like
    ``url`` to keep the minimum module size: a default for denser codes (GS1 Digital Link
    stamps, long lots). A layout that already fits is returned unchanged."""
    needed = layout.min_stamp_mm(qr_matrix(url, layout.ecc).size)
    if layout.stamp_mm >= needed - 1e-9:
        return layout
    return replace(layout, stamp_mm=math.ceil(needed * 2) / 2)


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


def side_text_block(text: str, layout: SheetLayout) -> TextBlock:
    """``text`` wrapped and sized to fill the side area of ``layout``, as vector outlines,
    or :class:`SheetLayoutError` saying what to change. Callers that stream the PDF to a
    client can call this before sending anything."""
    if layout.side != "text":
        raise SheetLayoutError("side text is printed only with side='text'")
    if not text or not text.strip():
        raise SheetLayoutError("side='text' needs a text to print beside each QR")
    if len(text) > SIDE_TEXT_MAX_CHARS:
        raise SheetLayoutError(
            f"the side text has {len(text)} characters; at most {SIDE_TEXT_MAX_CHARS} fit"
        )
    font = default_font()
    height = (layout.stamp_mm - 2 * SIDE_PAD_MM) * PT_PER_MM

    def fit(side_mm: float, max_pt: float = SIDE_TEXT_MAX_PT) -> TextBlock | None:
        width = (side_mm - 2 * SIDE_PAD_MM) * PT_PER_MM
        return fit_text(
            font, text, width, height,
            max_lines=SIDE_TEXT_LINES, max_pt=max_pt, min_pt=SIDE_TEXT_MIN_PT,
        )  # fmt: skip

    block = fit(layout.side_mm)
    if block is not None:
        return block
    problem = (
        f"the side text does not fit in {SIDE_TEXT_LINES} lines of {SIDE_TEXT_MIN_PT:g} pt"
        f" beside a {layout.stamp_mm:g} mm stamp in a {layout.side_mm:g} mm side area"
    )
    widest = layout.page_width_mm - 2 * layout.margin_mm - layout.stamp_mm
    for side_mm in range(math.floor(layout.side_mm) + 1, math.floor(widest) + 1):
        if fit(side_mm, SIDE_TEXT_MIN_PT) is not None:
            raise SheetLayoutError(
                f"{problem}: use a shorter text or side_mm of at least {side_mm}"
            )
    raise SheetLayoutError(f"{problem}: use a shorter text")


@dataclass(frozen=True)
class SheetLogo:
    """A logo ready for a sheet: the image as the PDF stores it, and its printed size."""

    image: PdfImage
    width_mm: float
    height_mm: float


def prepare_logo(data: bytes, layout: SheetLayout) -> SheetLogo:
    """Decode a PNG or JPEG logo, flatten it onto white, fit it into the side area of
    ``layout`` (aspect ratio kept), downscale it to at most ``LOGO_DPI`` for that size and
    re-encode it without metadata: JPEG stays JPEG, anything else becomes Flate RGB.
    Raises :class:`SheetLayoutError` for anything that is not a readable PNG or JPEG."""
    if layout.side != "logo":
        raise SheetLayoutError("a logo is printed only with side='logo'")
    not_an_image = "the logo is not a PNG or JPEG image that can be read; upload a PNG or JPEG"
    if not isinstance(data, bytes | bytearray) or not data:
        raise SheetLayoutError(not_an_image)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            kind = opened.format
            if kind not in ("PNG", "JPEG"):
                raise SheetLayoutError(f"{not_an_image} (got {kind or 'an unknown format'})")
            if opened.width * opened.height > MAX_LOGO_PIXELS:
                raise SheetLayoutError(
                    f"the logo is {opened.width} × {opened.height} pixels: use an image of at"
                    f" most {MAX_LOGO_PIXELS // 1_000_000} megapixels"
                )
            image = ImageOps.exif_transpose(opened) if kind == "JPEG" else opened
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")
                rgb = Image.new("RGB", rgba.size, "white")
                rgb.paste(rgba, mask=rgba.getchannel("A"))
            else:
                rgb = image.convert("RGB")
    except SheetLayoutError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise SheetLayoutError(not_an_image) from exc
    box_w = layout.side_width_mm - 2 * SIDE_PAD_MM
    box_h = layout.stamp_mm - 2 * SIDE_PAD_MM
    mm_per_px = min(box_w / rgb.width, box_h / rgb.height)
    width_mm, height_mm = rgb.width * mm_per_px, rgb.height * mm_per_px
    most_w = max(1, math.ceil(width_mm / 25.4 * LOGO_DPI))
    most_h = max(1, math.ceil(height_mm / 25.4 * LOGO_DPI))
    if rgb.width > most_w or rgb.height > most_h:
        rgb = rgb.resize((most_w, most_h), Image.Resampling.LANCZOS)
    rgb.info = {}  # no comment, EXIF, XMP or profile goes on (Pillow re-saves some of them)
    if kind == "JPEG":
        encoded = io.BytesIO()
        rgb.save(encoded, format="JPEG", quality=90)
        image_data, pdf_filter = encoded.getvalue(), "DCTDecode"
    else:
        image_data, pdf_filter = zlib.compress(rgb.tobytes(), 6), "FlateDecode"
    return SheetLogo(
        image=PdfImage(rgb.width, rgb.height, image_data, pdf_filter),
        width_mm=width_mm,
        height_mm=height_mm,
    )


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

    def __init__(
        self,
        layout: SheetLayout,
        symbol_size: int,
        code: str,
        text: TextBlock | None = None,
        logo: SheetLogo | None = None,
    ) -> None:
        """``code`` is a typical short code: it sets one font size for the sheet. ``text``
        or ``logo`` fills every cell's side area."""
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
        # Per cell, the side area gets "q", side_cm % (x, y), side, "Q", where (x, y) is
        # the cell's (left, top) plus side_at; xobjects go in the PDF once.
        self.xobjects: dict[str, PdfImage | PdfForm] = {}
        self.side_cm, self.side, self.side_at = self.side_content(text, logo)

    def side_content(
        self, text: TextBlock | None, logo: SheetLogo | None
    ) -> tuple[bytes, bytes, tuple[float, float]]:
        pad = SIDE_PAD_MM * PT_PER_MM
        side_w = self.layout.side_width_mm * PT_PER_MM
        box_w, box_h = side_w - 2 * pad, self.stamp_pt - 2 * pad
        if text is not None:
            # A form whose origin is the side area's top left and whose bounding box, the
            # side area, clips it (no ink can stray into the quiet zone); the text block is
            # centred on the square's height. The outlines are stored once, not per cell.
            top_gap = pad + (box_h - text.height_pt) / 2
            content = b"1 0 0 1 %.3f %.3f cm\n%bf\n" % (pad, -top_gap, text.path)
            self.xobjects[SIDE_TEXT_NAME] = PdfForm((0, -self.stamp_pt, side_w, 0), content)
            cm = b"1 0 0 1 %.3f %.3f cm\n"
            return cm, b"/%b Do\n" % SIDE_TEXT_NAME.encode(), (self.stamp_pt, 0.0)
        if logo is not None:
            # Origin: the image's bottom left; the image is centred in the side area.
            self.xobjects[LOGO_NAME] = logo.image
            width, height = logo.width_mm * PT_PER_MM, logo.height_mm * PT_PER_MM
            at = (self.stamp_pt + pad + (box_w - width) / 2, -pad - (box_h - height) / 2 - height)
            cm = b"%.3f 0 0 %.3f %%.3f %%.3f cm\n" % (width, height)
            return cm, b"/%b Do\n" % LOGO_NAME.encode(), at
        return b"", b"", (0.0, 0.0)

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
        if stamp.test:
            label = f"{TEST_MARK} {label}"
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
        if self.layout.pin_spot and stamp.pin:
            text += self.pin_spot(left, top - self.stamp_pt - line_pt, stamp.pin)
        marks = self.cut_marks(left, top) if self.layout.cut_marks else b""
        if not self.side:
            return qr + text + marks
        x, y = left + self.side_at[0], top + self.side_at[1]
        return qr + text + b"q " + self.side_cm % (x, y) + self.side + b"Q\n" + marks

    def pin_spot(self, left: float, top: float, pin: str) -> bytes:
        """The PIN in a thin box the printer covers with scratch-off foil."""
        from traceqr.domain.pins import format_pin

        label = _ascii(format_pin(pin) if len(pin) == 8 else pin)
        height = PIN_LINE_MM * PT_PER_MM
        width = min(self.stamp_pt, COURIER_ADVANCE * PIN_FONT_PT * (len(label) + 2))
        x0 = left + (self.stamp_pt - width) / 2
        y0 = top - height + 0.6
        text_x = left + (self.stamp_pt - COURIER_ADVANCE * PIN_FONT_PT * len(label)) / 2
        return (
            b"q 0.3 w 0.5 G %.3f %.3f %.3f %.3f re S Q BT /%s %.2f Tf %.3f %.3f Td %b Tj ET\n"
            % (
                x0,
                y0,
                width,
                height - 1.2,
                CODE_FONT.encode(),
                PIN_FONT_PT,
                text_x,
                y0 + (height - 1.2 - 0.6 * PIN_FONT_PT) / 2,
                pdf_string(label),
            )
        )

    def cut_marks(self, left: float, top: float) -> bytes:
        """Short lines continuing the cell's edges outward, a little off its four corners
        (so that no ink touches the cell), ending before the middle of the gap."""
        start = min(CUT_MARK_OFFSET_MM, 0.2 * self.layout.gap_mm) * PT_PER_MM
        end = min(CUT_MARK_OFFSET_MM + CUT_MARK_MM, 0.45 * self.layout.gap_mm) * PT_PER_MM
        right = left + self.layout.cell_width_mm * PT_PER_MM
        bottom = top - self.layout.cell_height_mm * PT_PER_MM
        segments = []
        for x, y, dx, dy in ((left, top, -1, 1), (right, top, 1, 1),
                             (left, bottom, -1, -1), (right, bottom, 1, -1)):  # fmt: skip
            segments.append(f"{x + dx * start:.3f} {y:.3f} m {x + dx * end:.3f} {y:.3f} l")
            segments.append(f"{x:.3f} {y + dy * start:.3f} m {x:.3f} {y + dy * end:.3f} l")
        return f"q {CUT_MARK_WIDTH_PT} w 0 G {' '.join(segments)} S Q\n".encode()

    def page(self, stamps: list[bytes], label: str) -> bytes:
        """A page's content stream: its stamps, then the footer line with ``label``."""
        footer = self.footer(label) if self.layout.page_footer else b""
        return b"0 g\n" + b"".join(stamps) + footer

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
    side_text: str | None = None,
    logo: bytes | None = None,
    workers: int | None = None,
) -> SheetSummary:
    """Write a PDF of ``stamps`` to ``out``, page by page as the iterable yields them.

    ``workers`` processes encode the QRs and paint the pages while this one reads the
    stamps, compresses and writes (None: :func:`sheet_workers` decides from ``total``);
    the PDF is the same byte for byte with any number of workers.

    ``footer`` is printed on every page before ``page N`` (``page N / M`` when ``total``,
    the number of stamps, is given), unless the layout has no footer line. With
    ``side="text"`` the layout needs ``side_text``, printed beside every QR; with
    ``side="logo"`` it needs ``logo`` (PNG or JPEG bytes), stored once in the PDF. Raises
    :class:`SheetLayoutError` before writing anything when the first stamp, the text or the
    logo does not fit the layout, and mid-way (leaving an unfinished PDF) if a later
    stamp's QR is a different size or ``total`` is wrong.
    """
    if side_text and layout.side != "text":
        raise SheetLayoutError("side_text is printed only with side='text'")
    if logo and layout.side != "logo":
        raise SheetLayoutError("a logo is printed only with side='logo'")
    if layout.side == "logo" and not logo:
        raise SheetLayoutError("side='logo' needs a logo: a PNG or JPEG image")
    text_block = side_text_block(side_text or "", layout) if layout.side == "text" else None
    sheet_logo = prepare_logo(logo, layout) if logo else None
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
    painter = _Painter(layout, size, code, text_block, sheet_logo)
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
    writer = PdfStreamWriter(
        out,
        FONTS,
        xobjects=painter.xobjects or None,
        info={"Title": _ascii(footer) or "TraceQR stamps"},
    )
    chunks: list[bytes] = []
    count = 0

    def page_label(page_number: int) -> str:
        label = f"page {page_number}" + (f" / {total_pages}" if total_pages else "")
        return f"{footer}  {label}" if footer else label

    def finish_page() -> None:
        label = page_label(writer.page_count + 1)
        writer.add_flate_page(flate(painter.page(chunks, label)), width_pt, height_pt)
        chunks.clear()

    processes = sheet_workers(total) if workers is None else workers
    if processes > 1:
        painted = _paint_in_processes(
            chain((first,), iterator),
            processes,
            (layout, size, code, text_block, sheet_logo),
            total,
            page_label,
        )
        for data, on_page in painted:
            writer.add_flate_page(data, width_pt, height_pt)
            count += on_page
    else:
        for stamp in chain((first,), iterator):
            symbol = first_symbol if count == 0 else qr_matrix(stamp.url, layout.ecc)
            _check_same_size(symbol.size, size, count)
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


# --- painting pages in other processes -----------------------------------------------------

PARALLEL_MIN_STAMPS = 5_000  # below this, starting processes (~0.4 s) costs more than it saves
MAX_SHEET_WORKERS = 4


def sheet_workers(total: int | None) -> int:
    """How many processes paint a sheet of ``total`` stamps: one per usable core (at most
    four) for large sheets, none besides this one for small or unknown ones."""
    if total is None or total < PARALLEL_MIN_STAMPS:
        return 1
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(MAX_SHEET_WORKERS, cores))


def _check_same_size(found: int, size: int, index: int) -> None:
    if found != size:
        raise SheetLayoutError(
            f"stamp {index + 1} needs a {found}-module QR, the sheet's first needs"
            f" {size}: print stamps with the same URL length on one sheet"
        )


_worker_painter: _Painter | None = None


def _start_worker(painter_args: tuple[Any, ...]) -> None:
    global _worker_painter
    _worker_painter = _Painter(*painter_args)


def _paint_page(
    stamps: list[tuple[str, str, int | None, str | None, bool]], label: str
) -> tuple[bytes, int]:
    """In a worker: one page's compressed content stream, or the index of the first stamp
    whose QR is not the sheet's size (then no content)."""
    painter = _worker_painter
    assert painter is not None
    parts = []
    for slot, (url, short_code, seq, pin, test) in enumerate(stamps):
        symbol = qr_matrix(url, painter.layout.ecc)
        if symbol.size != painter.size:
            return symbol.size.to_bytes(4, "big"), slot
        stamp = SheetStamp(url, short_code, seq, pin, test)
        parts.append(painter.stamp(slot, symbol.modules, stamp))
    return flate(painter.page(parts, label)), -1


def _paint_in_processes(
    stamps: Iterable[SheetStamp],
    processes: int,
    painter_args: tuple[Any, ...],
    total: int | None,
    page_label: Callable[[int], str],
) -> Iterable[tuple[bytes, int]]:
    """(compressed content, stamps on the page) of each page in order, painted and
    compressed by ``processes`` workers; at most two pages per worker wait, so memory stays
    flat however many stamps there are. Workers start from a fork server: safe under
    threaded servers and job workers, which plain fork is not."""
    layout: SheetLayout = painter_args[0]
    size: int = painter_args[1]
    per_page = layout.per_page
    context = multiprocessing.get_context("forkserver")
    # Workers fork from a server that has imported the painter (numpy, zxing-cpp, Pillow)
    # once, instead of each importing it again: that halves their start-up.
    context.set_forkserver_preload(["__main__", __name__])
    pending: deque[tuple[Future[tuple[bytes, int]], int, int]] = deque()
    read = 0

    def collect() -> tuple[bytes, int]:
        future, first_index, on_page = pending.popleft()
        content, bad_slot = future.result()
        if bad_slot >= 0:
            _check_same_size(int.from_bytes(content, "big"), size, first_index + bad_slot)
        return content, on_page

    pool = ProcessPoolExecutor(
        processes, mp_context=context, initializer=_start_worker, initargs=(painter_args,)
    )
    try:
        iterator = iter(stamps)
        while True:
            page = [
                (stamp.url, stamp.short_code, stamp.seq, stamp.pin, stamp.test)
                for stamp in islice(iterator, per_page)
            ]
            if not page:
                break
            if total is not None and read + len(page) > total:
                raise SheetLayoutError(f"more stamps than the total of {total}")
            label = page_label(read // per_page + 1)
            pending.append((pool.submit(_paint_page, page, label), read, len(page)))
            read += len(page)
            if len(pending) >= 2 * processes:
                yield collect()
        while pending:
            yield collect()
    except BaseException:
        # A bad stamp, a full disk, or a reader that stopped: queued pages are not painted.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


PDFIUM_LOCK = threading.Lock()  # PDFium is not thread-safe: every caller in the process takes it


def render_preview_png(
    stamps: Iterable[SheetStamp],
    layout: SheetLayout,
    *,
    side_text: str | None = None,
    logo: bytes | None = None,
    footer: str = "",
    dpi: int = 110,
) -> bytes:
    """A PNG of the sheet's first page at ``dpi``, for a live preview: only the first
    ``layout.per_page`` stamps are taken from ``stamps``. The image is
    ceil(page size in points × dpi / 72) pixels each way. Needs pypdfium2."""
    import pypdfium2

    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 20 <= dpi <= 300:
        raise SheetLayoutError(f"dpi must be a whole number from 20 to 300; got {dpi!r}")
    pdf = io.BytesIO()
    render_sheet(
        islice(stamps, layout.per_page), pdf, layout, footer=footer, side_text=side_text, logo=logo
    )
    with PDFIUM_LOCK:
        document = pypdfium2.PdfDocument(pdf.getvalue())
        try:
            page = document[0]
            image = page.render(scale=dpi / 72).to_pil()
            page.close()
        finally:
            document.close()
    out = io.BytesIO()
    # Light compression: a live preview is sent once and thrown away. In colour, because
    # the logo is.
    image.convert("RGB").save(out, format="PNG", compress_level=1)
    return out.getvalue()
