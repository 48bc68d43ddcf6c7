"""Verification rules: each reason, and which status wins when several hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from traceqr.domain.verification import (
    STATUS_PRECEDENCE,
    Policy,
    Reason,
    ScanFacts,
    StampRecord,
    Status,
    evaluate,
)

NOW = datetime(2026, 11, 12, tzinfo=UTC)


def record(**overrides: object) -> StampRecord:
    fields: dict[str, object] = {
        "kid_matches": True,
        "active": True,
        "revoked": False,
        "recalled": False,
        "scan_count": 1,
        "first_scan_at": NOW,
    }
    fields.update(overrides)
    return StampRecord(**fields)  # type: ignore[arg-type]


def signed(rec: StampRecord | None) -> ScanFacts:
    return ScanFacts(
        now=NOW, signature_checked=True, key_known=True, signature_valid=True, record=rec
    )


def test_a_registered_active_stamp_is_genuine() -> None:
    verdict = evaluate(signed(record()))
    assert verdict.status is Status.GENUINE
    assert verdict.reasons == ()
    assert verdict.signature_valid


@pytest.mark.parametrize(
    ("facts", "status", "reason"),
    [
        (ScanFacts(now=NOW, format_error="bad_length"), Status.INVALID, Reason.MALFORMED_CODE),
        (ScanFacts(now=NOW, format_error="foreign_url"), Status.INVALID, Reason.FOREIGN_URL),
        (ScanFacts(now=NOW, signature_checked=True), Status.INVALID, Reason.UNKNOWN_KEY),
        (
            ScanFacts(now=NOW, signature_checked=True, key_known=True),
            Status.INVALID,
            Reason.BAD_SIGNATURE,
        ),
        (signed(None), Status.UNREGISTERED, Reason.NO_RECORD),
        (signed(record(kid_matches=False)), Status.UNREGISTERED, Reason.KEY_MISMATCH),
        (signed(record(revoked=True)), Status.REVOKED, Reason.STAMP_REVOKED),
        (signed(record(recalled=True)), Status.RECALLED, Reason.BATCH_RECALLED),
        (signed(record(active=False)), Status.INACTIVE, Reason.STAMP_INACTIVE),
        (signed(record(scan_count=21)), Status.SUSPICIOUS, Reason.SCAN_COUNT_HIGH),
    ],
)
def test_each_rule_gives_its_status_and_reason(
    facts: ScanFacts, status: Status, reason: Reason
) -> None:
    verdict = evaluate(facts)
    assert verdict.status is status
    assert verdict.reasons[0] is reason
    assert verdict.signature_valid is (status is not Status.INVALID)


def test_the_most_serious_status_wins_and_every_reason_is_kept() -> None:
    verdict = evaluate(signed(record(revoked=True, recalled=True, active=False, scan_count=50)))
    assert verdict.status is Status.REVOKED
    assert verdict.reasons == (
        Reason.STAMP_REVOKED,
        Reason.BATCH_RECALLED,
        Reason.STAMP_INACTIVE,
        Reason.SCAN_COUNT_HIGH,
    )


def test_precedence_is_the_contract_order() -> None:
    assert [s.value for s in STATUS_PRECEDENCE] == [
        "invalid",
        "unregistered",
        "revoked",
        "recalled",
        "inactive",
        "suspicious",
        "genuine",
    ]


def test_the_count_alone_never_makes_a_stamp_suspicious_before_its_tenth_check() -> None:
    strictest = Policy(max_scans=9)
    for count in range(1, 10):
        assert evaluate(signed(record(scan_count=count)), strictest).status is Status.GENUINE
    assert evaluate(signed(record(scan_count=10)), strictest).status is Status.SUSPICIOUS
    with pytest.raises(ValueError, match="at least 9"):
        Policy(max_scans=8)


def test_default_policy_allows_twenty_checks() -> None:
    assert evaluate(signed(record(scan_count=20))).status is Status.GENUINE
    assert evaluate(signed(record(scan_count=21))).status is Status.SUSPICIOUS


def test_an_empty_rule_set_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="empty rule set"):
        evaluate(signed(record()), rules=())
