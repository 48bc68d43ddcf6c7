"""Downloads shared by the API and the portal: the stamps CSV and spooled files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from flask import Response

from traceqr.models import Batch, Product
from traceqr.services.stamps import iter_batch_stamps
from traceqr.state import AppState


def safe_filename(text: str) -> str:
    return "".join(ch if (ch.isalnum() and ch.isascii()) or ch in "-_" else "_" for ch in text)[:40]


def fixed_csv_fields(batch: Batch, product: Product) -> dict[str, str]:
    """The columns every row of a batch shares, for variable-data printers."""
    return {
        "lot": batch.lot,
        "gtin": product.gtin or "",
        "product": product.name,
        "production_date": batch.production_date.isoformat() if batch.production_date else "",
        "expiry_date": batch.expiry_date.isoformat() if batch.expiry_date else "",
    }


def csv_response(state: AppState, batch: Batch, product: Product) -> Response:
    """Every stamp of the batch, in issue order, streamed as RFC 4180 CSV."""
    from traceqr.domain.print_pack import csv_chunks

    database, public_url, pins = state.database, state.settings.public_url, state.pins
    batch_id, fixed, with_pin = batch.id, fixed_csv_fields(batch, product), batch.with_pin

    def body() -> Iterator[str]:
        # The answer streams after the view returns: read with a session of its own.
        with database.session() as session:
            streamed = session.get(Batch, batch_id)
            assert streamed is not None
            stamps = iter_batch_stamps(session, streamed, public_url, pins=pins)
            yield from csv_chunks(stamps, fixed, with_pin=with_pin)

    response = Response(body(), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="stamps-batch{batch.id}-{safe_filename(batch.lot)}.csv"'
    )
    return response


def file_response(spool: IO[bytes], mimetype: str, filename: str) -> Response:
    """Send a spooled file in blocks and close it, also when the client goes away."""
    size = spool.tell()
    spool.seek(0)

    def blocks() -> Iterator[bytes]:
        try:
            while block := spool.read(256 * 1024):
                yield block
        finally:
            spool.close()

    response = Response(blocks(), mimetype=mimetype)
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def saved_file_response(path: Path, mimetype: str, filename: str) -> Response:
    """A file kept on disk, sent like a spooled one."""
    handle = path.open("rb")
    handle.seek(0, 2)  # file_response sends up to where the file is positioned
    return file_response(handle, mimetype, filename)


def file_bytes_response(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
