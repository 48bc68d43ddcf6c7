"""GS1 identifiers and label dates."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traceqr.domain.dates import format_vn_date, format_vn_datetime, iso_vietnam, parse_label_date
from traceqr.domain.gs1 import GS1Error, check_digit, normalize_gtin, validate_lot


@pytest.mark.parametrize(
    ("gtin", "gtin14"),
    [
        ("96385074", "00000096385074"),  # GS1 GTIN-8 example
        ("614141000036", "00614141000036"),  # GS1 GTIN-12 example
        ("4006381333931", "04006381333931"),  # a GTIN-13 on a retail label
        ("8934588012228", "08934588012228"),  # a Vietnamese (893) GTIN-13
        ("10614141000033", "10614141000033"),  # GS1 GTIN-14 example
    ],
)
def test_valid_gtins_are_stored_as_gtin14(gtin: str, gtin14: str) -> None:
    assert normalize_gtin(gtin) == gtin14


def test_gs1_check_digit_example_from_the_general_specifications() -> None:
    # GS1 General Specifications 7.9.1: 629104150021 → check digit 3.
    assert check_digit("629104150021") == 3


@pytest.mark.parametrize(
    ("gtin", "message"),
    [
        ("4006381333932", "check digit should be 1"),
        ("12345", "8, 12, 13 or 14 digits"),
        ("40063813339a1", "digits only"),
        ("٤٠٠٦٣٨١٣٣٣٩٣١", "digits only"),  # Arabic-Indic digits are digits to Python
        ("", "digits only"),
    ],
)
def test_bad_gtins_say_what_is_wrong(gtin: str, message: str) -> None:
    with pytest.raises(GS1Error, match=message):
        normalize_gtin(gtin)


@given(st.text(alphabet="0123456789", min_size=7, max_size=13))
def test_appending_the_check_digit_always_gives_a_valid_gtin(body: str) -> None:
    gtin = body + str(check_digit(body))
    if len(gtin) in (8, 12, 13, 14):
        assert normalize_gtin(gtin).endswith(gtin)
        wrong = gtin[:-1] + str((int(gtin[-1]) + 1) % 10)
        with pytest.raises(GS1Error):
            normalize_gtin(wrong)


@pytest.mark.parametrize("lot", ["A", "BT-2611-A", "L/2026.11_3", "x" * 20])
def test_lots_in_cset82_are_accepted(lot: str) -> None:
    assert validate_lot(lot) == lot


@pytest.mark.parametrize("lot", ["", "x" * 21, "Lô 1", "A#1", "tab\there"])
def test_lots_outside_cset82_are_refused(lot: str) -> None:
    with pytest.raises(GS1Error):
        validate_lot(lot)


def test_month_only_expiry_means_the_last_day_of_the_month() -> None:
    assert parse_label_date("2027-02", month_only_allowed=True) == date(2027, 2, 28)
    assert parse_label_date("2028-02", month_only_allowed=True) == date(2028, 2, 29)
    assert parse_label_date("2026-12", month_only_allowed=True) == date(2026, 12, 31)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_label_date("2027-02")


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13", "12/11/2026", "2026-1-1", "tomorrow"])
def test_impossible_or_foreign_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_label_date(text, month_only_allowed=True)


def test_dates_show_as_vietnamese_labels_write_them() -> None:
    assert format_vn_date(date(2026, 11, 2)) == "02/11/2026"
    # 20:30 UTC on 11 Nov is already 12 Nov in Hà Nội.
    late = datetime(2026, 11, 11, 20, 30, tzinfo=UTC)
    assert format_vn_date(late) == "12/11/2026"
    assert format_vn_datetime(late) == "03:30 12/11/2026"
    assert iso_vietnam(late) == "2026-11-12T03:30:00+07:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("02/11/2026", date(2026, 11, 2)),
        ("2.11.2026", date(2026, 11, 2)),
        ("02-11-2026", date(2026, 11, 2)),
        ("02 11 2026", date(2026, 11, 2)),
        ("2026-11-02", date(2026, 11, 2)),
        ("06/2027", date(2027, 6, 30)),
        ("2027-06", date(2027, 6, 30)),
    ],
)
def test_typed_dates_follow_vietnamese_habits(text: str, expected: date) -> None:
    from traceqr.domain.dates import parse_typed_date

    assert parse_typed_date(text, month_only_allowed=True) == expected


@pytest.mark.parametrize("text", ["31/02/2026", "13/2027", "2026/11/02", "hôm nay", "06/2027x"])
def test_impossible_typed_dates_are_refused(text: str) -> None:
    from traceqr.domain.dates import parse_typed_date

    with pytest.raises(ValueError):
        parse_typed_date(text, month_only_allowed=True)
