"""Text as vector outlines: the glyphs of a TrueType font turned into PDF path operators.

Stamp sheets print a line of Vietnamese beside each QR. The base-14 PDF fonts have no
Vietnamese letters and embedding a font is a lot of machinery for one line of text, so the
text is drawn as filled outlines instead (``m l c h`` operators, filled with ``f``): each
glyph is read once from the font with fontTools, its quadratic TrueType curves turned into
cubic ones, and cached in font units. A printer sees only paths, so it prints exactly what
the preview shows, with no font to substitute.

Text is NFC-normalised first (some keyboards send "ố" as o + U+0302 + U+0301), whitespace
becomes a space, invisible control and format characters are dropped, and a character the
font lacks is drawn as ``?``. Pairs are kerned with the font's ``kern`` table; there is no
other shaping (none is needed for Vietnamese in its precomposed form).
"""

from __future__ import annotations

import io
import math
import threading
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO

from fontTools.pens.basePen import BasePen
from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib import TTFont

DEFAULT_FONT = "DejaVuSans.ttf"  # in traceqr/data/fonts/, with its licence
REPLACEMENT = "?"
DASHES = ("-", "–", "—")  # hyphen-minus, en dash, em dash
Segment = tuple[bytes, tuple[float, ...]]  # operator, coordinates in font units


@dataclass(frozen=True, slots=True)
class _Glyph:
    advance: int  # font units
    segments: tuple[Segment, ...]
    bounds: tuple[float, float] | None  # lowest and highest ink (font units); None if blank


class _SegmentPen(BasePen):
    """Collects a glyph's outline; BasePen splits TrueType quadratics and makes them cubic."""

    def __init__(self, glyph_set: Any) -> None:
        super().__init__(glyph_set)
        self.segments: list[Segment] = []

    def _moveTo(self, pt: tuple[float, float]) -> None:
        self.segments.append((b"m", pt))

    def _lineTo(self, pt: tuple[float, float]) -> None:
        self.segments.append((b"l", pt))

    def _curveToOne(
        self, pt1: tuple[float, float], pt2: tuple[float, float], pt3: tuple[float, float]
    ) -> None:
        self.segments.append((b"c", (*pt1, *pt2, *pt3)))

    def _closePath(self) -> None:
        self.segments.append((b"h", ()))

    def _endPath(self) -> None:
        """An open contour: filling closes it anyway."""


def _number(value: float) -> bytes:
    """At most two decimals (1/100 pt is 0.0035 mm), no trailing zeros, no ``-0``."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return b"0" if text in ("", "-0") else text.encode()


def clean_text(text: str) -> str:
    """``text`` as it will be drawn: NFC, whitespace as spaces, no control characters."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        if char.isspace():
            out.append(" ")
        elif unicodedata.category(char) not in ("Cc", "Cf"):
            out.append(char)
    return "".join(out)


class OutlineFont:
    """A TrueType font whose glyphs are drawn as PDF paths. Safe to share between threads."""

    def __init__(self, source: str | PathLike[str] | BinaryIO) -> None:
        if isinstance(source, str | PathLike):
            source = io.BytesIO(Path(source).read_bytes())  # no file left open
        self._font = TTFont(source, lazy=True)
        self.units_per_em: int = self._font["head"].unitsPerEm
        self._cmap: dict[int, str] = self._font.getBestCmap()
        self._glyph_set = self._font.getGlyphSet()
        self._replacement = self._cmap.get(ord(REPLACEMENT), ".notdef")
        self._kerning: dict[tuple[str, str], int] = {}
        if "kern" in self._font:
            for table in self._font["kern"].kernTables:
                if getattr(table, "format", None) == 0:
                    self._kerning.update(table.kernTable)
        self._glyphs: dict[str, _Glyph] = {}
        self._lock = threading.Lock()  # fontTools decompiles lazily: one reader at a time

    def has_char(self, char: str) -> bool:
        return ord(char) in self._cmap

    def _glyph(self, name: str) -> _Glyph:
        glyph = self._glyphs.get(name)
        if glyph is None:
            with self._lock:
                source = self._glyph_set[name]
                pen = _SegmentPen(self._glyph_set)
                source.draw(pen)
                bounds_pen = BoundsPen(self._glyph_set)
                source.draw(bounds_pen)
                box = bounds_pen.bounds
                glyph = _Glyph(
                    advance=source.width,
                    segments=tuple(pen.segments),
                    bounds=(box[1], box[3]) if box else None,
                )
                self._glyphs[name] = glyph
        return glyph

    def _layout(self, text: str) -> list[tuple[float, _Glyph]]:
        """Each glyph of ``text`` with its pen position (font units)."""
        placed = []
        x = 0.0
        previous = None
        for char in clean_text(text):
            name = self._cmap.get(ord(char), self._replacement)
            if previous is not None:
                x += self._kerning.get((previous, name), 0)
            glyph = self._glyph(name)
            placed.append((x, glyph))
            x += glyph.advance
            previous = name
        placed.append((x, _Glyph(0, (), None)))  # the end of the text
        return placed

    def advance(self, text: str, size_pt: float) -> float:
        """The width of ``text`` set at ``size_pt`` (from its start to the next pen position)."""
        return self._layout(text)[-1][0] * size_pt / self.units_per_em

    def ink_extent(self, text: str, size_pt: float) -> tuple[float, float] | None:
        """The lowest and highest ink of ``text`` relative to its baseline (pt), or
        ``None`` when nothing would be drawn."""
        boxes = [glyph.bounds for _x, glyph in self._layout(text) if glyph.bounds]
        if not boxes:
            return None
        scale = size_pt / self.units_per_em
        return min(low for low, _ in boxes) * scale, max(high for _, high in boxes) * scale

    def text_path(
        self, text: str, size_pt: float, x: float = 0.0, y: float = 0.0
    ) -> tuple[bytes, float]:
        """PDF path operators drawing ``text`` at ``size_pt`` with its baseline starting at
        (``x``, ``y``) in a y-up coordinate system in points, and the text's advance width.
        Fill the path with ``f`` (non-zero winding, as TrueType outlines need)."""
        scale = size_pt / self.units_per_em
        parts: list[bytes] = []
        placed = self._layout(text)
        for pen_x, glyph in placed:
            for operator, coords in glyph.segments:
                numbers = [
                    _number((value + pen_x) * scale + x if index % 2 == 0 else value * scale + y)
                    for index, value in enumerate(coords)
                ]
                parts.append(b" ".join([*numbers, operator]))
        return b"\n".join(parts) + (b"\n" if parts else b""), placed[-1][0] * scale


@cache
def default_font() -> OutlineFont:
    """DejaVu Sans from the package data, loaded on first use, once per process."""
    data = (resources.files("traceqr.data") / "fonts" / DEFAULT_FONT).read_bytes()
    return OutlineFont(io.BytesIO(data))


@dataclass(frozen=True, slots=True)
class TextBlock:
    """Lines set in one size as one path (fill with ``f``).

    Coordinates are points, y up, with the origin at the left end of the block's top: the
    lines start at x = 0 and the highest ink touches y = 0, so everything drawn lies in
    0 ≤ x, -height_pt ≤ y ≤ 0 (glyphs may overhang their advance by a hair at the right).
    """

    lines: tuple[str, ...]
    size_pt: float
    width_pt: float  # the widest line's advance
    height_pt: float  # from the highest ink to the lowest
    path: bytes


def _words(paragraph: str) -> list[str]:
    """The words of ``paragraph``, a lone dash kept with the word before it, so that no
    line starts with a dash ("Bát Tràng –" / "Lô 7", not "Bát Tràng" / "– Lô 7")."""
    words: list[str] = []
    for word in paragraph.split():
        if words and word in DASHES:
            words[-1] += " " + word
        else:
            words.append(word)
    return words


def wrap_text(font: OutlineFont, text: str, size_pt: float, width_pt: float) -> list[str]:
    """Greedy word wrap to ``width_pt``; line breaks in ``text`` are kept, blank lines
    dropped, and a word longer than a line is broken between characters."""
    lines: list[str] = []
    for paragraph in unicodedata.normalize("NFC", text).splitlines():
        line = ""
        for word in _words(paragraph):
            candidate = f"{line} {word}" if line else word
            if font.advance(candidate, size_pt) <= width_pt:
                line = candidate
                continue
            if line:
                lines.append(line)
            while len(word) > 1 and font.advance(word, size_pt) > width_pt:
                cut = 1
                while cut + 1 < len(word) and font.advance(word[: cut + 1], size_pt) <= width_pt:
                    cut += 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        if line:
            lines.append(line)
    return lines


def set_lines(
    font: OutlineFont, lines: list[str], size_pt: float, leading: float = 1.2
) -> TextBlock:
    """``lines`` one under the other, ``leading`` × ``size_pt`` apart, as a :class:`TextBlock`."""
    pitch = leading * size_pt
    top, bottom = -math.inf, math.inf
    for index, line in enumerate(lines):
        extent = font.ink_extent(line, size_pt)
        if extent is not None:
            bottom = min(bottom, extent[0] - index * pitch)
            top = max(top, extent[1] - index * pitch)
    if top == -math.inf:
        raise ValueError("no visible text to set")
    paths, widths = [], []
    for index, line in enumerate(lines):
        path, width = font.text_path(line, size_pt, 0.0, -top - index * pitch)
        paths.append(path)
        widths.append(width)
    return TextBlock(
        lines=tuple(lines),
        size_pt=size_pt,
        width_pt=max(widths),
        height_pt=top - bottom,
        path=b"".join(paths),
    )


def fit_text(
    font: OutlineFont,
    text: str,
    width_pt: float,
    height_pt: float,
    *,
    max_lines: int = 3,
    max_pt: float = 9.0,
    min_pt: float = 4.5,
    step_pt: float = 0.25,
    leading: float = 1.2,
) -> TextBlock | None:
    """``text`` wrapped into a ``width_pt`` × ``height_pt`` box in at most ``max_lines``
    lines, at the largest size from ``max_pt`` down to ``min_pt`` (in steps of ``step_pt``)
    that fits; ``None`` if even ``min_pt`` does not. Raises ValueError for blank text."""
    if not clean_text(text).strip():
        raise ValueError("no visible text to set")
    steps = max(0, math.floor((max_pt - min_pt) / step_pt + 1e-9))
    for step in range(steps + 1):
        size = max_pt - step * step_pt
        lines = wrap_text(font, text, size, width_pt)
        if not 0 < len(lines) <= max_lines:
            continue
        if any(font.advance(line, size) > width_pt for line in lines):
            continue  # a single character wider than the box
        block = set_lines(font, lines, size, leading)
        if block.height_pt <= height_pt:
            return block
    return None
