"""QR symbols for stamps.

Two encoders, one result type (a boolean module matrix, True = dark, no quiet zone):

* :func:`qr_matrix` — zxing-cpp with the mask pattern fixed, about 80 µs per stamp: the
  fast path for sheets of thousands. The mask is fixed because choosing it costs eight
  encodings; our payloads are base32 text, which never produces the long runs that mask
  selection guards against, and the test suite decodes thousands of symbols to prove it.
* :func:`qr_matrix_best_mask` — the same encoder choosing the mask by the standard's
  penalty rules, for one-off images.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import zxingcpp

ECC_LEVELS = ("L", "M", "Q", "H")
QUIET_ZONE_MODULES = 4
FIXED_MASK = 3

# Alphanumeric-mode capacity (characters) by version and error-correction level,
# from ISO/IEC 18004 table 7, for versions 1-10.
ALPHANUMERIC_CAPACITY = {
    "L": (25, 47, 77, 114, 154, 195, 224, 279, 335, 395),
    "M": (20, 38, 61, 90, 122, 154, 178, 221, 262, 311),
    "Q": (16, 29, 47, 67, 87, 108, 125, 157, 189, 221),
    "H": (10, 20, 35, 50, 64, 84, 93, 122, 143, 174),
}


@dataclass(frozen=True, slots=True)
class QRSymbol:
    modules: np.ndarray  # bool, shape (n, n), True = dark
    ecc: str

    @property
    def size(self) -> int:
        return int(self.modules.shape[0])

    @property
    def version(self) -> int:
        return (self.size - 17) // 4


def _check_ecc(ecc: str) -> str:
    level = ecc.upper()
    if level not in ECC_LEVELS:
        raise ValueError(f"error-correction level must be one of L, M, Q, H; got {ecc!r}")
    return level


def qr_matrix(text: str, ecc: str = "Q", mask: int | None = FIXED_MASK) -> QRSymbol:
    """Encode ``text``; ``mask=None`` lets the encoder pick the mask (8× slower)."""
    level = _check_ecc(ecc)
    options = {"ec_level": level}
    if mask is not None:
        options["data_mask"] = mask
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, **options)
    image = np.asarray(barcode.to_image(scale=1, add_quiet_zones=False))
    return QRSymbol(modules=image < 128, ecc=level)


def qr_matrix_best_mask(text: str, ecc: str = "Q") -> QRSymbol:
    return qr_matrix(text, ecc, mask=None)


def png_bytes(symbol: QRSymbol, module_pixels: int = 8) -> bytes:
    """A PNG of the symbol with its 4-module quiet zone, for screens."""
    from PIL import Image

    padded = np.pad(symbol.modules, QUIET_ZONE_MODULES, constant_values=False)
    pixels = np.where(padded, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, mode="L").resize(
        (padded.shape[1] * module_pixels, padded.shape[0] * module_pixels), Image.NEAREST
    )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def svg_text(symbol: QRSymbol, module_mm: float | None = None) -> str:
    """An SVG of the symbol with its quiet zone, one path of unit squares.

    With ``module_mm`` the SVG carries a physical size, for print shops.
    """
    size = symbol.size + 2 * QUIET_ZONE_MODULES
    parts = []
    rows, cols = np.nonzero(symbol.modules)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        parts.append(f"M{c + QUIET_ZONE_MODULES} {r + QUIET_ZONE_MODULES}h1v1h-1z")
    dims = (
        f' width="{size * module_mm:.3f}mm" height="{size * module_mm:.3f}mm"' if module_mm else ""
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}"{dims}'
        ' shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(parts)}"/></svg>'
    )


def decode_qr_texts(image_data: bytes, max_pixels: int = 40_000_000) -> list[str]:
    """Every QR code zxing-cpp finds in a photo, in reading order, duplicates removed.

    A photo of a shelf may hold several stamps. Large photos are also tried at a smaller
    size, which helps the detector with printed codes photographed close up.
    """
    from PIL import Image, ImageOps

    try:
        # Only the photo formats: Pillow's other readers (EPS hands files to Ghostscript)
        # have no business with uploads.
        opened = Image.open(io.BytesIO(image_data), formats=["JPEG", "PNG", "WEBP"])
    except Image.DecompressionBombError as exc:  # not a ValueError: say it as one
        raise ValueError("the image has too many pixels") from exc
    with opened:
        if opened.width * opened.height > max_pixels:
            raise ValueError("the image has too many pixels")
        image = ImageOps.exif_transpose(opened).convert("L")
    found: dict[str, None] = {}
    attempts = [image]
    if max(image.size) > 1600:
        smaller = image.copy()
        smaller.thumbnail((1600, 1600))
        attempts.append(smaller)
    for attempt in attempts:
        for result in zxingcpp.read_barcodes(attempt, formats=zxingcpp.BarcodeFormat.QRCode):
            if result.valid and result.text:
                found.setdefault(result.text, None)
    return list(found)
