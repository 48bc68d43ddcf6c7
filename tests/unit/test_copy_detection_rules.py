"""Copy-detection rules, each with a clock passed in: no sleeping, no real time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from traceqr.domain.places import Place, nearest_province, place_of, rounded
from traceqr.domain.provinces import province
from traceqr.domain.verification import (
    PastScan,
    Policy,
    Reason,
    ScanFacts,
    StampRecord,
    Status,
    evaluate,
)

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
HA_NOI = place_of(None, None, "ha-noi")
HO_CHI_MINH = place_of(None, None, "ho-chi-minh")
BAC_NINH = place_of(None, None, "bac-ninh")


def check(
    recent: list[PastScan],
    *,
    place: Place | None = None,
    client: bytes | None = b"me",
    policy: Policy | None = None,
    **record: object,
) -> tuple[Status, tuple[Reason, ...]]:
    fields: dict[str, object] = {
        "kid_matches": True,
        "active": True,
        "revoked": False,
        "recalled": False,
        "scan_count": len(recent) + 1,
        "first_scan_at": recent[-1].at if recent else NOW,
        "recent": tuple(recent),
    }
    fields.update(record)
    facts = ScanFacts(
        now=NOW,
        signature_checked=True,
        key_known=True,
        signature_valid=True,
        record=StampRecord(**fields),  # type: ignore[arg-type]
        place=place,
        client=client,
    )
    verdict = evaluate(facts, policy)
    return verdict.status, verdict.reasons


def test_distances_between_province_centres_are_plausible() -> None:
    assert HA_NOI is not None and HO_CHI_MINH is not None and BAC_NINH is not None
    assert 1100 < HA_NOI.km_to(HO_CHI_MINH) < 1200
    assert HA_NOI.km_to(BAC_NINH) < 50
    assert nearest_province(21.0, 105.8) == "ha-noi"
    assert rounded(21.0287, 105.8542) == (21.0, 105.9)
    with pytest.raises(ValueError, match="Earth"):
        rounded(95, 0)


def test_far_places_within_an_hour_mean_a_copy() -> None:
    status, reasons = check(
        [PastScan(NOW - timedelta(minutes=50), HA_NOI, b"a")], place=HO_CHI_MINH
    )
    assert status is Status.SUSPICIOUS and reasons == (Reason.IMPOSSIBLE_TRAVEL,)


def test_far_places_days_apart_are_a_journey() -> None:
    status, _ = check([PastScan(NOW - timedelta(days=2), HA_NOI, b"a")], place=HO_CHI_MINH)
    assert status is Status.GENUINE


def test_neighbouring_provinces_minutes_apart_are_not_a_copy() -> None:
    # Province centres are coarse: distances under min_distance_km never count.
    status, _ = check([PastScan(NOW - timedelta(minutes=5), HA_NOI, b"a")], place=BAC_NINH)
    assert status is Status.GENUINE


def test_an_old_impossible_pair_keeps_the_stamp_suspicious() -> None:
    recent = [
        PastScan(NOW - timedelta(hours=1), HO_CHI_MINH, b"b"),
        PastScan(NOW - timedelta(hours=2), HA_NOI, b"a"),
    ]
    status, reasons = check(recent, place=None)
    assert status is Status.SUSPICIOUS and Reason.IMPOSSIBLE_TRAVEL in reasons


def test_many_different_clients_mean_a_copy() -> None:
    recent = [PastScan(NOW - timedelta(hours=i), None, bytes([i])) for i in range(1, 11)]
    assert check(recent[:9])[0] is Status.GENUINE  # 10 clients with this one
    status, reasons = check(recent)  # 11 clients
    assert status is Status.SUSPICIOUS and reasons == (Reason.MANY_CLIENTS,)
    assert check(recent, policy=Policy(max_clients=20))[0] is Status.GENUINE


def test_checks_by_others_after_the_claim_mean_a_copy() -> None:
    claimed = NOW - timedelta(days=3)
    buyer = b"buyer"
    own = [PastScan(NOW - timedelta(days=d), HA_NOI, buyer) for d in (2, 1)]
    assert check(own, client=buyer, claimed_at=claimed, claimed_by=buyer)[0] is Status.GENUINE
    others = [PastScan(NOW - timedelta(hours=h), HA_NOI, bytes([h])) for h in (5, 4)]
    status, _ = check(others, client=b"third", claimed_at=claimed, claimed_by=buyer)
    assert status is Status.SUSPICIOUS  # 3 checks by others > allowance of 2
    assert (
        check(others[:1], client=b"third", claimed_at=claimed, claimed_by=buyer)[0]
        is Status.GENUINE
    )


def test_a_flagged_stamp_is_suspicious() -> None:
    status, reasons = check([], flagged=True)
    assert status is Status.SUSPICIOUS and reasons == (Reason.FLAGGED,)


def test_expiry_is_a_warning_that_keeps_the_verdict() -> None:
    status, reasons = check([], expiry_date=date(2026, 11, 19))
    assert status is Status.GENUINE and reasons == (Reason.EXPIRED,)
    assert check([], expiry_date=date(2026, 11, 20))[1] == ()  # still good today
    status, reasons = check([], expiry_date=date(2026, 1, 1), revoked=True)
    assert status is Status.REVOKED and reasons == (Reason.STAMP_REVOKED, Reason.EXPIRED)


def test_a_look_that_is_not_a_check_does_not_count_itself() -> None:
    recent = [PastScan(NOW - timedelta(hours=i), None, bytes([i])) for i in range(1, 11)]
    facts = ScanFacts(
        now=NOW,
        signature_checked=True,
        key_known=True,
        signature_valid=True,
        record=StampRecord(True, True, False, False, 10, None, recent=tuple(recent)),
        client=b"inspector",
        is_check=False,
    )
    assert evaluate(facts).status is Status.GENUINE  # 10 clients, not 11


@pytest.mark.parametrize(
    "bad",
    [{"max_speed_kmh": 10}, {"max_clients": 1}, {"after_claim_allowance": -1}, {"max_scans": 5}],
)
def test_policies_refuse_thresholds_that_would_flag_honest_buyers(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Policy(**bad)


def test_every_province_has_a_centre_in_vietnam() -> None:
    from traceqr.domain.provinces import all_provinces

    for unit in all_provinces():
        assert 8 < unit.lat < 24 and 102 < unit.lon < 110, unit.code
    assert province("ha-noi") is not None
