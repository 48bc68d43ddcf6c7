"""One client cannot make a genuine stamp look copied: its own positions are no pair, its
own repeats count once. The rules are fed each check as the service would, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from traceqr.domain.places import Place, place_of
from traceqr.domain.provinces import all_provinces
from traceqr.domain.verification import (
    REPEAT_WINDOW,
    PastScan,
    Reason,
    ScanFacts,
    StampRecord,
    Status,
    evaluate,
    independent,
)

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
HA_NOI = place_of(21.03, 105.85, None)
SAI_GON = place_of(10.78, 106.70, None)
PLACES = [place_of(None, None, unit.code) for unit in all_provinces()]


def run(checks: list[tuple[datetime, Place | None, bytes | None]]) -> list[tuple[Reason, ...]]:
    """Each check judged against the ones before it, keeping the stamp's counters as the
    service does; returns every verdict's reasons."""
    recent: list[PastScan] = []
    counted = 0
    reasons = []
    for n, (at, place, client) in enumerate(checks, start=1):
        facts = ScanFacts(
            now=at,
            signature_checked=True,
            key_known=True,
            signature_valid=True,
            record=StampRecord(
                kid_matches=True,
                active=True,
                revoked=False,
                recalled=False,
                scan_count=n,
                first_scan_at=checks[0][0],
                recent=tuple(recent[:20]),
                independent_checks=counted,
            ),
            place=place,
            client=client,
        )
        verdict = evaluate(facts)
        reasons.append(verdict.reasons)
        counted += facts.counts_for_copy_rules()
        recent.insert(0, PastScan(at, place, client))
    return reasons


def test_one_client_saying_ha_noi_then_sai_gon_seconds_later_is_not_a_copy() -> None:
    me = b"one phone"
    reasons = run([(START, HA_NOI, me), (START + timedelta(seconds=5), SAI_GON, me)])
    assert reasons == [(), ()]
    # ... and the next shoppers' checks are not poisoned by it.
    later = run(
        [
            (START, HA_NOI, me),
            (START + timedelta(seconds=5), SAI_GON, me),
            *[(START + timedelta(hours=h), HA_NOI, bytes([h])) for h in range(1, 6)],
        ]
    )
    assert all(r == () for r in later)
    # Two different shoppers far apart within the hour are still a copy.
    copies = run([(START, HA_NOI, b"a"), (START + timedelta(minutes=40), SAI_GON, b"b")])
    assert copies[-1] == (Reason.IMPOSSIBLE_TRAVEL,)


def test_a_client_contradicting_itself_is_no_witness() -> None:
    reasons = run(
        [
            (START, HA_NOI, b"a"),
            (START + timedelta(minutes=1), HA_NOI, b"b"),
            (START + timedelta(minutes=2), SAI_GON, b"b"),  # b was in Hà Nội a minute ago
        ]
    )
    assert reasons[-1] == ()
    # Without its own Hà Nội claim, b's Sài Gòn check pairs with a's Hà Nội one.
    reasons = run(
        [
            (START, HA_NOI, b"a"),
            (START + timedelta(minutes=1), None, b"b"),
            (START + timedelta(minutes=2), SAI_GON, b"b"),
        ]
    )
    assert reasons[-1] == (Reason.IMPOSSIBLE_TRAVEL,)


def test_checks_with_no_client_are_never_half_of_a_pair() -> None:
    reasons = run([(START, HA_NOI, None), (START + timedelta(minutes=5), SAI_GON, b"b")])
    assert reasons == [(), ()]


def test_one_client_checking_thirty_times_in_ten_minutes_counts_once() -> None:
    me = b"curious shopper"
    reasons = run([(START + timedelta(seconds=15 * i), HA_NOI, me) for i in range(30)])
    assert all(r == () for r in reasons)
    # Twenty-one different shoppers, days apart: the count alone, as the contract says.
    reasons = run([(START + timedelta(days=i), None, bytes([i % 10])) for i in range(21)])
    assert all(r == () for r in reasons[:20])
    assert reasons[20] == (Reason.SCAN_COUNT_HIGH,)


def test_repeats_are_counted_from_the_clients_previous_check() -> None:
    me, other = b"me", b"other"
    minute = timedelta(minutes=1)
    checks = [
        PastScan(START + 25 * minute, None, me),  # 5 minutes after the last: a repeat
        PastScan(START + 20 * minute, None, me),  # 11 minutes after the one before: new
        PastScan(START + 9 * minute, None, other),
        PastScan(START + 9 * minute, None, None),
        PastScan(START + 9 * minute, None, me),  # a repeat of the first
        PastScan(START, None, me),
    ]
    assert independent(checks) == [checks[1], checks[2], checks[3], checks[5]]


clients = st.binary(min_size=1, max_size=4)
places = st.one_of(st.none(), st.sampled_from(PLACES))
gaps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(gaps, places), min_size=1, max_size=60), clients)
def test_any_checks_by_one_client_never_look_like_copies(
    steps: list[tuple[timedelta, Place | None]], client: bytes
) -> None:
    at = START
    checks = []
    for gap, place in steps:
        at += gap
        checks.append((at, place, client))
    for reasons in run(checks):
        assert Reason.IMPOSSIBLE_TRAVEL not in reasons
        assert Reason.MANY_CLIENTS not in reasons


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.timedeltas(min_value=timedelta(0), max_value=REPEAT_WINDOW / 40), places),
        min_size=1,
        max_size=40,
    ),
    clients,
)
def test_any_burst_of_checks_by_one_client_within_the_window_stays_genuine(
    steps: list[tuple[timedelta, Place | None]], client: bytes
) -> None:
    at = START
    checks = []
    for gap, place in steps:
        at += gap
        checks.append((at, place, client))
    assert all(r == () for r in run(checks))


def test_a_look_at_the_record_never_counts_as_a_new_check() -> None:
    record = StampRecord(True, True, False, False, 30, START, independent_checks=20)
    facts = ScanFacts(
        now=START,
        signature_checked=True,
        key_known=True,
        signature_valid=True,
        record=record,
        client=b"inspector",
        is_check=False,
    )
    assert facts.copy_check_count() == 20
    assert evaluate(facts).status is Status.GENUINE
