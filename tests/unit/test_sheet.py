"""Stamp sheets: the PDF is rendered and every QR read back, the way a printer sees it."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
import zxingcpp
from PIL import Image

from tests.sheet_reading import PX_PER_MM, px, render_pages
from traceqr.domain.keys import StampSigner, generate_seed, new_kid
from traceqr.domain.pdf_stream import PdfStreamWriter, pdf_string
from traceqr.domain.qr import qr_matrix
from traceqr.domain.sheet import (
    TEXT_LINE_MM,
    SheetLayout,
    SheetLayoutError,
    SheetStamp,
    SheetSummary,
    render_sheet,
)
from traceqr.domain.stamp_format import short_code

PUBLIC_URL = "https://traceqr.example.vn"
SIDE_TEXT = "Gốm sứ Bát Tràng – Lô BT-2611"


def make_stamps(count: int, public_url: str = PUBLIC_URL, seq: bool = False) -> list[SheetStamp]:
    signer = StampSigner(new_kid(), generate_seed())
    stamps = []
    for number in range(count):
        stamp = signer.issue(os.urandom(10))
        stamps.append(
            SheetStamp(stamp.url(public_url), short_code(stamp.serial), number if seq else None)
        )
    return stamps


def page_texts(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def check_xref(pdf: bytes) -> None:
    """The cross-reference table points at every object exactly (no reader repair needed)."""
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", pdf).group(1))
    assert pdf[startxref:].startswith(b"xref\n0 ")
    header = re.match(rb"xref\n0 (\d+)\n", pdf[startxref:])
    size = int(header.group(1))
    table = pdf[startxref + header.end() :][: 20 * size]
    entries = [table[i : i + 20] for i in range(0, len(table), 20)]
    assert entries[0] == b"0000000000 65535 f \n"
    for number, entry in enumerate(entries[1:], start=1):
        assert entry.endswith(b" 00000 n \n")
        offset = int(entry[:10])
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number)
    assert re.search(rb"trailer\n<< /Size %d /Root 1 0 R /Info \d+ 0 R >>" % size, pdf)


class Sheet:
    """A rendered sheet: its stamps, PDF, summary and page rasters."""

    def __init__(self, layout: SheetLayout, stamps: list[SheetStamp], **kwargs: object) -> None:
        self.layout = layout
        self.stamps = stamps
        out = io.BytesIO()
        self.summary: SheetSummary = render_sheet(stamps, out, layout, **kwargs)  # type: ignore[arg-type]
        self.pdf = out.getvalue()
        self.pages = render_pages(self.pdf)
        self.size = qr_matrix(stamps[0].url, layout.ecc).size

    def cell(self, page: int, slot: int) -> np.ndarray:
        """The cell's pixels (side area included) with half of the gap around it (where
        neighbours end)."""
        left, top = self.layout.stamp_box_mm(slot)
        half_gap = self.layout.gap_mm / 2
        return self.pages[page][
            px(top - half_gap) : px(top + self.layout.cell_height_mm + half_gap),
            px(left - half_gap) : px(left + self.layout.cell_width_mm + half_gap),
        ]

    def dark_box(self, page: int, slot: int) -> tuple[float, float, float, float]:
        """Left, top, right, bottom edges (page pixels) of the dark pixels inside the stamp
        square, and the square's exact left and top in pixels: (box, origin)."""
        left, top = self.layout.stamp_box_mm(slot)
        x, y = px(left), px(top)
        side = px(self.layout.stamp_mm)
        ys, xs = np.nonzero(self.pages[page][y : y + side, x : x + side] < 128)
        return x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1

    def slots(self) -> Iterator[tuple[int, int, SheetStamp]]:
        for index, stamp in enumerate(self.stamps):
            page, slot = divmod(index, self.summary.per_page)
            yield page, slot, stamp


@pytest.fixture(scope="module")
def default_sheet() -> Sheet:
    layout = SheetLayout()
    return Sheet(layout, make_stamps(layout.per_page + 5), footer="Lô 7 — Bát Tràng")


@pytest.fixture(scope="module")
def dense_sheet() -> Sheet:
    """Letter paper, small stamps at ECC M, narrow gaps, crop marks."""
    layout = SheetLayout(
        page_width_mm=215.9,
        page_height_mm=279.4,
        margin_mm=5,
        stamp_mm=22,
        gap_mm=1.5,
        ecc="m",
        cut_marks=True,
    )
    return Sheet(layout, make_stamps(20), total=20)


@pytest.fixture(scope="module")
def text_sheet() -> Sheet:
    """Vietnamese text beside every QR, crop marks, two pages."""
    layout = SheetLayout(side="text", side_mm=30, cut_marks=True)
    assert layout.per_page == 27
    return Sheet(layout, make_stamps(30), side_text=SIDE_TEXT, footer="Bát Tràng")


@pytest.fixture(scope="module")
def logo_roll_sheet() -> Sheet:
    """A 70 mm label roll, two labels across, a logo beside every QR: a page per row."""
    layout = SheetLayout.roll(
        70, 2, stamp_mm=23, side="logo", side_mm=9, gap_mm=2.5, margin_mm=1.5, ecc="M"
    )
    return Sheet(layout, make_stamps(5), logo=png_logo())


def png_logo(width: int = 120, height: int = 80) -> bytes:
    """A dark-red PNG with a transparent border (which must print as white paper)."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((150, 20, 20, 255), (10, 10, width - 10, height - 10))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(params=["default_sheet", "dense_sheet", "text_sheet", "logo_roll_sheet"])
def sheet(request: pytest.FixtureRequest) -> Sheet:
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["default_sheet", "dense_sheet"])
def vector_sheet(request: pytest.FixtureRequest) -> Sheet:
    """The sheets with nothing but paths and base-14 text on their pages."""
    return request.getfixturevalue(request.param)


def test_every_stamp_decodes_once_in_its_own_cell(sheet: Sheet) -> None:
    decoded = []
    for page, slot, stamp in sheet.slots():
        results = zxingcpp.read_barcodes(
            sheet.cell(page, slot), formats=zxingcpp.BarcodeFormat.QRCode
        )
        assert len(results) == 1, f"page {page + 1} slot {slot}: {len(results)} symbols"
        assert results[0].format == zxingcpp.BarcodeFormat.QRCode
        assert results[0].text == stamp.url
        assert results[0].orientation == 0  # upright, so neither turned nor mirrored
        decoded.append(results[0].text)
    assert len(decoded) == len(set(decoded)) == len(sheet.stamps)
    assert set(decoded) == {stamp.url for stamp in sheet.stamps}


def test_modules_are_big_enough_and_the_quiet_zone_is_clear(sheet: Sheet) -> None:
    layout, size = sheet.layout, sheet.size
    assert sheet.summary.module_mm >= layout.min_module_mm
    for page, slot, _stamp in sheet.slots():
        left, top, right, bottom = sheet.dark_box(page, slot)
        assert abs((right - left) - (bottom - top)) <= 1
        module_px = (right - left) / size
        # one pixel of anti-aliasing either side
        assert (module_px + 2 / size) / PX_PER_MM >= layout.min_module_mm
        # The symbol sits in its square with 4 modules of white on every side (measured from
        # the square's exact edges, allowing one pixel for anti-aliasing) ...
        square_left, square_top = (mm * PX_PER_MM for mm in layout.stamp_box_mm(slot))
        square_side = layout.stamp_mm * PX_PER_MM
        quiet_px = 4 * module_px - 1
        assert left - square_left >= quiet_px and top - square_top >= quiet_px
        assert square_left + square_side - right >= quiet_px
        assert square_top + square_side - bottom >= quiet_px
        # ... and nothing else (text, crop marks, neighbours) reaches into that zone.
        zone_top, zone_left = max(0, round(top - quiet_px)), max(0, round(left - quiet_px))
        zone = sheet.pages[page][
            zone_top : round(bottom + quiet_px), zone_left : round(right + quiet_px)
        ].copy()
        zone[top - zone_top : bottom - zone_top, left - zone_left : right - zone_left] = 255
        assert zone.min() >= 128, f"something is drawn in the quiet zone of slot {slot}"


def test_the_raster_matches_the_matrix_module_by_module(sheet: Sheet) -> None:
    """Sampled at module centres, the printed QR is the matrix itself: not mirrored,
    not shifted, rows top-down like the matrix."""
    layout, size = sheet.layout, sheet.size
    module_px = sheet.summary.module_mm * PX_PER_MM
    centres = (np.arange(size) + 4.5) * module_px
    for page, slot, stamp in sheet.slots():
        left, top = (mm * PX_PER_MM for mm in layout.stamp_box_mm(slot))
        rows = np.floor(top + centres).astype(int)
        columns = np.floor(left + centres).astype(int)
        printed = sheet.pages[page][np.ix_(rows, columns)] < 128
        assert np.array_equal(printed, qr_matrix(stamp.url, layout.ecc).modules)


def test_pages_stamps_and_text_match_the_summary(default_sheet: Sheet) -> None:
    sheet, layout = default_sheet, default_sheet.layout
    summary = sheet.summary
    assert summary == SheetSummary(
        pages=2, stamps=len(sheet.stamps), module_mm=25 / 57, qr_version=8, per_page=63
    )
    assert (layout.columns, layout.rows, layout.per_page) == (7, 9, 63)
    assert len(sheet.pages) == 2
    texts = page_texts(sheet.pdf)
    for page, text in enumerate(texts):
        on_page = sheet.stamps[page * 63 : (page + 1) * 63]
        assert len(on_page) == (63 if page == 0 else 5)
        for stamp in on_page:
            assert stamp.short_code in text
        assert re.search(rf"L\? 7 \? B\?t Tr\?ng\s+page {page + 1}$", text)
    # One text object per stamp plus the footer, and one QR path per stamp.
    document = pdfium.PdfDocument(sheet.pdf)
    counts = []
    for page in document:
        types = [obj.type for obj in page.get_objects()]
        assert pdfium_c.FPDF_PAGEOBJ_IMAGE not in types
        assert pdfium_c.FPDF_PAGEOBJ_FORM not in types
        counts.append(
            (types.count(pdfium_c.FPDF_PAGEOBJ_TEXT), types.count(pdfium_c.FPDF_PAGEOBJ_PATH))
        )
    document.close()
    assert counts == [(64, 63), (6, 5)]


def test_the_pdf_is_vector_and_well_formed(vector_sheet: Sheet) -> None:
    sheet = vector_sheet
    assert b"/Image" not in sheet.pdf and b"/XObject" not in sheet.pdf
    assert sheet.pdf.count(b"/BaseFont") == 2  # Courier-Bold and Helvetica, shared
    check_xref(sheet.pdf)


def test_side_text_is_vector_and_stored_once(text_sheet: Sheet) -> None:
    """The outlines of the side text are one form XObject, drawn in every cell."""
    assert b"/Image" not in text_sheet.pdf and b"/FontFile" not in text_sheet.pdf
    assert text_sheet.pdf.count(b"/Subtype /Form") == 1
    assert text_sheet.pdf.count(b"/BaseFont") == 2
    check_xref(text_sheet.pdf)


def test_a_sheet_with_a_logo_is_well_formed(logo_roll_sheet: Sheet) -> None:
    assert logo_roll_sheet.pdf.count(b"/Subtype /Image") == 1
    assert logo_roll_sheet.pdf.count(b"/BaseFont") == 2
    check_xref(logo_roll_sheet.pdf)


def test_the_page_count_of_a_known_total_is_printed(dense_sheet: Sheet) -> None:
    assert "page 1 / 1" in page_texts(dense_sheet.pdf)[0]
    assert dense_sheet.summary.qr_version == 7  # ECC M, 26-character public URL


def test_sequence_numbers_are_printed_on_wide_stamps_only() -> None:
    stamps = make_stamps(3, seq=True)
    wide, narrow = io.BytesIO(), io.BytesIO()
    render_sheet(stamps, wide, SheetLayout(stamp_mm=32))
    render_sheet(stamps, narrow, SheetLayout())
    wide_text, narrow_text = page_texts(wide.getvalue())[0], page_texts(narrow.getvalue())[0]
    for stamp in stamps:
        assert f"{stamp.short_code} #{stamp.seq}" in wide_text
        assert stamp.short_code in narrow_text
    assert "#" not in narrow_text


def test_a_stamp_too_small_for_its_modules_names_the_minimum() -> None:
    out = io.BytesIO()
    with pytest.raises(SheetLayoutError, match=r"at least 22\.8 mm"):
        render_sheet(make_stamps(1), out, SheetLayout(stamp_mm=22))
    assert out.getvalue() == b""  # refused before writing anything
    with pytest.raises(SheetLayoutError, match=r"at least 28\.5 mm"):
        render_sheet(make_stamps(1), out, SheetLayout(stamp_mm=28, min_module_mm=0.5))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ecc": "X"}, "one of L, M, Q, H"),
        ({"margin_mm": 120}, "smaller margins"),
        ({"page_width_mm": 20}, "at least 41 × "),
        ({"stamp_mm": 0}, "stamp_mm must be greater than 0"),
        ({"stamp_mm": -3}, "stamp_mm must be greater than 0"),
        ({"page_height_mm": 0}, "page_height_mm must be greater than 0"),
        ({"min_module_mm": 0}, "min_module_mm must be greater than 0"),
        ({"margin_mm": -1}, "margin_mm must not be negative"),
        ({"gap_mm": float("nan")}, "gap_mm must be a finite number"),
        ({"gap_mm": 0, "cut_marks": True}, "gap_mm above 0"),
    ],
)
def test_impossible_layouts_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(SheetLayoutError, match=re.escape(message)):
        SheetLayout(**changes)  # type: ignore[arg-type]


def test_no_stamps_is_an_error() -> None:
    with pytest.raises(SheetLayoutError, match="no stamps to print"):
        render_sheet([], io.BytesIO())


def test_stamps_of_another_size_on_the_same_sheet_are_refused() -> None:
    stamps = make_stamps(2) + make_stamps(
        1, public_url="https://a-much-longer-host.traceqr.example.vn"
    )
    with pytest.raises(SheetLayoutError, match="same URL length"):
        render_sheet(stamps, io.BytesIO(), SheetLayout(stamp_mm=30))


def test_a_wrong_total_is_refused() -> None:
    with pytest.raises(SheetLayoutError, match="more stamps than the total of 1"):
        render_sheet(make_stamps(2), io.BytesIO(), total=1)
    with pytest.raises(SheetLayoutError, match="total was given as 3"):
        render_sheet(make_stamps(2), io.BytesIO(), total=3)


def test_stamps_are_consumed_lazily_and_pages_written_as_they_fill() -> None:
    layout = SheetLayout(stamp_mm=60, margin_mm=10)  # 3 × 4 = 12 per page
    assert layout.per_page == 12
    pool = make_stamps(layout.per_page)
    out = io.BytesIO()
    seen: list[tuple[int, int]] = []

    def stamps() -> Iterator[SheetStamp]:
        for index in range(3 * layout.per_page + 1):
            seen.append((index, out.getvalue().count(b"/Type /Page ")))
            yield pool[index % len(pool)]

    summary = render_sheet(stamps(), out, layout)
    assert summary.pages == 4 and summary.stamps == 37
    per_page = layout.per_page
    # Pages already written when stamp number `index` is asked for:
    assert [written for index, written in seen if index % per_page == 0] == [0, 1, 2, 3]
    assert all(written == index // per_page for index, written in seen)


def test_the_writer_streams_to_an_unseekable_file() -> None:
    class Pipe:
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def write(self, data: bytes) -> int:
            self.chunks.append(bytes(data))
            return len(data)

        def flush(self) -> None:
            pass

    pipe = Pipe()
    with PdfStreamWriter(pipe, {"F1": "Helvetica"}, info={"Title": "Thử (test)"}) as writer:  # type: ignore[arg-type]
        writer.add_page(b"BT /F1 12 Tf 72 720 Td (Hello \\(1\\)) Tj ET", 612, 792)
        assert len(pipe.chunks) > 1  # the page is out before close
        writer.add_page(b"0 0 m 100 100 l S", 300, 200.5)
    pdf = b"".join(pipe.chunks)
    check_xref(pdf)
    document = pdfium.PdfDocument(pdf)
    assert len(document) == 2
    assert document[0].get_textpage().get_text_range() == "Hello (1)"
    assert document[1].get_size() == pytest.approx((300, 200.5))
    assert document.get_metadata_dict()["Title"] == "Th? (test)"
    document.close()


def test_a_pdf_needs_a_page_and_cannot_grow_after_close() -> None:
    with pytest.raises(ValueError, match="at least one page"):
        PdfStreamWriter(io.BytesIO()).close()
    writer = PdfStreamWriter(io.BytesIO())
    writer.add_page(b"", 100, 100)
    writer.close()
    with pytest.raises(ValueError, match="already closed"):
        writer.add_page(b"", 100, 100)


def test_pdf_strings_are_escaped() -> None:
    assert pdf_string("a(b)c\\d") == b"(a\\(b\\)c\\\\d)"
    assert pdf_string("Đà Nẵng é") == b"(?\xe0 N?ng \xe9)"
    assert pdf_string("x\ny") == b"(x\\ny)"


def test_text_line_is_below_the_square() -> None:
    layout = SheetLayout()
    assert layout.cell_height_mm == layout.stamp_mm + TEXT_LINE_MM


@pytest.mark.parametrize("layout", [SheetLayout(), SheetLayout(pin_spot=True, cut_marks=True)])
def test_painting_in_worker_processes_writes_the_same_pdf(layout: SheetLayout) -> None:
    """Large sheets are painted by several processes: the printer must get the very same
    file, page for page, as from one process (pages are reassembled in order)."""
    stamps = [
        SheetStamp(s.url, s.short_code, s.seq, pin="12345678" if layout.pin_spot else None)
        for s in make_stamps(2 * layout.per_page + 5)
    ]
    one, several = io.BytesIO(), io.BytesIO()
    summary_one = render_sheet(stamps, one, layout, footer="Lô A", total=len(stamps), workers=1)
    summary = render_sheet(stamps, several, layout, footer="Lô A", total=len(stamps), workers=2)
    creation = re.compile(rb"/CreationDate \(D:\d{14}Z\)")  # the clock moves on
    assert creation.sub(b"", several.getvalue()) == creation.sub(b"", one.getvalue())
    assert summary == summary_one and summary.stamps == len(stamps) and summary.pages == 3


def test_worker_processes_refuse_a_stamp_of_another_size_and_name_it() -> None:
    layout = SheetLayout()
    stamps = make_stamps(layout.per_page + 3)
    stamps += make_stamps(1, public_url="https://a-much-longer-host.traceqr.example.vn")
    with pytest.raises(SheetLayoutError, match=f"stamp {len(stamps)} needs a .*same URL length"):
        render_sheet(stamps, io.BytesIO(), layout, workers=2)


def test_worker_processes_refuse_more_stamps_than_the_total() -> None:
    stamps = make_stamps(SheetLayout().per_page + 1)
    with pytest.raises(SheetLayoutError, match="more stamps than the total of 10"):
        render_sheet(stamps, io.BytesIO(), SheetLayout(), total=10, workers=2)
