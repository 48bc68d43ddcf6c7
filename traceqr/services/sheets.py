"""A batch's stamp sheet: the one place that turns a batch's stored stamps into the vector
PDF, for the CLI, the API, the portal and background jobs alike.

A sheet written while a request waits is bounded (``TRACEQR_SYNC_SHEET_MAX_STAMPS``): a
100,000-stamp sheet takes a minute of a web worker, and two of them kept shoppers waiting.
Larger sheets are background jobs; :func:`check_sync_sheet` refuses before any work."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from traceqr.domain.keys import PURPOSE_TEST
from traceqr.domain.pins import PinScheme
from traceqr.domain.sheet import (
    TEST_FOOTER,
    SheetLayout,
    SheetStamp,
    SheetSummary,
    render_sheet,
)
from traceqr.errors import N_, TraceQRError, ValidationError
from traceqr.models import Batch, SigningKey, Stamp
from traceqr.services.stamps import EXPORT_CHUNK, iter_batch_stamps

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 1000  # stamps between two progress calls


class SheetTooLarge(TraceQRError):
    """Too many stamps to write the sheet while the request waits: use a sheet job."""

    code = "sheet_too_large"
    http_status = 413


def check_sync_sheet(batch: Batch, max_stamps: int | None) -> None:
    """Refuse (:class:`SheetTooLarge`) to write ``batch``'s sheet in a request when it has
    more than ``max_stamps`` stamps (None or 0: no bound); checks nothing else, reads
    nothing, so the refusal costs nothing."""
    if max_stamps and batch.stamps_total > max_stamps:
        raise SheetTooLarge(
            N_(
                "this batch has %(count)s stamps; a sheet of more than %(max)s is written "
                "in the background: POST /api/v1/batches/%(id)s/sheet-jobs, then download "
                "the job's sheet when it is done"
            ),
            count=batch.stamps_total,
            max=max_stamps,
            id=batch.id,
        )


def sheet_stamps(
    session: Session,
    batch: Batch,
    public_url: str,
    pins: PinScheme | None,
    *,
    limit: int | None = None,
) -> Iterator[SheetStamp]:
    """The batch's stamps as a sheet prints them, in issue order, with their PINs when the
    batch prints them; the first ``limit`` only when given."""
    chunk = min(limit, EXPORT_CHUNK) if limit is not None else EXPORT_CHUNK
    exported = iter_batch_stamps(session, batch, public_url, chunk=chunk, pins=pins)
    for index, item in enumerate(exported):
        if limit is not None and index >= limit:
            return
        yield SheetStamp(
            url=item.url, short_code=item.short_code, seq=item.seq, pin=item.pin, test=item.test
        )


def write_batch_sheet(
    session: Session,
    batch: Batch,
    public_url: str,
    pins: PinScheme | None,
    out: BinaryIO,
    layout: SheetLayout,
    *,
    side_text: str | None = None,
    logo: bytes | None = None,
    progress: Progress | None = None,
    total: int | None = None,
) -> SheetSummary:
    """Write the sheet of the batch's first ``total`` stamps (default: all it has now) to
    ``out``; ``progress(done, total)`` after every thousand stamps read and at the end.
    Stamps issued while it writes are not on it. Raises :class:`ValidationError` for a
    batch without stamps and :class:`SheetLayoutError` for a layout that does not fit."""
    total = batch.stamps_total if total is None else total
    if total == 0:
        raise ValidationError(N_("this batch has no stamps yet: issue some first"))
    # Sequence numbers run 1..n without a gap: the first ``total`` are the ones ordered.
    stamps = sheet_stamps(session, batch, public_url, pins, limit=total)
    if progress is not None:
        stamps = _counted(stamps, total, progress)
    summary = render_sheet(
        stamps,
        out,
        layout,
        footer=f"{TEST_FOOTER} - lot {batch.lot}"
        if has_test_stamps(session, batch)
        else f"TraceQR - lot {batch.lot}",
        total=total,
        side_text=side_text,
        logo=logo,
    )
    if progress is not None:
        progress(summary.stamps, total)
    return summary


def has_test_stamps(session: Session, batch: Batch) -> bool:
    """Whether a test key signed any of the batch's stamps (its business was unverified)."""
    return (
        session.scalar(
            select(Stamp.id)
            .join(SigningKey, SigningKey.id == Stamp.signing_key_id)
            .where(Stamp.batch_id == batch.id, SigningKey.purpose == PURPOSE_TEST)
            .limit(1)
        )
        is not None
    )


def _counted(stamps: Iterator[SheetStamp], total: int, progress: Progress) -> Iterator[SheetStamp]:
    for done, stamp in enumerate(stamps, start=1):
        if done % PROGRESS_EVERY == 0:
            progress(done, total)
        yield stamp


def layout_to_json(layout: SheetLayout) -> dict[str, Any]:
    """A layout as JSON, for a job to print it later."""
    return dataclasses.asdict(layout)


def layout_from_json(data: dict[str, Any]) -> SheetLayout:
    """The layout :func:`layout_to_json` stored; validated again."""
    names = {field.name for field in dataclasses.fields(SheetLayout)}
    return SheetLayout(**{key: value for key, value in data.items() if key in names})
