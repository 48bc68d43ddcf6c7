"""What a print shop gets for variable-data printing: the stamps as CSV, and a ZIP "print
pack" of that CSV, one SVG per stamp and a manifest.

The CSV (RFC 4180: comma separated, quoted where needed, CRLF line ends, UTF-8) has one row
per stamp in issue order, with the batch's fixed fields repeated on every row. The pack is::

    svg/000001-<serial>.svg ...   one QR per stamp, quiet zone included
    stamps.csv                    the CSV above
    manifest.json                 the caller's fields, the count, first and last seq, the
                                  SHA-256 of stamps.csv, the format version and the ECC

Both stream: stamps are read once, as they come; the CSV is spooled to a temporary file
(and hashed) while the SVGs go into the ZIP, then copied in.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import BinaryIO, Protocol

from traceqr.domain.qr import ECC_LEVELS, qr_matrix, svg_text
from traceqr.domain.spreadsheet import safe_dict_row

FIXED_COLUMNS = ("lot", "gtin", "product", "production_date", "expiry_date")
CSV_COLUMNS = ("seq", "serial", "short_code", "url", "active", "revoked", *FIXED_COLUMNS)
PACK_FORMAT = "traceqr-print-pack/1"
MANIFEST_FIELDS = (
    "format",
    "count",
    "first_seq",
    "last_seq",
    "ecc",
    "module_mm",
    "csv_sha256",
    "csv_columns",
)
SPOOL_BYTES = 8 * 1024 * 1024  # the CSV stays in memory up to this size, then on disk


class PrintPackError(ValueError):
    """A print pack that cannot be made; the message says why."""


class ExportRow(Protocol):
    """One stamp as exported (``traceqr.services.stamps.ExportedStamp`` is one)."""

    @property
    def seq(self) -> int: ...
    @property
    def serial_text(self) -> str: ...
    @property
    def short_code(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def revoked(self) -> bool: ...


@dataclass(frozen=True)
class PackSummary:
    count: int
    first_seq: int
    last_seq: int
    csv_sha256: str  # hex
    entries: int  # files in the ZIP


def _fixed_row(fixed: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(fixed) - set(FIXED_COLUMNS))
    if unknown:
        raise PrintPackError(
            f"unknown fixed columns {', '.join(unknown)}; use {', '.join(FIXED_COLUMNS)}"
        )
    return {name: str(fixed.get(name) or "") for name in FIXED_COLUMNS}


def _row(stamp: ExportRow, fixed: dict[str, str], with_pin: bool = False) -> dict[str, object]:
    row: dict[str, object] = {
        "seq": stamp.seq,
        "serial": stamp.serial_text,
        "short_code": stamp.short_code,
        "url": stamp.url,
        "active": "true" if stamp.active else "false",
        "revoked": "true" if stamp.revoked else "false",
        **fixed,
    }
    if with_pin:
        row["pin"] = getattr(stamp, "pin", None) or ""
    return row


def csv_chunks(
    stamps: Iterable[ExportRow],
    fixed: Mapping[str, str],
    rows_per_chunk: int = 1000,
    *,
    with_pin: bool = False,
) -> Iterator[str]:
    """The CSV as text chunks: the header line first, then ``rows_per_chunk`` rows at a
    time, read from ``stamps`` only as the chunks are asked for. ``fixed`` gives the batch
    columns (lot, gtin, product, production_date, expiry_date); missing ones are empty.
    ``with_pin`` adds a last column with each stamp's scratch-off PIN, for the printer.
    Wrong arguments raise :class:`PrintPackError` here, before the first chunk."""
    if rows_per_chunk < 1:
        raise PrintPackError("rows_per_chunk must be at least 1")
    return _csv_chunks(stamps, _fixed_row(fixed), rows_per_chunk, with_pin)


def _csv_chunks(
    stamps: Iterable[ExportRow], fixed_row: dict[str, str], rows_per_chunk: int, with_pin: bool
) -> Iterator[str]:
    buffer = io.StringIO()
    columns = (*CSV_COLUMNS, "pin") if with_pin else CSV_COLUMNS
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for rows, stamp in enumerate(stamps, 1):
        writer.writerow(safe_dict_row(_row(stamp, fixed_row, with_pin)))
        if rows % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def svg_name(stamp: ExportRow) -> str:
    """``svg/000042-<serial>.svg``; anything but letters, digits and ``-`` becomes ``_``."""
    return f"svg/{stamp.seq:06d}-{re.sub(r'[^0-9A-Za-z-]', '_', stamp.serial_text)}.svg"


def write_print_pack(
    out: BinaryIO,
    stamps: Iterable[ExportRow],
    fixed: Mapping[str, str],
    manifest: Mapping[str, object],
    *,
    ecc: str = "Q",
    module_mm: float | None = None,
    with_pin: bool = False,
) -> PackSummary:
    """Write the print pack ZIP of ``stamps`` to ``out`` (which only needs ``write``).

    Each SVG is the stamp's QR at error-correction level ``ecc``, with a physical size when
    ``module_mm`` (the module size in mm) is given. ``manifest`` holds the caller's fields
    (business, batch, product...: anything JSON can show; dates become strings); the pack
    adds its own, which ``manifest`` must not use. Raises :class:`PrintPackError` before
    writing anything when there are no stamps or a field is wrong.
    """
    level = ecc.upper() if isinstance(ecc, str) else ""
    if level not in ECC_LEVELS:
        raise PrintPackError(f"ecc must be one of L, M, Q, H; got {ecc!r}")
    if module_mm is not None and not module_mm > 0:
        raise PrintPackError("module_mm must be greater than 0")
    reserved = sorted(set(manifest) & set(MANIFEST_FIELDS))
    if reserved:
        raise PrintPackError(f"the pack writes {', '.join(reserved)} in the manifest itself")
    fixed_row = _fixed_row(fixed)
    iterator = iter(stamps)
    first = next(iterator, None)
    if first is None:
        raise PrintPackError("no stamps to pack")

    now = time.localtime()
    written = (now.tm_year, now.tm_mon, now.tm_mday, now.tm_hour, now.tm_min, now.tm_sec)
    digest = hashlib.sha256()
    count, last_seq = 0, first.seq

    with (
        tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):

        def svgs() -> Iterator[ExportRow]:
            """The stamps, each one's SVG added to the ZIP as it passes to the CSV."""
            nonlocal count, last_seq
            for stamp in chain((first,), iterator):
                if count and stamp.seq <= last_seq:
                    raise PrintPackError(
                        f"stamps must come in increasing seq order: {stamp.seq} after {last_seq}"
                    )
                symbol = qr_matrix(stamp.url, level)
                archive.writestr(_entry(svg_name(stamp), written), svg_text(symbol, module_mm))
                count += 1
                last_seq = stamp.seq
                yield stamp

        for chunk in csv_chunks(svgs(), fixed_row, with_pin=with_pin):
            data = chunk.encode("utf-8")
            digest.update(data)
            spool.write(data)
        csv_entry = _entry("stamps.csv", written)
        csv_entry.file_size = spool.tell()  # lets zipfile choose ZIP64 up front if needed
        spool.seek(0)
        with archive.open(csv_entry, "w") as target:
            shutil.copyfileobj(spool, target, 1024 * 1024)
        fields = {
            **manifest,
            "format": PACK_FORMAT,
            "count": count,
            "first_seq": first.seq,
            "last_seq": last_seq,
            "ecc": level,
            "module_mm": module_mm,
            "csv_sha256": digest.hexdigest(),
            "csv_columns": [*CSV_COLUMNS, "pin"] if with_pin else list(CSV_COLUMNS),
        }
        text = json.dumps(fields, ensure_ascii=False, indent=2, default=str) + "\n"
        archive.writestr(_entry("manifest.json", written), text)
        entries = len(archive.infolist())
    return PackSummary(count, first.seq, last_seq, digest.hexdigest(), entries)


def _entry(name: str, written: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=written)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16  # rw-r--r-- for unzip on Unix
    return info
