"""A key compromised at T: its stamps from T on, and its signatures with no record, are
invalid; what it signed before T stays good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from traceqr.domain.verification import Reason, ScanFacts, StampRecord, Status, evaluate

T = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def record(issued_at: datetime | None, **changes: object) -> StampRecord:
    fields: dict[str, object] = {
        "kid_matches": True,
        "active": True,
        "revoked": False,
        "recalled": False,
        "scan_count": 1,
        "first_scan_at": NOW,
        "issued_at": issued_at,
    }
    fields.update(changes)
    return StampRecord(**fields)  # type: ignore[arg-type]


def signed(rec: StampRecord | None, compromised_at: datetime | None = T) -> ScanFacts:
    return ScanFacts(
        now=NOW,
        signature_checked=True,
        key_known=True,
        signature_valid=True,
        record=rec,
        key_compromised_at=compromised_at,
    )


def test_a_stamp_signed_before_the_compromise_stays_genuine() -> None:
    verdict = evaluate(signed(record(T - timedelta(seconds=1))))
    assert verdict.status is Status.GENUINE and verdict.signature_valid


@pytest.mark.parametrize(
    "rec",
    [
        record(T),  # at T counts as after: the key may already have been in other hands
        record(T + timedelta(days=1)),
        record(None),  # no known issue time
        record(T - timedelta(days=1), kid_matches=False),  # the record is another key's
        None,  # no record at all: whoever holds the key made it
    ],
    ids=["at-T", "after-T", "unknown-time", "other-key", "no-record"],
)
def test_what_the_key_signed_from_T_on_is_invalid(rec: StampRecord | None) -> None:
    verdict = evaluate(signed(rec))
    assert verdict.status is Status.INVALID
    assert verdict.reasons[0] is Reason.KEY_COMPROMISED
    assert not verdict.signature_valid


def test_invalid_wins_over_every_other_finding() -> None:
    verdict = evaluate(signed(record(T + timedelta(hours=1), revoked=True, active=False)))
    assert verdict.status is Status.INVALID
    assert verdict.reasons[0] is Reason.KEY_COMPROMISED
    assert Reason.STAMP_REVOKED in verdict.reasons


def test_an_uncompromised_key_is_unaffected() -> None:
    assert evaluate(signed(record(None), compromised_at=None)).status is Status.GENUINE
    assert evaluate(signed(None, compromised_at=None)).status is Status.UNREGISTERED


def test_the_reason_code_is_stable() -> None:
    assert Reason.KEY_COMPROMISED.value == "key_compromised"
