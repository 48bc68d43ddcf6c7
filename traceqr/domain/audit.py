"""The audit log's format: canonical entries, their hash chain, and checking a copy.

Each entry is hashed over ``b"TRACEQR-AUDIT-V1\\x00"`` followed by the canonical JSON
(UTF-8, sorted keys, no white space, no floats) of::

    {"v": 1, "seq": 1, "at": "2026-11-28T10:15:00.123456Z",
     "actor": {"kind": "user", "id": "12"}, "action": "stamps.issue",
     "subject": "batch:7", "details": {...}, "prev_hash": "<64 hex digits>"}

``prev_hash`` is the previous entry's ``hash`` (64 zeros before the first entry), so an
entry changed, removed or moved breaks the chain at that entry. The signed head (the
newest ``seq`` and ``hash``, signed by the operator's root key) pins the chain's end: a
copy that ends earlier, or that reaches the head's ``seq`` with another hash, is not the
log the operator published. See docs/audit.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FORMAT_VERSION = 1
CONTEXT = b"TRACEQR-AUDIT-V1\x00"
GENESIS_HASH = "0" * 64
HEAD_KIND = "audit-head"
ACTOR_KINDS = ("user", "official", "api_key", "operator", "system")


class AuditFormatError(ValueError):
    """An entry or a head that does not follow the format."""


def canonical_json(value: Any) -> bytes:
    _check_plain(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _check_plain(value: Any) -> None:
    """Only values every JSON library writes the same way: no floats."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, list):
        for item in value:
            _check_plain(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditFormatError("audit details have string keys")
            _check_plain(item)
        return
    raise AuditFormatError(f"audit details hold strings, integers, booleans only, not {value!r}")


def time_text(at: datetime) -> str:
    """The entry time as hashed: UTC, microseconds, a Z."""
    if at.tzinfo is None:
        raise AuditFormatError("an audit time must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    at: str  # time_text()
    actor_kind: str
    actor_id: str | None
    action: str
    subject: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "seq": self.seq,
            "at": self.at,
            "actor": {"kind": self.actor_kind, "id": self.actor_id},
            "action": self.action,
            "subject": self.subject,
            "details": dict(self.details),
            "prev_hash": self.prev_hash,
        }

    def computed_hash(self) -> str:
        return hashlib.sha256(CONTEXT + canonical_json(self.body())).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """The exported form: the hashed body plus the hash."""
        return {**self.body(), "hash": self.hash}

    @classmethod
    def from_json(cls, value: Any) -> Entry:
        if not isinstance(value, dict):
            raise AuditFormatError("an entry is a JSON object")
        try:
            actor = value["actor"]
            entry = cls(
                seq=value["seq"],
                at=value["at"],
                actor_kind=actor["kind"],
                actor_id=actor["id"],
                action=value["action"],
                subject=value["subject"],
                details=value["details"],
                prev_hash=value["prev_hash"],
                hash=value["hash"],
            )
        except (KeyError, TypeError) as exc:
            raise AuditFormatError(f"an entry lacks {exc}") from exc
        if value.get("v") != FORMAT_VERSION:
            raise AuditFormatError("unknown audit entry version")
        if not isinstance(entry.seq, int) or isinstance(entry.seq, bool):
            raise AuditFormatError("seq is an integer")
        if not isinstance(entry.details, dict):
            raise AuditFormatError("details is an object")
        for name in ("at", "actor_kind", "action", "subject", "prev_hash", "hash"):
            if not isinstance(getattr(entry, name), str):
                raise AuditFormatError(f"{name} is a string")
        return entry


def chain(
    prev: tuple[int, str],
    *,
    at: datetime,
    actor_kind: str,
    actor_id: str | None,
    action: str,
    subject: str,
    details: Mapping[str, Any],
) -> Entry:
    """The entry that follows ``prev`` (its seq and hash), hashed."""
    if actor_kind not in ACTOR_KINDS:
        raise AuditFormatError(f"unknown actor kind {actor_kind!r}")
    seq, prev_hash = prev
    entry = Entry(
        seq=seq + 1,
        at=time_text(at),
        actor_kind=actor_kind,
        actor_id=actor_id,
        action=action,
        subject=subject,
        details=dict(details),
        prev_hash=prev_hash,
    )
    return Entry(**{**_fields(entry), "hash": entry.computed_hash()})


def _fields(entry: Entry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in Entry.__slots__}


@dataclass(frozen=True, slots=True)
class ChainReport:
    count: int  # entries that chain correctly from the first
    last_seq: int
    last_hash: str
    broken_seq: int | None = None  # the first seq where the chain does not hold
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify_chain(entries: Iterable[Entry], head: Mapping[str, Any] | None = None) -> ChainReport:
    """Check that ``entries`` run 1, 2, … with each hash right and linked to the one before,
    and (with ``head``) that the chain reaches the head's seq with the head's hash."""
    head_seq = head.get("seq") if head is not None else None
    if head is not None and (
        not isinstance(head_seq, int)
        or isinstance(head_seq, bool)
        or not isinstance(head.get("hash"), str)
    ):
        raise AuditFormatError("a head has an integer seq and a string hash")
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    hash_at_head: str | None = None
    for entry in entries:
        if entry.seq != expected_seq:
            what = "missing" if entry.seq > expected_seq else "out of order or repeated"
            return ChainReport(
                count, expected_seq - 1, prev_hash, expected_seq, f"entry {expected_seq} is {what}"
            )
        if entry.prev_hash != prev_hash:
            return ChainReport(
                count,
                expected_seq - 1,
                prev_hash,
                entry.seq,
                f"entry {entry.seq} does not follow entry {entry.seq - 1}: one of them changed",
            )
        try:
            computed = entry.computed_hash()
        except AuditFormatError as exc:
            return ChainReport(count, expected_seq - 1, prev_hash, entry.seq, str(exc))
        if computed != entry.hash:
            return ChainReport(
                count,
                expected_seq - 1,
                prev_hash,
                entry.seq,
                f"entry {entry.seq} was changed: its content does not match its hash",
            )
        if entry.seq == head_seq:
            hash_at_head = entry.hash
        prev_hash, count, expected_seq = entry.hash, count + 1, expected_seq + 1
    last_seq = expected_seq - 1
    if head is not None and isinstance(head_seq, int):
        head_hash = head["hash"]
        if last_seq < head_seq:
            return ChainReport(
                count,
                last_seq,
                prev_hash,
                last_seq + 1,
                f"the copy ends at entry {last_seq}, but the signed head is at {head_seq}: "
                f"entries {last_seq + 1} to {head_seq} were removed",
            )
        # The head's entry is in the copy (entries after it are newer ones).
        if head_seq > 0 and hash_at_head != head_hash:
            return ChainReport(
                count,
                last_seq,
                prev_hash,
                head_seq,
                f"entry {head_seq} differs from the one the signed head names",
            )
        if head_seq == 0 and head_hash != GENESIS_HASH:
            return ChainReport(count, last_seq, prev_hash, 1, "the head of an empty log is wrong")
    return ChainReport(count, last_seq, prev_hash)


def head_body(seq: int, hash_: str, signed_at: datetime) -> dict[str, Any]:
    """What the published head states (signed as a document of kind ``audit-head``)."""
    return {"v": FORMAT_VERSION, "seq": seq, "hash": hash_, "signed_at": time_text(signed_at)}
