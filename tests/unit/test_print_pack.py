"""The stamps CSV and the print-shop ZIP: contents, order, integrity, and streaming."""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from tests.unit.test_qr import svg_modules
from traceqr.domain.keys import StampSigner, generate_seed, new_kid
from traceqr.domain.print_pack import (
    CSV_COLUMNS,
    PACK_FORMAT,
    PackSummary,
    PrintPackError,
    csv_chunks,
    write_print_pack,
)
from traceqr.domain.qr import QUIET_ZONE_MODULES, qr_matrix
from traceqr.domain.stamp_format import serial_text, short_code

PUBLIC_URL = "https://traceqr.example.vn"
FIXED = {
    "lot": "BT-2611",
    "gtin": "08930000000012",
    "product": 'Bình gốm "men lam", 30 cm',  # a comma and quotes: the field is quoted
    "production_date": "2025-11-20",
    "expiry_date": "",
}


@dataclass(frozen=True)
class Row:
    """Shaped like traceqr.services.stamps.ExportedStamp."""

    seq: int
    serial: bytes
    url: str
    active: bool
    revoked: bool

    @property
    def serial_text(self) -> str:
        return serial_text(self.serial)

    @property
    def short_code(self) -> str:
        return short_code(self.serial)


def make_rows(count: int, first_seq: int = 1) -> list[Row]:
    signer = StampSigner(new_kid(), generate_seed())
    rows = []
    for index in range(count):
        stamp = signer.issue(os.urandom(10))
        rows.append(
            Row(first_seq + index, stamp.serial, stamp.url(PUBLIC_URL), index % 3 == 0, index == 1)
        )
    return rows


def reference_csv(rows: list[Row], fixed: dict[str, str]) -> str:
    """The CSV as the API wrote it before the format moved to the domain."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for item in rows:
        writer.writerow(
            {
                "seq": item.seq,
                "serial": item.serial_text,
                "short_code": item.short_code,
                "url": item.url,
                "active": "true" if item.active else "false",
                "revoked": "true" if item.revoked else "false",
                **fixed,
            }
        )
    return buffer.getvalue()


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return make_rows(25, first_seq=41)


# --- CSV -----------------------------------------------------------------------------------


def test_the_csv_keeps_the_api_format(rows: list[Row]) -> None:
    assert CSV_COLUMNS == (
        "seq", "serial", "short_code", "url", "active", "revoked",
        "lot", "gtin", "product", "production_date", "expiry_date",
    )  # fmt: skip
    chunks = list(csv_chunks(rows, FIXED, rows_per_chunk=10))
    assert chunks[0] == ",".join(CSV_COLUMNS) + "\r\n"  # the header on its own, first
    assert [chunk.count("\r\n") for chunk in chunks[1:]] == [10, 10, 5]
    text = "".join(chunks)
    assert text == reference_csv(rows, FIXED)
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [int(row["seq"]) for row in parsed] == [row.seq for row in rows]
    assert parsed[0]["product"] == FIXED["product"]
    assert parsed[1]["revoked"] == "true" and parsed[0]["active"] == "true"
    assert '"Bình gốm ""men lam"", 30 cm"' in text


def test_csv_fixed_columns_may_be_missing_but_not_unknown(rows: list[Row]) -> None:
    text = "".join(csv_chunks(rows[:2], {"lot": "L1"}))
    assert text == reference_csv(rows[:2], {"lot": "L1", **dict.fromkeys(CSV_COLUMNS[7:], "")})
    with pytest.raises(PrintPackError, match="unknown fixed columns colour"):
        csv_chunks(rows, {"colour": "blue"})  # at once, before a response starts
    with pytest.raises(PrintPackError, match="rows_per_chunk must be at least 1"):
        csv_chunks(rows, {}, rows_per_chunk=0)
    assert list(csv_chunks([], {})) == [",".join(CSV_COLUMNS) + "\r\n"]


def test_the_csv_reads_stamps_only_as_chunks_are_asked_for(rows: list[Row]) -> None:
    taken: list[int] = []

    def stamps() -> Iterator[Row]:
        for row in rows:
            taken.append(row.seq)
            yield row

    chunks = csv_chunks(stamps(), FIXED, rows_per_chunk=10)
    assert taken == []
    next(chunks)  # the header
    assert taken == []
    next(chunks)
    assert len(taken) == 10


# --- Print pack ----------------------------------------------------------------------------


def pack(rows: list[Row], **kwargs: object) -> tuple[bytes, PackSummary]:
    out = io.BytesIO()
    manifest = {"business": "Gốm sứ Bát Tràng", "batch_id": 7}
    summary = write_print_pack(out, rows, FIXED, manifest, **kwargs)  # type: ignore[arg-type]
    return out.getvalue(), summary


def test_the_pack_holds_the_csv_the_manifest_and_one_svg_per_stamp(rows: list[Row]) -> None:
    data, summary = pack(rows, ecc="m", module_mm=0.45)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        svg_names = [f"svg/{row.seq:06d}-{row.serial_text}.svg" for row in rows]
        assert names == [*svg_names, "stamps.csv", "manifest.json"]
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
        stamps_csv = archive.read("stamps.csv")
        manifest = json.loads(archive.read("manifest.json"))
        svgs = [archive.read(name).decode() for name in svg_names]

    assert stamps_csv.decode("utf-8") == reference_csv(rows, FIXED)
    digest = hashlib.sha256(stamps_csv).hexdigest()
    assert manifest == {
        "business": "Gốm sứ Bát Tràng",
        "batch_id": 7,
        "format": PACK_FORMAT,
        "count": 25,
        "first_seq": 41,
        "last_seq": 65,
        "ecc": "M",
        "module_mm": 0.45,
        "csv_sha256": digest,
        "csv_columns": list(CSV_COLUMNS),
    }
    assert summary == PackSummary(
        count=25, first_seq=41, last_seq=65, csv_sha256=digest, entries=27
    )
    q = QUIET_ZONE_MODULES
    for row, svg in zip(rows, svgs, strict=True):
        root, matrix = svg_modules(svg)
        symbol = qr_matrix(row.url, "M")
        assert np.array_equal(matrix[q:-q, q:-q], symbol.modules)
        assert not matrix[:q].any() and not matrix[-q:].any()
        assert root.attrib["width"] == f"{(symbol.size + 2 * q) * 0.45:.3f}mm"


def test_without_a_module_size_the_svgs_have_no_physical_size(rows: list[Row]) -> None:
    data, _ = pack(rows[:2])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        svg = archive.read(f"svg/{rows[0].seq:06d}-{rows[0].serial_text}.svg").decode()
        manifest = json.loads(archive.read("manifest.json"))
    root, matrix = svg_modules(svg)
    assert "width" not in root.attrib
    assert np.array_equal(matrix[4:-4, 4:-4], qr_matrix(rows[0].url, "Q").modules)
    assert manifest["ecc"] == "Q" and manifest["module_mm"] is None


def test_the_pack_streams_stamps_through_once(rows: list[Row]) -> None:
    """The generator is read once, lazily, and the ZIP grows while it is read, on an output
    that cannot seek."""

    class Pipe:
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def write(self, data: bytes) -> int:
            self.chunks.append(bytes(data))
            return len(data)

        def flush(self) -> None:
            pass

        def size(self) -> int:
            return sum(len(chunk) for chunk in self.chunks)

    pipe = Pipe()
    sizes: list[int] = []
    many = rows * 8  # 200 stamps
    many = [
        Row(index + 1, row.serial, row.url, row.active, row.revoked)
        for index, row in enumerate(many)
    ]

    def stamps() -> Iterator[Row]:
        for row in many:
            sizes.append(pipe.size())
            yield row

    summary = write_print_pack(pipe, stamps(), FIXED, {}, ecc="Q")  # type: ignore[arg-type]
    assert summary.count == len(sizes) == 200
    assert sizes[0] == 0 and sizes[100] > 0 and sizes[-1] > sizes[100]  # written as it goes
    with zipfile.ZipFile(io.BytesIO(b"".join(pipe.chunks))) as archive:
        assert archive.testzip() is None
        assert len(archive.namelist()) == 202
        lines = archive.read("stamps.csv").decode().splitlines()
        assert len(lines) == 201


@pytest.mark.parametrize(
    ("stamps", "fixed", "manifest", "kwargs", "message"),
    [
        ([], {}, {}, {}, "no stamps to pack"),
        (None, {}, {"count": 3}, {}, "the pack writes count in the manifest itself"),
        (None, {"color": "red"}, {}, {}, "unknown fixed columns color"),
        (None, {}, {}, {"ecc": "X"}, "ecc must be one of L, M, Q, H"),
        (None, {}, {}, {"module_mm": 0}, "module_mm must be greater than 0"),
    ],
)
def test_packs_that_cannot_be_made_are_refused_before_writing(
    rows: list[Row],
    stamps: list[Row] | None,
    fixed: dict[str, str],
    manifest: dict[str, object],
    kwargs: dict[str, object],
    message: str,
) -> None:
    out = io.BytesIO()
    with pytest.raises(PrintPackError, match=message):
        write_print_pack(out, rows if stamps is None else stamps, fixed, manifest, **kwargs)  # type: ignore[arg-type]
    assert out.getvalue() == b""


def test_stamps_out_of_order_stop_the_pack(rows: list[Row]) -> None:
    with pytest.raises(PrintPackError, match="increasing seq order: 41 after 42"):
        write_print_pack(io.BytesIO(), [rows[1], rows[0]], FIXED, {})


def test_manifest_values_json_cannot_show_become_text(rows: list[Row]) -> None:
    out = io.BytesIO()
    write_print_pack(out, rows[:1], FIXED, {"generated_at": datetime.date(2025, 11, 20)})
    with zipfile.ZipFile(out) as archive:
        assert json.loads(archive.read("manifest.json"))["generated_at"] == "2025-11-20"
