"""The audit log: one hash-chained entry per change that matters, in the change's own
transaction, so the entry exists exactly when the change does (docs/audit.md).

Appending locks the single ``audit_head`` row (``UPDATE … RETURNING``) before it writes:
concurrent transactions on PostgreSQL queue on that row lock, SQLite has one writer
anyway, and every entry follows the one committed before it. Services call
:func:`record` as their last write, so the lock is held only until their commit.

Who acted: an explicit ``actor``, else the one set with :func:`acting_as` (the CLI, job
workers), else what the web layer's resolver says about the current request, else the
system.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from traceqr.db import Database
from traceqr.domain.audit import (
    GENESIS_HASH,
    HEAD_KIND,
    ChainReport,
    Entry,
    canonical_json,
    chain,
    head_body,
    time_text,
    verify_chain,
)
from traceqr.domain.documents import sign_document
from traceqr.errors import N_, ValidationError
from traceqr.keystore import KeyStore
from traceqr.models import AuditEntry, Official

Actor = tuple[str, str | None]
SYSTEM: Actor = ("system", None)
OPERATOR: Actor = ("operator", None)

_actor: ContextVar[Actor | None] = ContextVar("traceqr_audit_actor", default=None)
_resolver: Callable[[], Actor | None] | None = None

_log = AuditEntry.__table__
_BUMP_HEAD = text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
_SET_HEAD_HASH = text("UPDATE audit_head SET hash = :hash WHERE id = 1")
# Only when the head row is missing (a fresh or emptied database): it starts at the newest
# entry, so that a lost head row never restarts the chain.
_CREATE_HEAD = text(
    "INSERT INTO audit_head (id, seq, hash) SELECT 1, "
    "COALESCE((SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1), 0), "
    "COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), :genesis) "
    "WHERE true ON CONFLICT (id) DO NOTHING"
)


def set_actor_resolver(resolver: Callable[[], Actor | None] | None) -> None:
    """The web layer tells who is behind the current request (a user, an API key …)."""
    global _resolver
    _resolver = resolver


@contextmanager
def acting_as(kind: str, actor_id: str | int | None = None) -> Iterator[None]:
    token = _actor.set((kind, None if actor_id is None else str(actor_id)))
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> Actor:
    explicit = _actor.get()
    if explicit is not None:
        return explicit
    if _resolver is not None:
        resolved = _resolver()
        if resolved is not None:
            return resolved
    return SYSTEM


def record(
    session: Session,
    action: str,
    subject: str,
    details: Mapping[str, Any] | None = None,
    *,
    now: datetime,
    actor: Actor | None = None,
) -> Entry:
    """Append one entry in the session's transaction (call it after the change itself)."""
    kind, actor_id = actor or current_actor()
    clean_details = dict(details or {})
    canonical_json(clean_details)  # fails before anything is locked
    session.flush()
    connection = session.connection()
    row = connection.execute(_BUMP_HEAD).first()
    if row is None:
        connection.execute(_CREATE_HEAD, {"genesis": GENESIS_HASH})
        row = connection.execute(_BUMP_HEAD).one()
    seq, prev_hash = int(row[0]), str(row[1])
    entry = chain(
        (seq - 1, prev_hash),
        at=now,
        actor_kind=kind,
        actor_id=actor_id,
        action=action,
        subject=subject,
        details=clean_details,
    )
    connection.execute(
        insert(_log).values(
            seq=entry.seq,
            at=now,
            actor_kind=entry.actor_kind,
            actor_id=entry.actor_id,
            action=entry.action,
            subject=entry.subject,
            details=canonical_json(clean_details).decode("utf-8"),
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )
    )
    connection.execute(_SET_HEAD_HASH, {"hash": entry.hash})
    return entry


def _entry(row: AuditEntry) -> Entry:
    return Entry(
        seq=row.seq,
        at=time_text(row.at),
        actor_kind=row.actor_kind,
        actor_id=row.actor_id,
        action=row.action,
        subject=row.subject,
        details=json.loads(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def iter_entries(session: Session, after_seq: int = 0, chunk: int = 2000) -> Iterator[Entry]:
    """Every entry after ``after_seq`` in order, read in chunks (keyset on seq)."""
    while True:
        entries = _chunk(session, after_seq, chunk)
        if not entries:
            return
        yield from entries
        after_seq = entries[-1].seq


def _chunk(session: Session, after_seq: int, limit: int) -> list[Entry]:
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.seq > after_seq).order_by(AuditEntry.seq).limit(limit)
    ).all()
    return [_entry(row) for row in rows]


# The largest seq a BIGINT column holds: nothing comes after it, and a larger number never
# reaches the database (which would refuse it).
MAX_SEQ = 2**63 - 1


def may_export(official: Official) -> bool:
    """Who downloads the whole log: authority officers who cover the whole country.

    The log is a hash chain: only the whole of it, in order, can be checked against a
    signed head, so it is not cut by province. A provincial officer's copy would either
    hold other provinces' entries or prove nothing; provinces ask a national officer or the
    operator (``traceqr audit export``). See docs/audit.md."""
    return official.role == "authority" and not (official.provinces or "").strip(",")


def parse_after(value: str | None) -> int:
    """``after`` of an export: absent, or a whole number from 0 to :data:`MAX_SEQ`."""
    if value is None or value == "":
        return 0
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > MAX_SEQ:
        raise ValidationError(
            N_("“after” must be a whole number from 0 to %(max)s."), field="after", max=MAX_SEQ
        )
    return int(value)


def export_lines(session: Session, after_seq: int = 0) -> Iterator[str]:
    """The log as JSON Lines: one exported entry per line, in order."""
    if after_seq >= MAX_SEQ:
        return
    for entry in iter_entries(session, after_seq):
        yield _line(entry)


def stream_lines(database: Database, after_seq: int = 0, chunk: int = 2000) -> Iterator[str]:
    """Like :func:`export_lines`, each chunk read in its own short transaction: a slow or
    abandoned download never holds a transaction open. Entries are only ever appended, so
    the chunks together are a consistent beginning of the log."""
    if after_seq >= MAX_SEQ:
        return
    while True:
        with database.session() as session:
            entries = _chunk(session, after_seq, chunk)
        if not entries:
            return
        for entry in entries:
            yield _line(entry)
        if len(entries) < chunk:
            return
        after_seq = entries[-1].seq


def _line(entry: Entry) -> str:
    return json.dumps(entry.to_json(), ensure_ascii=False, sort_keys=True) + "\n"


def latest(session: Session) -> tuple[int, str]:
    """(seq, hash) of the newest entry: (0, 64 zeros) for an empty log."""
    row = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (int(row[0]), str(row[1])) if row is not None else (0, GENESIS_HASH)


def signed_head(session: Session, keystore: KeyStore, now: datetime) -> dict[str, Any]:
    """The newest seq and hash, signed by the operator's root key (kind ``audit-head``)."""
    from traceqr.services.key_lifecycle import root_signer

    seq, hash_ = latest(session)
    return sign_document(HEAD_KIND, head_body(seq, hash_, now), root_signer(session, keystore, now))


def verify_stored(session: Session) -> ChainReport:
    """Check the database's own log from its first entry."""
    return verify_chain(iter_entries(session))
