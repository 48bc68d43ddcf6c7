"""The stamp sheet designer: text or a logo beside each QR, paper and label-roll pages, the
preview image; and the vector text underneath (traceqr.domain.glyphs)."""

from __future__ import annotations

import io
import math
import re
import time
from collections.abc import Iterator

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
import zxingcpp
from PIL import Image, ImageDraw, ImageFont

from tests.sheet_reading import PX_PER_MM, px, read_sheet, render_pages
from tests.unit.test_sheet import SIDE_TEXT, check_xref, make_stamps, page_texts, png_logo
from traceqr.domain.glyphs import OutlineFont, default_font, fit_text, wrap_text
from traceqr.domain.pdf_stream import PdfStreamWriter
from traceqr.domain.sheet import (
    LOGO_DPI,
    PT_PER_MM,
    SIDE_PAD_MM,
    SIDE_TEXT_MIN_PT,
    SheetLayout,
    SheetLayoutError,
    SheetStamp,
    prepare_logo,
    render_preview_png,
    render_sheet,
    side_text_block,
)

FONT_FILE = "traceqr/data/fonts/DejaVuSans.ttf"


def render(stamps: list[SheetStamp], layout: SheetLayout, **kwargs: object) -> bytes:
    out = io.BytesIO()
    render_sheet(stamps, out, layout, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


def object_counts(pdf: bytes, levels: int = 1) -> list[dict[int, int]]:
    """Per page: how many page objects of each type (path, text, image, form...); with
    ``levels=2`` the objects inside forms are counted too."""
    document = pdfium.PdfDocument(pdf)
    try:
        counts = []
        for page in document:
            types = [obj.type for obj in page.get_objects(max_depth=levels)]
            counts.append({kind: types.count(kind) for kind in set(types)})
        return counts
    finally:
        document.close()


def jpeg_logo(width: int, height: int, comment: bytes = b"") -> bytes:
    image = Image.new("RGB", (width, height), (20, 40, 160))
    ImageDraw.Draw(image).ellipse((0, 0, width - 1, height - 1), fill=(200, 30, 30))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, comment=comment)
    return out.getvalue()


# --- Text beside the QR --------------------------------------------------------------------


def test_side_text_is_drawn_as_outlines_in_the_side_area_only() -> None:
    layout = SheetLayout(side="text", side_mm=30)
    stamps = make_stamps(6)
    pdf = render(stamps, layout, side_text=SIDE_TEXT)
    plain = render(stamps, SheetLayout(side="none", side_mm=30))
    # No font for it: the two base-14 fonts only, no embedded font program, no text object.
    assert pdf.count(b"/BaseFont") == 2 and b"/FontFile" not in pdf
    assert "Gốm" not in page_texts(pdf)[0] and "Tr" not in page_texts(pdf)[0]
    [counts], [plain_counts] = object_counts(pdf), object_counts(plain)
    assert counts[pdfium_c.FPDF_PAGEOBJ_TEXT] == plain_counts[pdfium_c.FPDF_PAGEOBJ_TEXT] == 7
    # Per stamp: the QR path, and the text's paths stored once as a form drawn in each cell.
    assert plain_counts[pdfium_c.FPDF_PAGEOBJ_PATH] == counts[pdfium_c.FPDF_PAGEOBJ_PATH] == 6
    assert counts[pdfium_c.FPDF_PAGEOBJ_FORM] == 6 and pdf.count(b"/Subtype /Form") == 1
    [nested] = object_counts(pdf, levels=2)
    assert nested[pdfium_c.FPDF_PAGEOBJ_PATH] == 12  # one filled path of outlines per stamp
    assert pdfium_c.FPDF_PAGEOBJ_IMAGE not in nested

    [page] = render_pages(pdf)
    for slot in range(len(stamps)):
        left, top, width, height = layout.side_box_mm(slot)
        assert left == pytest.approx(layout.stamp_box_mm(slot)[0] + layout.stamp_mm)
        assert (width, height) == (30, layout.stamp_mm)
        side = page[px(top) : px(top + height), px(left) : px(left + width)]
        ys, xs = np.nonzero(side < 128)
        assert len(xs) > 1000, "the text is printed"
        pad = SIDE_PAD_MM * PX_PER_MM
        assert xs.min() >= pad - 1 and xs.max() < width * PX_PER_MM - pad + 1
        assert ys.min() >= pad - 1 and ys.max() < height * PX_PER_MM - pad + 1
        # Vertically centred on the QR square.
        assert abs((ys.min() + ys.max()) / 2 - side.shape[0] / 2) <= 2
    # The rest of the cell row (outside stamp squares, side areas and text lines) is blank.
    mask = np.ones(page.shape, dtype=bool)
    for slot in range(len(stamps)):
        left, top = layout.stamp_box_mm(slot)
        mask[
            px(top) : px(top + layout.cell_height_mm), px(left) : px(left + layout.cell_width_mm)
        ] = False
    mask[px(layout.page_height_mm - layout.margin_mm - 5) :] = False  # the footer
    assert page[mask].min() >= 128


def test_every_qr_still_decodes_beside_long_text() -> None:
    layout = SheetLayout(side="text", side_mm=26, stamp_mm=24, gap_mm=1)
    text = "Gốm sứ Bát Tràng – Lô BT-2611 – Hạn dùng 12/2027 – Sản xuất tại Việt Nam"
    stamps = make_stamps(layout.columns + 2)
    cells = read_sheet(render(stamps, layout, side_text=text), layout)
    assert cells == [[stamp.url] for stamp in stamps]


def test_the_text_is_wrapped_and_sized_to_the_side_area() -> None:
    short = side_text_block("Lô 7", SheetLayout(side="text"))
    assert short.lines == ("Lô 7",) and short.size_pt == 9.0
    layout = SheetLayout(side="text", side_mm=20)
    block = side_text_block(SIDE_TEXT + " – Hạn dùng 12/2027", layout)
    assert 2 <= len(block.lines) <= 3
    assert SIDE_TEXT_MIN_PT <= block.size_pt < 9.0
    assert " ".join(block.lines) == SIDE_TEXT + " – Hạn dùng 12/2027"
    room = (20 - 2 * SIDE_PAD_MM) * PT_PER_MM
    font = default_font()
    assert all(font.advance(line, block.size_pt) <= room for line in block.lines)
    assert block.width_pt <= room and block.height_pt <= (25 - 2 * SIDE_PAD_MM) * PT_PER_MM
    # Line breaks typed by the business are kept; blank lines dropped.
    assert side_text_block("Bát Tràng\n\nLô 7", layout).lines == ("Bát Tràng", "Lô 7")


def test_text_that_cannot_fit_names_the_side_width_it_needs() -> None:
    text = "Công ty TNHH Gốm sứ Bát Tràng – Lô BT-2611 – Hạn dùng 12/2027"
    layout = SheetLayout(side="text", side_mm=10)
    with pytest.raises(SheetLayoutError, match=r"side_mm of at least (\d+)") as error:
        render(make_stamps(1), layout, side_text=text)
    needed = int(re.search(r"at least (\d+)", str(error.value)).group(1))
    wider = SheetLayout(side="text", side_mm=needed)
    assert side_text_block(text, wider).size_pt == SIDE_TEXT_MIN_PT
    with pytest.raises(SheetLayoutError):
        side_text_block(text, SheetLayout(side="text", side_mm=needed - 1))
    narrow = SheetLayout(page_width_mm=80, side="text", side_mm=10)
    with pytest.raises(SheetLayoutError, match=r"use a shorter text$"):
        side_text_block("Gốm sứ " * 25, narrow)
    with pytest.raises(SheetLayoutError, match="at most 200"):
        side_text_block("x" * 201, layout)


# --- Logo beside the QR --------------------------------------------------------------------


def test_a_logo_is_stored_once_and_placed_in_every_cell() -> None:
    layout = SheetLayout(stamp_mm=40, side="logo", side_mm=30, margin_mm=10)
    assert layout.per_page == 12
    stamps = make_stamps(30)
    pdf = render(stamps, layout, logo=png_logo(600, 300))
    check_xref(pdf)
    assert pdf.count(b"/Subtype /Image") == 1
    counts = object_counts(pdf)
    assert [page[pdfium_c.FPDF_PAGEOBJ_IMAGE] for page in counts] == [12, 12, 6]
    pages = render_pages(pdf)
    for index in range(len(stamps)):
        page, slot = divmod(index, layout.per_page)
        left, top, width, height = layout.side_box_mm(slot)
        side = pages[page][px(top) : px(top + height), px(left) : px(left + width)]
        ys, xs = np.nonzero(side < 157)  # half way between the red (L = 59) and white
        # 600 × 300 with a transparent 10-pixel border (white on paper): aspect ratio kept,
        # as wide as the side area allows, centred.
        inner = width - 2 * SIDE_PAD_MM
        assert (xs.max() - xs.min() + 1) / PX_PER_MM == pytest.approx(inner * 580 / 600, abs=0.2)
        assert (ys.max() - ys.min() + 1) / PX_PER_MM == pytest.approx(inner * 280 / 600, abs=0.2)
        assert abs((ys.min() + ys.max()) / 2 - side.shape[0] / 2) <= 2
        assert abs((xs.min() + xs.max()) / 2 - side.shape[1] / 2) <= 2
    assert read_sheet(pdf, layout) == [[stamp.url] for stamp in stamps]


def test_a_large_logo_is_downscaled_and_a_jpeg_loses_its_metadata() -> None:
    layout = SheetLayout(side="logo", side_mm=20)
    logo = prepare_logo(jpeg_logo(2400, 1200, comment=b"secret-camera-serial"), layout)
    assert logo.image.filter == "DCTDecode"
    assert (logo.width_mm, logo.height_mm) == pytest.approx((19, 9.5))
    assert logo.image.width == math.ceil(19 / 25.4 * LOGO_DPI)
    assert logo.image.height == math.ceil(9.5 / 25.4 * LOGO_DPI)
    assert b"secret-camera-serial" not in logo.image.data
    with Image.open(io.BytesIO(logo.image.data)) as decoded:
        assert decoded.format == "JPEG" and decoded.mode == "RGB"
        assert "comment" not in decoded.info and "exif" not in decoded.info
    small = prepare_logo(png_logo(40, 40), layout)  # never upscaled
    assert (small.image.width, small.image.height) == (40, 40)
    assert small.image.filter == "FlateDecode"
    pdf = render(make_stamps(2), layout, logo=jpeg_logo(300, 300))
    assert b"/Filter /DCTDecode" in pdf


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        png_logo()[:60],  # truncated PNG
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        jpeg_logo(50, 50)[:200],  # truncated JPEG
    ],
)
def test_bad_logo_bytes_are_refused_before_anything_is_written(data: bytes) -> None:
    out = io.BytesIO()
    with pytest.raises(SheetLayoutError, match="not a PNG or JPEG image"):
        render_sheet(make_stamps(1), out, SheetLayout(side="logo"), logo=data or b"\x00")
    assert out.getvalue() == b""


def test_other_image_formats_are_named() -> None:
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    with pytest.raises(SheetLayoutError, match=r"not a PNG or JPEG image.*got GIF"):
        prepare_logo(gif.getvalue(), SheetLayout(side="logo"))


# --- Layouts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "kwargs", "message"),
    [
        ({"side": "banner"}, {}, "side must be one of none, text, logo"),
        ({"side": "text", "side_mm": 3}, {}, "side_mm must be at least 5 mm"),
        ({"side": "logo", "side_mm": float("inf")}, {}, "side_mm must be a finite number"),
        ({"side": "text", "side_mm": 190}, {}, "not even one 25 mm stamp with its 190 mm side"),
        ({"side": "text"}, {}, "side='text' needs a text"),
        ({"side": "text"}, {"side_text": "   "}, "side='text' needs a text"),
        ({}, {"side_text": "Lô 7"}, "only with side='text'"),
        ({"side": "logo"}, {}, "side='logo' needs a logo"),
        ({"side": "text"}, {"side_text": "Lô 7", "logo": b"x"}, "only with side='logo'"),
        ({"across": 0}, {}, "across must be at least 1"),
        ({"across": 2.5}, {}, "across must be a whole number"),
        ({"across": 8}, {}, "the page must be at least 230 mm wide"),
    ],
)
def test_impossible_designs_are_refused(
    changes: dict[str, object], kwargs: dict[str, object], message: str
) -> None:
    out = io.BytesIO()
    with pytest.raises(SheetLayoutError, match=re.escape(message)):
        render_sheet(make_stamps(1), out, SheetLayout(**changes), **kwargs)  # type: ignore[arg-type]
    assert out.getvalue() == b""


def test_side_none_ignores_side_mm_and_matches_the_old_layout() -> None:
    layout = SheetLayout(side="None", side_mm=1)
    assert layout.side == "none" and layout.cell_width_mm == layout.stamp_mm == 25
    assert (layout.columns, layout.rows) == (SheetLayout().columns, SheetLayout().rows)
    with_side = SheetLayout(side="TEXT")
    assert with_side.side == "text" and with_side.cell_width_mm == 50
    assert with_side.columns == 3  # 3 × 50 + 2 × 2 = 154 mm of 194 mm


def test_paper_presets() -> None:
    assert SheetLayout.paper() == SheetLayout.paper("A4") == SheetLayout()
    a5 = SheetLayout.paper("a5", stamp_mm=30)
    assert (a5.page_width_mm, a5.page_height_mm, a5.stamp_mm) == (148, 210, 30)
    letter = SheetLayout.paper("Letter", landscape=True)
    assert (letter.page_width_mm, letter.page_height_mm) == (279.4, 215.9)
    assert letter.columns == 9
    with pytest.raises(SheetLayoutError, match="paper must be one of A4, A5, letter; got 'B5'"):
        SheetLayout.paper("B5")


def test_a_label_roll_prints_one_row_of_labels_per_page() -> None:
    layout = SheetLayout.roll(58, stamp_mm=24, side="text", side_mm=28, margin_mm=2)
    assert (layout.columns, layout.rows, layout.per_page) == (1, 1, 1)
    assert layout.page_height_mm == pytest.approx(2 + 24 + 3 + 2)
    assert not layout.page_footer
    assert layout.grid_left_mm == pytest.approx((58 - 52) / 2)
    stamps = make_stamps(4)
    pdf = render(stamps, layout, side_text="Lô BT-2611", footer="Bát Tràng")
    document = pdfium.PdfDocument(pdf)
    assert len(document) == 4
    assert document[0].get_size() == pytest.approx((58 * PT_PER_MM, 31 * PT_PER_MM), abs=0.01)
    document.close()
    assert all("page" not in text for text in page_texts(pdf))  # no footer on labels
    assert read_sheet(pdf, layout) == [[stamp.url] for stamp in stamps]

    two = SheetLayout.roll(170, 2, stamp_mm=30, side="logo", side_mm=20, gap_mm=3)
    assert (two.columns, two.rows) == (2, 1)  # exactly two across, though three would fit
    cells = read_sheet(render(make_stamps(5), two, logo=png_logo()), two)
    assert [len(texts) for texts in cells] == [1] * 5
    with pytest.raises(SheetLayoutError, match=r"3 cells of 50 mm .* at least 160 mm wide"):
        SheetLayout.roll(110, 3, stamp_mm=30, side="logo", side_mm=20, gap_mm=3)
    with pytest.raises(SheetLayoutError, match="labels_across must be at least 1"):
        SheetLayout.roll(60, 0)
    with pytest.raises(SheetLayoutError, match="stamp_mm must be a number"):
        SheetLayout.roll(60, stamp_mm="big")
    with pytest.raises(SheetLayoutError, match="margin_mm must not be negative"):
        SheetLayout.roll(60, margin_mm=-1)


# --- Preview -------------------------------------------------------------------------------


def test_the_preview_is_the_first_page_as_a_png_whose_codes_decode() -> None:
    layout = SheetLayout(side="text", side_mm=22)
    pool = make_stamps(layout.per_page)
    taken = []

    def stamps() -> Iterator[SheetStamp]:
        for index in range(10 * layout.per_page):
            taken.append(index)
            yield pool[index % len(pool)]

    render_preview_png(pool[:1], layout, side_text=SIDE_TEXT)  # the font is loaded once
    started = time.perf_counter()
    png = render_preview_png(stamps(), layout, side_text=SIDE_TEXT, footer="Bát Tràng")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.5, f"{elapsed:.2f} s for a preview"
    assert len(taken) == layout.per_page  # the first page's stamps, no more
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.size == tuple(math.ceil(mm * PT_PER_MM * 110 / 72) for mm in (210, 297))
        page = np.asarray(image.convert("L"))
    scale = 110 / 25.4
    for slot, stamp in enumerate(pool):
        left, top = layout.stamp_box_mm(slot)
        cell = page[
            round((top - 1) * scale) : round((top + layout.cell_height_mm + 1) * scale),
            round((left - 1) * scale) : round((left + layout.cell_width_mm + 1) * scale),
        ]
        results = zxingcpp.read_barcodes(cell, formats=zxingcpp.BarcodeFormat.QRCode)
        assert [result.text for result in results] == [stamp.url]


def test_a_preview_at_another_resolution_and_its_errors() -> None:
    logo = jpeg_logo(200, 200)
    png = render_preview_png(
        make_stamps(2), SheetLayout.paper("A5", side="logo"), logo=logo, dpi=50
    )
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == tuple(math.ceil(mm * PT_PER_MM * 50 / 72) for mm in (148, 210))
        colours = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert ((colours[:, 0] > 150) & (colours[:, 1] < 80)).sum() > 50  # the red logo shows
    for dpi in (0, 19, 301, 110.0, True):
        with pytest.raises(SheetLayoutError, match="dpi must be a whole number from 20 to 300"):
            render_preview_png(make_stamps(1), SheetLayout(), dpi=dpi)  # type: ignore[arg-type]
    with pytest.raises(SheetLayoutError, match="no stamps to print"):
        render_preview_png([], SheetLayout())


# --- Glyph outlines ------------------------------------------------------------------------


def rasterise_path(path: bytes, width_pt: float, height_pt: float, scale: float) -> np.ndarray:
    """The filled ``path`` on a page of its own, at ``scale`` pixels per point: True = ink."""
    out = io.BytesIO()
    with PdfStreamWriter(out) as writer:
        writer.add_page(b"0 g\n" + path + b"f\n", width_pt, height_pt)
    document = pdfium.PdfDocument(out.getvalue())
    try:
        return np.asarray(document[0].render(scale=scale).to_pil().convert("L")) < 128
    finally:
        document.close()


def grow(ink: np.ndarray) -> np.ndarray:
    """``ink`` grown by one pixel in every direction."""
    padded = np.pad(ink, 1)
    height, width = ink.shape
    grown = np.zeros_like(ink)
    for dy in range(3):
        for dx in range(3):
            grown |= padded[dy : dy + height, dx : dx + width]
    return grown


def test_outlines_match_freetype_rendering_of_the_same_font() -> None:
    """Quadratic curves made cubic, y up, glyph positions: the shapes FreeType draws from the
    same font file (which puts each glyph on whole pixels, hence a pixel of tolerance)."""
    text = "Gốm sứ Ấp Ỗi ỵ"  # no kerned pair: Pillow's basic layout does not kern
    size, scale = 30, 4
    font = default_font()
    path, advance = font.text_path(text, size, x=10, y=20)
    ours = rasterise_path(path, advance + 20, 70, scale)
    freetype = ImageFont.truetype(FONT_FILE, size * scale, layout_engine=ImageFont.Layout.BASIC)
    assert freetype.getlength(text) == pytest.approx(advance * scale, abs=0.5 * len(text))
    image = Image.new("L", (ours.shape[1], ours.shape[0]), 255)
    ImageDraw.Draw(image).text((10 * scale, 50 * scale), text, font=freetype, fill=0, anchor="ls")
    theirs = np.asarray(image) < 128
    assert ours.sum() == pytest.approx(theirs.sum(), rel=0.02)
    assert (ours & grow(theirs)).sum() / ours.sum() > 0.99
    assert (theirs & grow(ours)).sum() / theirs.sum() > 0.99
    # ... a comparison that other ink fails: the same text upside down
    other = np.asarray(image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)) < 128
    assert (other & grow(ours)).sum() / other.sum() < 0.5


def test_text_paths_are_plain_path_operators() -> None:
    font = default_font()
    path, advance = font.text_path(SIDE_TEXT, 8)
    assert advance > 0
    operators = set(re.sub(rb"-?\d+(\.\d+)?", b"", path).split())
    assert operators == {b"m", b"l", b"c", b"h"}
    assert font.text_path("", 8) == (b"", 0.0)
    assert font.text_path("   ", 8)[0] == b""  # spaces advance but draw nothing
    assert font.advance("   ", 8) > 0


def test_text_is_normalised_and_unknown_characters_are_visible() -> None:
    font = default_font()
    composed = font.text_path("Gốm sứ", 8)
    assert font.text_path("Go\u0302\u0301m su\u031b\u0301", 8) == composed  # NFD input
    assert font.text_path("Gốm\u200b sứ\x07", 8) == composed  # invisible characters dropped
    assert font.text_path("Gốm\tsứ", 8) == composed
    assert not font.has_char("漢")
    assert font.text_path("A漢B", 8) == font.text_path("A?B", 8)
    assert not font.has_char("क")
    assert font.text_path("Aक", 8) == font.text_path("A?", 8)


def test_kerning_pairs_are_applied() -> None:
    font = default_font()
    assert font.advance("Tr", 10) < font.advance("T", 10) + font.advance("r", 10)
    assert font.advance("ab", 10) == pytest.approx(font.advance("a", 10) + font.advance("b", 10))


def test_wrapping_and_fitting() -> None:
    font = OutlineFont(FONT_FILE)
    width = font.advance("Gốm sứ Bát", 8)
    assert wrap_text(font, "Gốm sứ Bát Tràng", 8, width) == ["Gốm sứ Bát", "Tràng"]
    assert wrap_text(font, "ABCDEFGHIJ", 8, font.advance("ABC", 8)) == ["ABC", "DEF", "GHI", "J"]
    assert wrap_text(font, "WWW", 8, 1) == ["W", "W", "W"]  # one character per line at least
    block = fit_text(font, SIDE_TEXT, 60, 60)
    assert block is not None and block.lines == ("Gốm sứ Bát", "Tràng – Lô", "BT-2611")
    narrow = font.advance("Gốm sứ Bát Tràng –", 8)  # no line starts with a dash
    assert wrap_text(font, SIDE_TEXT, 8, narrow) == ["Gốm sứ Bát Tràng –", "Lô BT-2611"]
    assert fit_text(font, SIDE_TEXT, 60, 60, max_lines=1) is None
    assert fit_text(font, "W", 1, 60) is None  # a character wider than the box
    with pytest.raises(ValueError, match="no visible text"):
        fit_text(font, " \u200b ", 60, 60)
    # The block's ink starts at its top edge and spans its height.
    path, _ = font.text_path("\n".join(block.lines), block.size_pt)  # just to compare sizes
    assert len(path) < len(block.path) * 1.1
    ink = rasterise_path(b"1 0 0 1 0 60 cm\n" + block.path, 60, 60, 10)
    ys = np.nonzero(ink.any(axis=1))[0]
    assert ys.min() <= 1 and abs((ys.max() + 1) / 10 - block.height_pt) < 0.2
