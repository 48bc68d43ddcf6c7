"""The audit log's hash chain: any entry changed, removed or moved is caught, by seq."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from traceqr.domain.audit import (
    GENESIS_HASH,
    AuditFormatError,
    Entry,
    chain,
    verify_chain,
)

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def make_log(n: int = 5) -> list[Entry]:
    entries: list[Entry] = []
    prev = (0, GENESIS_HASH)
    for i in range(n):
        entry = chain(
            prev,
            at=T0 + timedelta(minutes=i),
            actor_kind="user",
            actor_id=str(i),
            action="stamp.revoke",
            subject=f"stamp:{i}",
            details={"reason": "cuộn tem bị mất", "seq": i, "ok": True, "none": None},
        )
        entries.append(entry)
        prev = (entry.seq, entry.hash)
    return entries


def test_an_untouched_log_verifies_and_names_its_head() -> None:
    log = make_log()
    report = verify_chain(log)
    assert report.ok and report.count == 5 and report.last_seq == 5
    assert report.last_hash == log[-1].hash
    assert [e.seq for e in log] == [1, 2, 3, 4, 5]
    assert log[0].prev_hash == GENESIS_HASH and log[1].prev_hash == log[0].hash


def test_the_exported_form_round_trips() -> None:
    log = make_log()
    again = [Entry.from_json(entry.to_json()) for entry in log]
    assert again == log
    assert verify_chain(again).ok


def test_a_changed_entry_breaks_at_its_seq() -> None:
    log = make_log()
    log[2] = dataclasses.replace(log[2], details={"reason": "changed afterwards"})
    report = verify_chain(log)
    assert not report.ok and report.broken_seq == 3
    assert "changed" in (report.problem or "")


def test_a_changed_entry_with_a_recomputed_hash_breaks_at_the_next_seq() -> None:
    log = make_log()
    forged = dataclasses.replace(log[2], actor_id="someone else")
    log[2] = dataclasses.replace(forged, hash=forged.computed_hash())
    report = verify_chain(log)
    assert report.broken_seq == 4


def test_a_removed_entry_breaks_at_its_seq() -> None:
    log = make_log()
    del log[1]
    report = verify_chain(log)
    assert report.broken_seq == 2 and "missing" in (report.problem or "")


def test_reordered_entries_break_at_the_first_moved_seq() -> None:
    log = make_log()
    log[1], log[3] = log[3], log[1]
    assert verify_chain(log).broken_seq == 2


def test_a_copy_cut_before_the_signed_head_is_caught() -> None:
    log = make_log()
    head = {"seq": 5, "hash": log[-1].hash}
    assert verify_chain(log, head).ok
    report = verify_chain(log[:3], head)
    assert report.broken_seq == 4 and "removed" in (report.problem or "")


def test_a_rewritten_log_does_not_reach_the_signed_head() -> None:
    """Whoever rewrites an entry and recomputes every hash after it gets a consistent
    chain, but not the one whose head was published."""
    log = make_log()
    head = {"seq": 5, "hash": log[-1].hash}
    rewritten: list[Entry] = []
    prev = (0, GENESIS_HASH)
    for entry in log:
        details = {"reason": "rewritten"} if entry.seq == 2 else entry.details
        again = chain(
            prev,
            at=T0 + timedelta(minutes=entry.seq - 1),
            actor_kind=entry.actor_kind,
            actor_id=entry.actor_id,
            action=entry.action,
            subject=entry.subject,
            details=details,
        )
        rewritten.append(again)
        prev = (again.seq, again.hash)
    assert verify_chain(rewritten).ok
    report = verify_chain(rewritten, head)
    assert report.broken_seq == 5 and "signed head" in (report.problem or "")


def test_entries_after_the_head_are_newer_ones() -> None:
    log = make_log()
    assert verify_chain(log, {"seq": 3, "hash": log[2].hash}).ok


def test_details_refuse_floats_and_times_must_be_aware() -> None:
    with pytest.raises(AuditFormatError):
        chain(
            (0, GENESIS_HASH),
            at=T0,
            actor_kind="user",
            actor_id="1",
            action="a",
            subject="s",
            details={"x": 1.5},
        )
    with pytest.raises(AuditFormatError):
        chain(
            (0, GENESIS_HASH),
            at=T0.replace(tzinfo=None),
            actor_kind="user",
            actor_id="1",
            action="a",
            subject="s",
            details={},
        )
    with pytest.raises(AuditFormatError):
        chain(
            (0, GENESIS_HASH),
            at=T0,
            actor_kind="robot",
            actor_id="1",
            action="a",
            subject="s",
            details={},
        )


def test_a_malformed_exported_entry_is_refused() -> None:
    good = make_log(1)[0].to_json()
    for broken in (
        {**good, "v": 2},
        {k: v for k, v in good.items() if k != "hash"},
        [good],
        {**good, "seq": "1"},
    ):
        with pytest.raises(AuditFormatError):
            Entry.from_json(broken)


def test_the_hash_is_fixed_by_the_format() -> None:
    """A known entry's hash: the format (docs/audit.md) must never drift."""
    entry = chain(
        (0, GENESIS_HASH),
        at=T0,
        actor_kind="operator",
        actor_id="root",
        action="key.compromise",
        subject="key:1a2b3c4d",
        details={"reason": "lộ khóa", "compromised_at": "2026-11-20T01:00:00+00:00"},
    )
    import hashlib
    import json

    body = {
        "v": 1,
        "seq": 1,
        "at": "2026-11-28T03:00:00.000000Z",
        "actor": {"kind": "operator", "id": "root"},
        "action": "key.compromise",
        "subject": "key:1a2b3c4d",
        "details": {"reason": "lộ khóa", "compromised_at": "2026-11-20T01:00:00+00:00"},
        "prev_hash": GENESIS_HASH,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert entry.hash == hashlib.sha256(b"TRACEQR-AUDIT-V1\x00" + canonical.encode()).hexdigest()
