"""QR symbols: small enough for 25 mm stamps, and every one reads back exactly."""

from __future__ import annotations

import io
import random
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from traceqr.domain.keys import StampSigner
from traceqr.domain.qr import (
    QUIET_ZONE_MODULES,
    QRSymbol,
    png_bytes,
    qr_matrix,
    qr_matrix_best_mask,
    svg_text,
)
from traceqr.domain.stamp_format import CODE_LENGTH

PUBLIC_URL = "https://traceqr.hanoi.vn"  # 24 characters: a typical public host
ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
STAMPS = 300


def random_urls(count: int, seed: int) -> list[str]:
    """Stamp URLs with random keys, kids and serials (seeded, so failures repeat)."""
    rng = random.Random(seed)
    urls = []
    for _ in range(count):
        signer = StampSigner(rng.randbytes(4), rng.randbytes(32))
        urls.append(signer.issue(rng.randbytes(10)).url(PUBLIC_URL))
    return urls


def raster(symbol: QRSymbol, pixels: int = 4) -> np.ndarray:
    """Grey-scale image of the symbol with its quiet zone, ``pixels`` per module."""
    padded = np.pad(symbol.modules, QUIET_ZONE_MODULES, constant_values=False)
    return np.kron(np.where(padded, 0, 255).astype(np.uint8), np.ones((pixels, pixels), np.uint8))


def decode(image: np.ndarray | Image.Image) -> list[str]:
    return [
        result.text
        for result in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    ]


@pytest.fixture(scope="module")
def urls() -> list[str]:
    return random_urls(STAMPS, seed=20250101)


def test_stamp_urls_are_all_qr_alphanumeric(urls: list[str]) -> None:
    assert len(PUBLIC_URL) == 24
    for url in urls:
        assert len(url) == 24 + len("/S/") + CODE_LENGTH == 154
        assert set(url) <= ALPHANUMERIC, set(url) - ALPHANUMERIC


@pytest.mark.parametrize(("ecc", "largest_version"), [("M", 6), ("Q", 8)])
def test_every_symbol_is_small_and_decodes_to_the_exact_url(
    urls: list[str], ecc: str, largest_version: int
) -> None:
    for url in urls:
        symbol = qr_matrix(url, ecc)
        assert symbol.ecc == ecc
        assert symbol.version <= largest_version
        assert symbol.size == 17 + 4 * symbol.version == symbol.modules.shape[1]
        assert symbol.modules.dtype == np.bool_
        assert decode(raster(symbol)) == [url]


def test_the_fixed_mask_is_the_one_used(urls: list[str]) -> None:
    symbol = qr_matrix(urls[0], "Q")
    result = zxingcpp.read_barcodes(raster(symbol), formats=zxingcpp.BarcodeFormat.QRCode)[0]
    assert result.extra["DataMask"] == 3 and result.ec_level == "Q"
    best = qr_matrix_best_mask(urls[0], "Q")
    assert decode(raster(best)) == [urls[0]]
    assert best.size == symbol.size


def test_a_bad_error_correction_level_is_refused() -> None:
    with pytest.raises(ValueError, match="L, M, Q, H"):
        qr_matrix("HTTP://X/S/A", "Z")
    assert qr_matrix("HTTP://X/S/A", "q").ecc == "Q"


@pytest.mark.parametrize("module_pixels", [3, 8])
def test_png_images_decode(urls: list[str], module_pixels: int) -> None:
    for url in urls[:20]:
        symbol = qr_matrix(url, "Q")
        image = Image.open(io.BytesIO(png_bytes(symbol, module_pixels)))
        assert image.format == "PNG"
        side = (symbol.size + 2 * QUIET_ZONE_MODULES) * module_pixels
        assert image.size == (side, side)
        assert decode(image) == [url]
        # The quiet zone is white all round.
        pixels = np.asarray(image.convert("L"))
        border = QUIET_ZONE_MODULES * module_pixels
        assert pixels[:border].min() == pixels[-border:].min() == 255
        assert pixels[:, :border].min() == pixels[:, -border:].min() == 255


def svg_modules(svg: str) -> tuple[ET.Element, np.ndarray]:
    """Parse the SVG and rebuild the module matrix from its path of unit squares."""
    root = ET.fromstring(svg)  # raises on malformed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    _, _, width, height = (int(v) for v in root.attrib["viewBox"].split())
    assert width == height
    path = root.find("{http://www.w3.org/2000/svg}path")
    squares = re.findall(r"M(\d+) (\d+)h1v1h-1z", path.attrib["d"])
    assert "".join(f"M{x} {y}h1v1h-1z" for x, y in squares) == path.attrib["d"]
    matrix = np.zeros((height, width), dtype=bool)
    for x, y in squares:
        matrix[int(y), int(x)] = True
    return root, matrix


def test_svg_is_well_formed_and_draws_the_symbol(urls: list[str]) -> None:
    symbol = qr_matrix(urls[0], "Q")
    root, matrix = svg_modules(svg_text(symbol))
    assert "width" not in root.attrib and "height" not in root.attrib
    q = QUIET_ZONE_MODULES
    assert not matrix[:q].any() and not matrix[-q:].any()
    assert not matrix[:, :q].any() and not matrix[:, -q:].any()
    assert np.array_equal(matrix[q:-q, q:-q], symbol.modules)
    assert decode(raster(QRSymbol(matrix[q:-q, q:-q], "Q"))) == [urls[0]]


def test_svg_with_a_module_size_carries_its_physical_size(urls: list[str]) -> None:
    symbol = qr_matrix(urls[0], "Q")
    root, matrix = svg_modules(svg_text(symbol, module_mm=0.45))
    side_mm = (symbol.size + 2 * QUIET_ZONE_MODULES) * 0.45
    assert root.attrib["width"] == root.attrib["height"] == f"{side_mm:.3f}mm"
    assert np.array_equal(matrix[4:-4, 4:-4], symbol.modules)
