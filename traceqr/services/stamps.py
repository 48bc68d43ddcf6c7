"""A stamp's life after issue: activation, revocation, recall, and reading stamps back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from traceqr.domain.keys import PURPOSE_TEST
from traceqr.domain.pins import PinScheme
from traceqr.domain.stamp_format import (
    FORMAT_V1,
    FORMAT_V2,
    StampCode,
    StampFormatError,
    encode_code,
    parse_serial,
    serial_text,
    short_code,
    stamp_url,
    stamp_url_v2,
)
from traceqr.errors import N_, NotFound, ValidationError
from traceqr.models import Batch, Product, SigningKey, Stamp
from traceqr.services import audit
from traceqr.services.catalog import get_batch
from traceqr.services.validation import clean_text, required_text

EXPORT_CHUNK = 2000


def parse_serial_param(text: str) -> bytes:
    try:
        return parse_serial(text)
    except StampFormatError as exc:
        raise ValidationError(
            N_("%(text)s is not a stamp serial or short code"), field="serial", text=repr(text[:40])
        ) from exc


def get_stamp(session: Session, business_id: int, serial_or_code: str) -> Stamp:
    serial = parse_serial_param(serial_or_code)
    stamp = session.scalar(select(Stamp).where(Stamp.serial == serial))
    if stamp is None:
        raise NotFound(N_("stamp %(serial)s not found"), serial=serial_text(serial))
    batch = session.get(Batch, stamp.batch_id)
    if batch is None or batch.business_id != business_id:
        raise NotFound(N_("stamp %(serial)s not found"), serial=serial_text(serial))
    return stamp


def activate_stamp(session: Session, business_id: int, serial: str, now: datetime) -> Stamp:
    stamp = get_stamp(session, business_id, serial)
    if not stamp.active:
        stamp.active = True
        stamp.activated_at = now
        _adjust_batch_counts(session, stamp.batch_id, active=1)
        audit.record(
            session,
            "stamp.activate",
            f"stamp:{serial_text(stamp.serial)}",
            {"batch_id": stamp.batch_id, "seq": stamp.seq},
            now=now,
        )
    session.flush()
    return stamp


def activate_batch(session: Session, business_id: int, batch_id: int, now: datetime) -> int:
    """Activate every inactive stamp of the batch; returns how many changed."""
    batch = get_batch(session, business_id, batch_id)
    changed = session.execute(
        update(Stamp)
        .where(Stamp.batch_id == batch.id, Stamp.active.is_(False))
        .values(active=True, activated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    _adjust_batch_counts(session, batch.id, active=changed)
    if changed:
        audit.record(session, "batch.activate", f"batch:{batch.id}", {"count": changed}, now=now)
    session.flush()
    session.refresh(batch)
    return changed


def revoke_stamp(
    session: Session, business_id: int, serial: str, reason: object, now: datetime
) -> Stamp:
    """From now on the stamp verifies as ``revoked``. Revoking twice keeps the first reason."""
    stamp = get_stamp(session, business_id, serial)
    clean_reason = clean_text(reason, "reason", max_length=500, multiline=True)
    if stamp.revoked_at is None:
        stamp.revoked_at = now
        stamp.revoke_reason = clean_reason
        _adjust_batch_counts(session, stamp.batch_id, revoked=1)
        audit.record(
            session,
            "stamp.revoke",
            f"stamp:{serial_text(stamp.serial)}",
            {"batch_id": stamp.batch_id, "seq": stamp.seq, "reason": clean_reason},
            now=now,
        )
    session.flush()
    return stamp


def recall_batch(
    session: Session, business_id: int, batch_id: int, reason: object, now: datetime
) -> Batch:
    """Every stamp of the batch verifies as ``recalled``; the reason is shown to the public."""
    batch = get_batch(session, business_id, batch_id)
    clean_reason = required_text(reason, "reason", max_length=1000, multiline=True)
    if batch.recalled_at is None:
        batch.recalled_at = now
        batch.recall_reason = clean_reason
        audit.record(
            session, "batch.recall", f"batch:{batch.id}", {"reason": clean_reason}, now=now
        )
    session.flush()
    return batch


def _adjust_batch_counts(
    session: Session, batch_id: int, active: int = 0, revoked: int = 0
) -> None:
    if active or revoked:
        session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(
                stamps_active=Batch.stamps_active + active,
                stamps_revoked=Batch.stamps_revoked + revoked,
            )
            .execution_options(synchronize_session=False)
        )


def kid_of(session: Session, stamp: Stamp) -> bytes:
    return session.scalar(select(SigningKey.kid).where(SigningKey.id == stamp.signing_key_id))  # type: ignore[return-value]


def stamp_code(session: Session, stamp: Stamp) -> StampCode:
    """The stamp as its QR carries it, in its batch's format."""
    batch = session.get(Batch, stamp.batch_id)
    assert batch is not None
    return _code(
        kid_of(session, stamp), stamp.serial, stamp.signature, *_signed_item(session, batch)
    )


def stamp_url_of(session: Session, stamp: Stamp, public_url: str) -> str:
    """Exactly the text in the stamp's QR."""
    return stamp_code(session, stamp).url(public_url)


def _signed_item(session: Session, batch: Batch) -> tuple[str | None, str | None]:
    """(GTIN-14, lot) for a version 2 batch, else (None, None)."""
    if batch.stamp_format != FORMAT_V2:
        return None, None
    product = session.get(Product, batch.product_id)
    return (product.gtin if product else None), batch.lot


def _code(
    kid: bytes, serial: bytes, signature: bytes, gtin: str | None, lot: str | None
) -> StampCode:
    if gtin is not None and lot is not None:
        return StampCode(FORMAT_V2, kid, serial, signature, gtin, lot)
    return StampCode(FORMAT_V1, kid, serial, signature)


@dataclass(frozen=True, slots=True)
class ExportedStamp:
    seq: int
    serial: bytes
    url: str
    active: bool
    revoked: bool
    pin: str | None = None  # the scratch-off PIN, for printing only
    test: bool = False  # signed by a test key: printed as TEM THỬ, never a product's

    @property
    def serial_text(self) -> str:
        return serial_text(self.serial)

    @property
    def short_code(self) -> str:
        return short_code(self.serial)


def iter_batch_stamps(
    session: Session,
    batch: Batch,
    public_url: str,
    chunk: int = EXPORT_CHUNK,
    pins: PinScheme | None = None,
) -> Iterator[ExportedStamp]:
    """Every stamp of the batch in issue order, read in chunks by sequence number.

    With ``pins`` (and a batch that prints PINs), each stamp carries its PIN for printing.
    """
    pin_for = pins.pin_for if (pins is not None and batch.with_pin) else None
    keys = session.execute(
        select(SigningKey.id, SigningKey.kid, SigningKey.purpose).where(
            SigningKey.business_id == batch.business_id
        )
    ).all()
    kids = {key_id: kid for key_id, kid, _purpose in keys}
    test_keys = {key_id for key_id, _kid, purpose in keys if purpose == PURPOSE_TEST}
    gtin, lot = _signed_item(session, batch)
    prefix = stamp_url(public_url, "")
    after = 0
    while True:
        rows = session.execute(
            select(
                Stamp.seq,
                Stamp.serial,
                Stamp.signature,
                Stamp.signing_key_id,
                Stamp.active,
                Stamp.revoked_at,
            )
            .where(Stamp.batch_id == batch.id, Stamp.seq > after)
            .order_by(Stamp.seq)
            .limit(chunk)
        ).all()
        if not rows:
            return
        for seq, serial, signature, key_id, active, revoked_at in rows:
            if lot is None:
                url = prefix + encode_code(kids[key_id], serial, signature)
            else:
                url = stamp_url_v2(public_url, _code(kids[key_id], serial, signature, gtin, lot))
            yield ExportedStamp(
                seq=seq,
                serial=serial,
                url=url,
                active=active,
                revoked=revoked_at is not None,
                pin=pin_for(serial) if pin_for else None,
                test=key_id in test_keys,
            )
        after = rows[-1][0]


def count_stamps(session: Session, batch_id: int) -> int:
    return (
        session.scalar(select(func.count()).select_from(Stamp).where(Stamp.batch_id == batch_id))
        or 0
    )


def revoke_range(
    session: Session,
    business_id: int,
    batch_id: int,
    first_seq: int,
    last_seq: int,
    reason: object,
    now: datetime,
) -> int:
    """Revoke stamps ``first_seq``..``last_seq`` of a batch (a lost or spoiled roll)."""
    batch = get_batch(session, business_id, batch_id)
    if first_seq < 1 or last_seq < first_seq:
        raise ValidationError(
            N_("the range must run from a smaller number to a larger one"), field="last_seq"
        )
    if last_seq > batch.stamps_total:
        raise ValidationError(
            N_("this batch has stamps 1 to %(total)s only"),
            field="last_seq",
            total=batch.stamps_total,
        )
    clean_reason = clean_text(reason, "reason", max_length=500, multiline=True)
    changed = session.execute(
        update(Stamp)
        .where(
            Stamp.batch_id == batch.id,
            Stamp.seq >= first_seq,
            Stamp.seq <= last_seq,
            Stamp.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoke_reason=clean_reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    _adjust_batch_counts(session, batch.id, revoked=changed)
    if changed:
        audit.record(
            session,
            "stamps.revoke_range",
            f"batch:{batch.id}",
            {
                "first_seq": first_seq,
                "last_seq": last_seq,
                "count": changed,
                "reason": clean_reason,
            },
            now=now,
        )
    session.flush()
    return changed


def list_stamps(session: Session, batch: Batch, after_seq: int = 0, limit: int = 50) -> list[Stamp]:
    """A page of the batch's stamps in issue order, found by sequence number (keyset)."""
    return list(
        session.scalars(
            select(Stamp)
            .where(Stamp.batch_id == batch.id, Stamp.seq > after_seq)
            .order_by(Stamp.seq)
            .limit(limit)
        )
    )
