"""Issuing stamps: all of a request's stamps are stored, or none.

The batch row is updated first, which reserves the request's range of sequence numbers and
takes the write lock, so two issuances on one batch never interleave. Stamps are then
signed and written in chunks through the leanest path each database offers (``COPY`` on
PostgreSQL, ``executemany`` on SQLite), each chunk inside a savepoint: a serial that
already exists (80 random bits make that a 2^-80 event, but it is still handled) makes the
chunk roll back and retry with fresh serials. While one chunk is written, on a single
writer thread that alone uses the connection meanwhile, the main thread signs the next.
The caller commits once at the end, so a crash half-way leaves nothing.

A business may issue at most the operator's daily quota of stamps per Vietnam day
(``TRACEQR_MAX_STAMPS_PER_BUSINESS_DAY``). Issuances are counted from the audit log, the
record every issuance writes: once before any stamp is signed, and again after this
issuance's own entry is appended, while it holds the audit log's head row, so two
issuances committing at once cannot both slip under the quota.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, literal, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from traceqr.domain.dates import VIETNAM_TZ
from traceqr.domain.pins import PinScheme
from traceqr.domain.stamp_format import SERIAL_LENGTH
from traceqr.errors import N_, Conflict, TraceQRError
from traceqr.keystore import KeyStore
from traceqr.models import AuditEntry, Batch, Product
from traceqr.services import audit
from traceqr.services.businesses import issuing_key
from traceqr.services.validation import clean_positive_int

CHUNK_SIZE = 5000
MAX_ATTEMPTS_PER_CHUNK = 5
STAMP_COLUMNS = (
    "batch_id",
    "signing_key_id",
    "seq",
    "serial",
    "signature",
    "active",
    "activated_at",
    "scan_count",
    "pin_hash",
    "issued_at",
)

Progress = Callable[[int, int], None]
RandomBytes = Callable[[int], bytes]


class IssuanceError(TraceQRError):
    code = "issuance_failed"
    http_status = 500


class QuotaExceeded(TraceQRError):
    """The business has used what the operator allows it (jobs at once, stamps a day,
    stored sheets). It frees itself with time, so it is a 429 whose ``retry_after`` (in
    seconds) says when to try again; nothing was written."""

    code = "quota_exceeded"
    http_status = 429

    def __init__(self, template: str, *, retry_after: float, code: str, **params: Any) -> None:
        super().__init__(template, code=code, **params)
        self.retry_after = max(1, int(retry_after + 0.999))


def vietnam_day_start(now: datetime) -> datetime:
    """The start (00:00 in Vietnam) of the Vietnam day ``now`` falls in, in UTC."""
    local = now.astimezone(VIETNAM_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def stamps_issued_today(session: Session, business_id: int, now: datetime) -> int:
    """How many stamps the business's issuances recorded since 00:00 today, Vietnam time
    (this transaction's own included)."""
    start = vietnam_day_start(now)
    subject = literal("batch:") + cast(Batch.id, String)
    details = session.scalars(
        select(AuditEntry.details)
        .join(Batch, AuditEntry.subject == subject)
        .where(
            Batch.business_id == business_id,
            AuditEntry.action == "stamps.issue",
            AuditEntry.at >= start,
            AuditEntry.at < start + timedelta(days=1),
        )
    )
    return sum(int(json.loads(text).get("count", 0)) for text in details)


def check_daily_quota(
    session: Session,
    business_id: int,
    count: int,
    now: datetime,
    quota: int | None,
    *,
    pending: int = 0,
    counted: bool = False,
) -> None:
    """Refuse (:class:`QuotaExceeded`) ``count`` more stamps today when, with those already
    issued today and ``pending`` ones queued, they would pass ``quota`` (None or 0: no
    quota). ``counted``: this issuance is already in the audit log."""
    if not quota:
        return
    issued = stamps_issued_today(session, business_id, now) - (count if counted else 0)
    if issued + pending + count <= quota:
        return
    tomorrow = vietnam_day_start(now) + timedelta(days=1)
    raise QuotaExceeded(
        N_(
            "this business may issue %(quota)s stamps a day (Vietnam time) and has "
            "%(used)s issued or queued today: %(count)s more would pass that. The count "
            "starts again at midnight; ask the operator if you need more."
        ),
        code="daily_stamp_quota",
        retry_after=(tomorrow - now).total_seconds(),
        quota=quota,
        used=issued + pending,
        count=count,
    )


@dataclass(frozen=True)
class IssueResult:
    batch_id: int
    count: int
    first_seq: int
    last_seq: int
    kid: bytes
    active: bool
    test: bool = False  # signed by a test key: the business is not verified


def issue_stamps(
    session: Session,
    keystore: KeyStore,
    batch: Batch,
    count: Any,
    *,
    now: datetime,
    active: bool = True,
    max_count: int = 100_000,
    progress: Progress | None = None,
    random_bytes: RandomBytes = os.urandom,
    pins: PinScheme | None = None,
    daily_quota: int | None = None,
) -> IssueResult:
    """Sign and store ``count`` new stamps for ``batch``. Flushes; the caller commits.
    ``daily_quota``: the most stamps the business may issue per Vietnam day (None or 0:
    no quota, as for the operator's own ``traceqr stamps issue``)."""
    count = clean_positive_int(count, "count", maximum=max_count)
    check_daily_quota(session, batch.business_id, count, now, daily_quota)
    if batch.with_pin and pins is None:
        raise IssuanceError(N_("this batch prints PINs, but no PIN key was given"))
    pin_hash = pins.stored_hash if (batch.with_pin and pins is not None) else _no_pin
    if batch.recalled_at is not None:
        raise Conflict(N_("batch %(id)s is recalled: it gets no new stamps"), id=batch.id)
    key = issuing_key(session, keystore, batch.business_id, now)
    signer = keystore.load_signer(key.kid, key.public_key)
    signed_item = _signed_item(session, batch)
    connection = session.connection()

    batches = Batch.__table__
    new_total = connection.execute(
        update(batches)
        .where(batches.c.id == batch.id)
        .values(
            stamps_total=batches.c.stamps_total + count,
            stamps_active=batches.c.stamps_active + (count if active else 0),
        )
        .returning(batches.c.stamps_total)
    ).scalar_one()
    session.expire(batch, ["stamps_total", "stamps_active"])
    first_seq = new_total - count + 1

    write_rows = _bulk_writer(connection)
    activated_at = now if active else None
    batch_id, key_id = batch.id, key.id  # plain ints: the rows are made on the writer thread

    def make_rows(seq0: int) -> Callable[[list[bytes], list[bytes]], list[tuple[Any, ...]]]:
        def rows(serials: list[bytes], signatures: list[bytes]) -> list[tuple[Any, ...]]:
            return [
                (
                    batch_id,
                    key_id,
                    seq0 + i,
                    serial,
                    signature,
                    active,
                    activated_at,
                    0,
                    pin_hash(serial),
                    now,
                )
                for i, (serial, signature) in enumerate(zip(serials, signatures, strict=True))
            ]

        return rows

    def sign(serials: list[bytes]) -> list[bytes]:
        return signer.sign_serials(serials, **signed_item)

    # Signing a chunk overlaps with writing the one before: a single writer thread owns the
    # connection while the main thread signs (PyNaCl and the database drivers release the
    # GIL in C), and the main thread touches the connection again only after joining it.
    # An in-memory SQLite database lives in one thread's connection: it writes in line.
    in_memory = connection.dialect.name == "sqlite" and connection.engine.url.database in (
        None,
        "",
        ":memory:",
    )
    done = 0
    with (
        _InLine()
        if in_memory
        else ThreadPoolExecutor(max_workers=1, thread_name_prefix="issue-writer")
    ) as writer:
        pending: Future[None] | None = None
        try:
            while done < count:
                size = min(CHUNK_SIZE, count - done)
                serials = _fresh_serials(size, random_bytes)
                chunk = _Chunk(serials, sign(serials), make_rows(first_seq + done))
                if pending is not None:
                    pending.result()  # a failed write raises here, before more is signed
                    if progress is not None:
                        progress(done, count)
                pending = writer.submit(
                    _write_chunk, connection, write_rows, chunk, sign, random_bytes
                )
                done += size
            if pending is not None:
                pending.result()
        except BaseException:
            if pending is not None:
                wait_for_writer(pending)
            raise
    if progress is not None:
        progress(done, count)
    audit.record(
        session,
        "stamps.issue",
        f"batch:{batch.id}",
        {
            "count": count,
            "first_seq": first_seq,
            "last_seq": new_total,
            "kid": key.kid.hex(),
            "active": active,
            "test": key.purpose == "test",
        },
        now=now,
    )
    # Again, holding the audit head: an issuance that committed meanwhile is counted now.
    check_daily_quota(session, batch.business_id, count, now, daily_quota, counted=True)
    return IssueResult(
        batch.id, count, first_seq, new_total, key.kid, active, test=key.purpose == "test"
    )


def wait_for_writer(pending: Future[Any]) -> None:
    """Wait until the writer thread has finished its chunk, even through more Ctrl-C.

    The writer owns the connection while it writes; the caller rolls the issuance back on
    that same connection once this returns. A second Ctrl-C while waiting (an impatient
    operator) must not let the rollback start under the writer's feet: it is ignored and
    the wait goes on; the caller then re-raises the first interruption."""
    while True:
        try:
            pending.exception()  # waits; the chunk's own error, if any, is not raised here
            return
        except KeyboardInterrupt:
            continue


class _InLine:
    """An executor that runs each task at once, in the caller's thread."""

    def __enter__(self) -> _InLine:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def submit(self, task: Callable[..., None], *args: Any) -> Future[None]:
        future: Future[None] = Future()
        try:
            task(*args)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(None)
        return future


@dataclass(frozen=True)
class _Chunk:
    serials: list[bytes]
    signatures: list[bytes]
    make_rows: Callable[[list[bytes], list[bytes]], list[tuple[Any, ...]]]


def _fresh_serials(size: int, random_bytes: RandomBytes) -> list[bytes]:
    """``size`` random serials, none repeated within the chunk."""
    for _attempt in range(MAX_ATTEMPTS_PER_CHUNK):
        serials = [random_bytes(SERIAL_LENGTH) for _ in range(size)]
        if len(set(serials)) == size:
            return serials
    raise IssuanceError(N_("could not draw unused serials; is the random source broken?"))


def _write_chunk(
    connection: Connection,
    write_rows: Callable[[list[tuple[Any, ...]]], None],
    chunk: _Chunk,
    sign: Callable[[list[bytes]], list[bytes]],
    random_bytes: RandomBytes,
) -> None:
    """Write one signed chunk in a savepoint; a serial already stored draws the chunk again."""
    # COPY runs on the driver's cursor, so its errors arrive unwrapped: catch both kinds.
    duplicate = (IntegrityError, connection.dialect.loaded_dbapi.IntegrityError)
    serials, signatures = chunk.serials, chunk.signatures
    for _attempt in range(MAX_ATTEMPTS_PER_CHUNK):
        try:
            with connection.begin_nested():
                write_rows(chunk.make_rows(serials, signatures))
        except duplicate:
            # a serial already exists: draw the chunk again
            serials = _fresh_serials(len(serials), random_bytes)
            signatures = sign(serials)
            continue
        return
    raise IssuanceError(N_("could not draw unused serials; is the random source broken?"))


def _bulk_writer(connection: Connection) -> Callable[[list[tuple[Any, ...]]], None]:
    columns = ", ".join(STAMP_COLUMNS)
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        statement = f"COPY stamps ({columns}) FROM STDIN"

        def copy_rows(rows: list[tuple[Any, ...]]) -> None:
            with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)

        return copy_rows

    placeholders = ", ".join("?" for _ in STAMP_COLUMNS)
    statement = f"INSERT INTO stamps ({columns}) VALUES ({placeholders})"  # noqa: S608

    def insert_rows(rows: list[tuple[Any, ...]]) -> None:
        connection.exec_driver_sql(statement, [_sqlite_row(row) for row in rows])

    return insert_rows


def _signed_item(session: Session, batch: Batch) -> dict[str, str]:
    """What a version 2 stamp signs besides its serial: the product's GTIN and the lot."""
    if batch.stamp_format != 2:
        return {}
    product = session.get(Product, batch.product_id)
    if product is None or product.gtin is None:
        raise Conflict(N_("GS1 Digital Link stamps need the product's GTIN: add it first"))
    return {"gtin": product.gtin, "lot": batch.lot}


def _no_pin(serial: bytes) -> None:
    return None


def _sqlite_row(row: Sequence[Any]) -> tuple[Any, ...]:
    # The driver path skips SQLAlchemy's type processing: store what UTCDateTime stores.
    *head, active, activated_at, scan_count, pin_hash, issued_at = row
    return (
        *head,
        1 if active else 0,
        _sqlite_time(activated_at),
        scan_count,
        pin_hash,
        _sqlite_time(issued_at),
    )


def _sqlite_time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if value else None
