"""Every parser of outside input, under any input: a value that round-trips or a clear
domain error, never another exception.

The stamp formats, short codes, GS1 element strings and Digital Links have their own
property tests beside their unit tests (test_stamp_format.py, test_stamp_v2.py,
test_gs1_elements.py, test_digital_link.py); these cover the rest: dates as labels and
people write them, the validators every form and API body goes through, serial and kid
parameters, event times, input-lot lists, tax codes and EPCIS documents.
"""

from __future__ import annotations

import csv
import io
import json
import string
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceqr.domain.clusters import parse_register_csv
from traceqr.domain.dates import format_vn_date, parse_label_date, parse_typed_date
from traceqr.domain.epcis import EpcisError, import_document, parse_time
from traceqr.domain.gs1 import GS1Error, ai_date, normalize_gtin
from traceqr.domain.keys import KeyFormatError, kid_text, parse_kid_text
from traceqr.domain.stamp_format import serial_text, short_code
from traceqr.errors import ValidationError
from traceqr.services.businesses import clean_tax_code
from traceqr.services.stamps import parse_serial_param
from traceqr.services.traceability import parse_event_time, parse_input_lots
from traceqr.services.validation import (
    clean_date,
    clean_email,
    clean_gtin,
    clean_lot,
    clean_positive_int,
    clean_text,
)

NOW = datetime(2026, 11, 12, 3, 0, tzinfo=UTC)
DATE_CHARS = string.digits + "/-. T:+Z" + "٣߃０"  # with digits of other scripts
any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=60),
    st.lists(st.integers(), max_size=3),
    st.dates(),
)
dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))


def a_domain_error(error: BaseException) -> None:
    """The error a person or program gets: a message, and a field where there is one."""
    assert str(error)
    if isinstance(error, ValidationError):
        assert error.field
        assert error.template


# --- dates ------------------------------------------------------------------------------------


@given(st.text(alphabet=DATE_CHARS, max_size=24), st.booleans())
def test_label_dates_parse_or_say_the_expected_form(text: str, month_only: bool) -> None:
    try:
        value = parse_label_date(text, month_only_allowed=month_only)
    except ValueError as error:
        a_domain_error(error)
    else:
        assert isinstance(value, date)


@given(st.text(alphabet=DATE_CHARS, max_size=24), st.booleans())
def test_typed_dates_parse_or_say_the_expected_form(text: str, month_only: bool) -> None:
    try:
        value = parse_typed_date(text, month_only_allowed=month_only)
    except ValueError as error:
        a_domain_error(error)
    else:
        assert isinstance(value, date)


@given(dates)
def test_dates_round_trip_in_every_written_form(value: date) -> None:
    assert parse_label_date(value.isoformat()) == value
    assert parse_typed_date(format_vn_date(value)) == value
    assert parse_typed_date(value.strftime("%d.%m.%Y")) == value
    assert parse_typed_date(value.isoformat()) == value
    assert clean_date(value.isoformat(), "expiry_date") == value


@given(any_value, st.booleans())
def test_clean_date_takes_any_value(value: Any, month_only: bool) -> None:
    try:
        result = clean_date(value, "expiry_date", month_only_allowed=month_only)
    except ValidationError as error:
        a_domain_error(error)
        assert error.field == "expiry_date"
    else:
        assert result is None or isinstance(result, date)
        if isinstance(result, date) and not isinstance(value, date):
            assert clean_date(result.isoformat(), "expiry_date") == result


@given(st.text(alphabet="0123456789", min_size=6, max_size=6) | st.text(max_size=8))
def test_gs1_dates_parse_or_raise_a_gs1_error(text: str) -> None:
    for ai in ("11", "13", "15", "17"):
        try:
            value = ai_date(ai, text, today=NOW.date())
        except GS1Error as error:
            a_domain_error(error)
        else:
            assert isinstance(value, date)


@given(st.one_of(st.none(), st.text(alphabet=DATE_CHARS, max_size=40), st.text(max_size=40)))
def test_event_times_parse_with_an_offset_or_raise_a_field_error(value: str | None) -> None:
    try:
        parsed = parse_event_time(value, NOW)
    except ValidationError as error:
        a_domain_error(error)
        assert error.field == "event_time"
    else:
        assert parsed.tzinfo is not None
        assert parse_event_time(parsed.isoformat(), NOW) == parsed


@given(st.text(max_size=40))
def test_epcis_times_parse_or_raise_value_error(text: str) -> None:
    try:
        parsed = parse_time(text)
    except ValueError as error:
        a_domain_error(error)
    else:
        assert parse_time(parsed.isoformat()) == parsed


# --- validators -------------------------------------------------------------------------------


@given(any_value, st.booleans())
def test_clean_text_gives_stable_text_or_a_field_error(value: Any, multiline: bool) -> None:
    try:
        text = clean_text(value, "name", max_length=40, multiline=multiline)
    except ValidationError as error:
        a_domain_error(error)
    else:
        if text is not None:
            assert clean_text(text, "name", max_length=40, multiline=multiline) == text
            assert "\0" not in text


@given(any_value | st.emails())
def test_clean_email_gives_a_lower_case_address_or_a_field_error(value: Any) -> None:
    try:
        email = clean_email(value)
    except ValidationError as error:
        a_domain_error(error)
    else:
        assert email == email.lower() and "@" in email
        assert clean_email(email) == email


@given(any_value | st.text(alphabet="0123456789 ", max_size=16))
def test_clean_gtin_gives_a_gtin14_or_a_field_error(value: Any) -> None:
    try:
        gtin = clean_gtin(value)
    except ValidationError as error:
        a_domain_error(error)
    else:
        if gtin is not None:
            assert len(gtin) == 14 and gtin.isdigit()
            assert normalize_gtin(gtin) == gtin


@given(any_value)
def test_clean_lot_gives_a_gs1_lot_or_a_field_error(value: Any) -> None:
    try:
        lot = clean_lot(value)
    except ValidationError as error:
        a_domain_error(error)
    else:
        assert clean_lot(lot) == lot and 1 <= len(lot) <= 20


@given(any_value)
def test_clean_positive_int_takes_only_whole_numbers_in_range(value: Any) -> None:
    try:
        number = clean_positive_int(value, "count", maximum=100_000)
    except ValidationError as error:
        a_domain_error(error)
    else:
        assert type(number) is int and 1 <= number <= 100_000


@given(any_value | st.text(alphabet="0123456789- ", max_size=16))
def test_tax_codes_are_valid_or_refused(value: Any) -> None:
    try:
        code = clean_tax_code(value)
    except ValidationError as error:
        a_domain_error(error)
    else:
        if code is not None:
            assert clean_tax_code(code) == code


# --- identifiers ------------------------------------------------------------------------------


@given(st.text(max_size=40) | st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ-", max_size=24))
def test_serial_parameters_give_a_serial_or_a_field_error(text: str) -> None:
    try:
        serial = parse_serial_param(text)
    except ValidationError as error:
        a_domain_error(error)
        assert error.field == "serial"
    else:
        assert parse_serial_param(short_code(serial)) == serial
        assert parse_serial_param(serial_text(serial)) == serial


@given(st.text(max_size=20) | st.text(alphabet="0123456789abcdefABCDEF ", max_size=12))
def test_kids_parse_or_raise_a_key_format_error(text: str) -> None:
    try:
        kid = parse_kid_text(text)
    except KeyFormatError as error:
        a_domain_error(error)
    else:
        assert parse_kid_text(kid_text(kid)) == kid


@given(st.text(alphabet="0123456789/#;\n ABC-x", max_size=60) | st.text(max_size=60))
def test_input_lot_lists_always_give_a_list_of_lots(text: str) -> None:
    items = parse_input_lots(text)
    for item in items:
        assert set(item) in ({"batch_id"}, {"lot"}, {"gtin", "lot"})
        if "batch_id" in item:
            assert isinstance(item["batch_id"], int)


# --- EPCIS documents --------------------------------------------------------------------------

EPCIS_WORDS = [
    "EPCISDocument",
    "ObjectEvent",
    "TransformationEvent",
    "ADD",
    "OBSERVE",
    "2.0",
    "2026-11-02T07:30:00+07:00",
    "+07:00",
    "urn:epcglobal:cbv:bizstep:packing",
    "urn:epc:id:sgtin:8934588.001222.1",
    "https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
]
EPCIS_KEYS = [
    "type",
    "epcisBody",
    "eventList",
    "eventTime",
    "eventTimeZoneOffset",
    "bizStep",
    "action",
    "epcList",
    "quantityList",
    "@context",
    "schemaVersion",
    "creationDate",
    "x",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(EPCIS_WORDS),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(EPCIS_KEYS), children, max_size=6)
    ),
    max_leaves=25,
)


@settings(max_examples=200)
@given(json_values)
def test_any_json_is_an_epcis_document_or_a_clear_error(value: Any) -> None:
    inputs: list[Any] = [json.dumps(value).encode()]
    if isinstance(value, dict):
        inputs.append(value)  # an already parsed body, as the API hands it over
    for data in inputs:
        try:
            events = import_document(data, now=NOW)
        except EpcisError as error:
            a_domain_error(error)
            assert error.reason
        else:
            assert isinstance(events, list)


@pytest.mark.parametrize(
    "text",
    [b"", b"\xff\xfe", b"[" * 10_000 + b"]" * 10_000, b'{"a": 1e999}', b'{"a": NaN}', b"{" * 3],
)
def test_hostile_epcis_texts_are_refused_clearly(text: bytes) -> None:
    with pytest.raises(EpcisError) as caught:
        import_document(text, now=NOW)
    a_domain_error(caught.value)


# --- the register of industrial parks and clusters (authority CSV import) ----------------------

REGISTER_CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "KCN Thăng Long",
            "Cụm công nghiệp Phú Thị",
            "park",
            "cluster",
            "kcn",
            "ha-noi",
            "Hà Nội",
            "bac-ninh",
            "Xã Bát Tràng",
            "12.5",
            "-3",
            "nan",
            "1e400",
            "operating",
            "planned",
            '"',
            "a,b",
            "dòng\nmới",
            "\0",
        ]
    ),
    st.text(max_size=10),
)


REGISTER_HEADERS = ["name", "Tên", "kind", "loai", "province", "Tỉnh", "commune", "area_ha"]
REGISTER_HEADERS += ["status", "x", ""]


@st.composite
def register_texts(draw: st.DrawFn) -> str:
    header = draw(
        st.lists(
            st.sampled_from(REGISTER_HEADERS),
            min_size=1,
            max_size=7,
        )
    )
    rows = draw(st.lists(st.lists(REGISTER_CELLS, max_size=len(header) + 1), max_size=4))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(['"', "\r", ",", "\n", "\ufeff"])) + text[cut:]
    return text


@settings(max_examples=200)
@given(register_texts() | st.text(max_size=80))
def test_any_register_csv_gives_entries_or_problems_with_their_lines(text: str) -> None:
    entries, problems = parse_register_csv(text)
    for line, entry in entries:
        assert line >= 2 and entry.name and entry.province_code
    for problem in problems:
        assert problem.line >= 1
        assert problem.problem.field and problem.problem.template
        assert problem.problem.template % problem.problem.params  # its message can be shown
