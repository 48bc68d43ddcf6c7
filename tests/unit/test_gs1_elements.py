"""GS1 element strings: Application Identifiers, their formats, dates and check digits."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traceqr.domain.gs1 import (
    AI_SPECS,
    CSET82,
    GS,
    ISO3166_NUMERIC,
    AISpec,
    GS1Error,
    UnknownAIError,
    ai_date,
    check_digit,
    format_element_string,
    gs1_century_year,
    gs1_date,
    parse_element_string,
    validate_ai,
)

TODAY = date(2026, 11, 28)


# --- check digits: published examples, each verified with the mod-10 algorithm ----------


@pytest.mark.parametrize(
    ("ai", "value"),
    [
        # GS1's example GTIN, used in GS1 Digital Link 1.0/1.1 examples such as
        # https://id.gs1.org/01/09506000134352/10/ABC/21/123?17=201225.
        ("01", "09506000134352"),
        # GS1 Digital Link Compression Prototype test data (https://id.gs1.org/01/05412345000013).
        ("01", "05412345000013"),
        # GTIN-14 example of the GS1 General Specifications (indicator 1, prefix 0614141).
        ("01", "10614141000033"),
        # SSCC example of the GS1 General Specifications / GS1-128 logistic label:
        # extension 1, company prefix 0614141, serial reference 123456789, check digit 7.
        ("00", "106141411234567897"),
        # SSCC of the GS1 Digital Link Compression Prototype (https://id.gs1.org/00/…).
        ("00", "998440410914660971"),
        # GLN of the GS1 EPC Tag Data Standard SGLN example
        # urn:epc:id:sgln:0614141.12345.5678 = (414)0614141123452(254)5678.
        ("414", "0614141123452"),
        ("417", "0614141123452"),
        # GLN used in GS1 Digital Link extraction tests (https://id.gs1.org/414/5060917510004).
        ("414", "5060917510004"),
        # 0614141000012: proposed in the brief as a GS1 GLN example. Its source is not
        # confirmed, but the mod-10 check digit (2) is right, so it is a valid GLN.
        ("414", "0614141000012"),
    ],
)
def test_published_keys_have_valid_check_digits(ai: str, value: str) -> None:
    assert check_digit(value[:-1]) == int(value[-1])
    assert validate_ai(ai, value) == value


def test_the_general_specifications_check_digit_example() -> None:
    # GS1 General Specifications §7.9.1: the check digit of 629104150021 is 3.
    assert check_digit("629104150021") == 3
    assert validate_ai("01", "06291041500213") == "06291041500213"


@pytest.mark.parametrize(
    ("ai", "value"),
    [("01", "09506000134353"), ("00", "106141411234567890"), ("414", "0614141123453")],
)
def test_a_wrong_check_digit_names_the_ai_and_the_right_digit(ai: str, value: str) -> None:
    with pytest.raises(GS1Error, match=rf"\({ai}\) .*check digit should be") as error:
        validate_ai(ai, value)
    assert error.value.params["ai"] == ai
    assert error.value.params["expected"] == check_digit(value[:-1])


# --- formats -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ai", "value"),
    [
        ("10", "ABC123"),
        ("10", "x" * 20),
        ("21", "12345"),
        ("21", "!\"%&'()*+,-./:;<=>?_"),
        ("22", "AJY3095721P49"),
        ("235", "8TFV883a904GH&3"),  # GS1 Digital Link Compression Prototype test data
        ("235", "y" * 28),
        ("253", "4012345000108"),  # a GDTI without serial component
        ("253", "4012345000108ABC-17"),
        ("254", "5678"),
        ("422", "704"),  # Việt Nam
        ("8200", "https://example.com/product/" + "p" * 42),
        ("17", "261231"),
        ("17", "261200"),  # day 00: the end of December 2026
        ("11", "240229"),
        ("3103", "000195"),
        ("7003", "2612312359"),
        ("30", "5"),
        ("37", "12345678"),
        ("99", "z" * 90),
    ],
)
def test_values_in_their_ai_format_are_accepted(ai: str, value: str) -> None:
    assert validate_ai(ai, value) == value


@pytest.mark.parametrize(
    ("ai", "value", "message"),
    [
        ("10", "", r"\(10\) BATCH/LOT cannot be empty"),
        ("10", "x" * 21, r"\(10\) BATCH/LOT has at most 20 characters, not 21"),
        ("21", "Lô 7", r"\(21\) SERIAL uses letters without accents.*'ô'"),
        ("21", "A#1", r"\(21\) SERIAL uses letters.*'#'"),
        ("235", "y" * 29, r"\(235\) TPX has at most 28"),
        ("01", "9506000134352", r"\(01\) GTIN has exactly 14 characters, not 13"),
        ("01", "0950600013435a", r"\(01\) GTIN is made of digits only"),
        ("01", "٠٩٥٠٦٠٠٠١٣٤٣٥٢", r"digits only"),  # Arabic-Indic digits are not digits here
        ("00", "10614141123456789", r"\(00\) SSCC has exactly 18"),
        ("253", "401234500010", r"\(253\) GDTI has at least 13 characters, not 12"),
        ("253", "4012345000109", r"\(253\) GDTI: the check digit should be 8"),
        ("253", "4012345000108#", r"\(253\) GDTI uses letters"),
        ("422", "999", r"\(422\) ORIGIN: 999 is not an ISO 3166 country number"),
        ("422", "7040", r"\(422\) ORIGIN has exactly 3"),
        ("17", "261301", r"\(17\) USE BY OR EXPIRY: 261301 is not a date written YYMMDD"),
        ("17", "260230", r"not a date"),
        ("11", "230229", r"not a date"),  # 2023 is not a leap year
        ("7003", "2612310000"[:6] + "2460", r"\(7003\) EXPIRY TIME: 2460 is not a time"),
        ("7003", "2612000000", r"\(7003\) EXPIRY TIME: 261200 is not a date"),  # no day 00
        ("3103", "00195", r"\(3103\) NET WEIGHT \(kg\) has exactly 6"),
        ("8200", "u" * 71, r"\(8200\) PRODUCT URL has at most 70"),
    ],
)
def test_values_outside_their_format_say_which_ai_and_what_is_wrong(
    ai: str, value: str, message: str
) -> None:
    with pytest.raises(GS1Error, match=message) as error:
        validate_ai(ai, value)
    assert error.value.template  # a translatable template, not a formatted string
    assert error.value.params.get("ai") == ai


@pytest.mark.parametrize("ai", ["", "1", "03", "19", "240x", "3106", "9", "10000", "٠١"])
def test_unknown_ais_are_refused(ai: str) -> None:
    with pytest.raises(UnknownAIError, match="not an Application Identifier"):
        validate_ai(ai, "1")


def test_the_table_holds_the_ais_traceqr_meets() -> None:
    traceqr_ais = ("00", "01", "02", "10", "11", "13", "15", "16", "17", "21", "22", "235")
    for ai in (*traceqr_ais, "253", "254", "414", "417", "422", "8200"):
        assert isinstance(AI_SPECS[ai], AISpec)
    assert AI_SPECS["01"].predefined_length and not AI_SPECS["10"].predefined_length
    assert not AI_SPECS["422"].predefined_length  # fixed length, but FNC1 follows it
    assert {AI_SPECS[ai].max_length for ai in ("3100", "3105", "3695")} == {6}
    assert "3106" not in AI_SPECS
    assert "704" in ISO3166_NUMERIC and len(ISO3166_NUMERIC) == 249


# --- dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yy", "today", "year"),
    [
        (26, TODAY, 2026),
        (99, TODAY, 1999),  # 73 years ahead would be too far: the previous century
        (76, TODAY, 2076),  # 50 years ahead: still this century
        (77, TODAY, 1977),  # 51 years ahead: the previous century
        (0, TODAY, 2000),
        (5, date(2060, 1, 1), 2105),  # 55 years back would be too far: the next century
        (11, date(2060, 1, 1), 2011),  # 49 years back: this century
        (10, date(2060, 1, 1), 2110),  # 50 years back: the next century
        (50, date(2099, 12, 31), 2050),
        (48, date(2099, 12, 31), 2148),
    ],
)
def test_two_digit_years_follow_the_gs1_century_rule(yy: int, today: date, year: int) -> None:
    # GS1 General Specifications §7.12: YY minus the current year's YY from 51 to 99 is
    # the previous century, from -99 to -50 the next, otherwise the current one.
    assert gs1_century_year(yy, today) == year


@pytest.mark.parametrize(
    ("ai", "value", "expected"),
    [
        ("17", "261231", date(2026, 12, 31)),
        ("17", "261200", date(2026, 12, 31)),  # DD = 00: the last day of the month
        ("15", "270200", date(2027, 2, 28)),
        ("15", "280200", date(2028, 2, 29)),
        ("11", "991231", date(1999, 12, 31)),
        ("13", "000229", date(2000, 2, 29)),
        ("16", "760101", date(2076, 1, 1)),
        ("12", "250615", date(2025, 6, 15)),
        ("7003", "2612312359", date(2026, 12, 31)),
    ],
)
def test_date_ais_convert_to_dates(ai: str, value: str, expected: date) -> None:
    assert ai_date(ai, value, today=TODAY) == expected


def test_date_helpers_refuse_what_is_not_a_date() -> None:
    with pytest.raises(GS1Error, match="is not a date"):
        ai_date("10", "261231")
    with pytest.raises(GS1Error, match="not a date written YYMMDD"):
        gs1_date("2612")
    with pytest.raises(GS1Error, match="not a date written YYMMDD"):
        gs1_date("261200", day_zero=False)
    # 2100 is not a leap year: in 2060 the century rule reads 00 as 2100.
    with pytest.raises(GS1Error, match="000229 is not a date"):
        ai_date("17", "000229", today=date(2060, 1, 1))
    assert ai_date("17", "261231") == gs1_date("261231")  # today by default


# --- element strings ---------------------------------------------------------------------


def test_the_human_readable_form_is_read_in_order() -> None:
    assert parse_element_string("(01)09506000134352(10)ABC(21)123") == [
        ("01", "09506000134352"),
        ("10", "ABC"),
        ("21", "123"),
    ]
    assert parse_element_string(" (01)09506000134352(17)201225(10)ABC123\n") == [
        ("01", "09506000134352"),
        ("17", "201225"),
        ("10", "ABC123"),
    ]


def test_the_raw_form_uses_predefined_lengths_and_fnc1() -> None:
    # 01 and 17 have predefined lengths; 10 is variable and ends at the GS (FNC1).
    raw = "0109506000134352" + "17201225" + "10ABC123" + GS + "21123"
    expected = [
        ("01", "09506000134352"),
        ("17", "201225"),
        ("10", "ABC123"),
        ("21", "123"),
    ]
    assert parse_element_string(raw) == expected
    assert parse_element_string("]d2" + raw) == expected  # GS1 DataMatrix identifier
    assert parse_element_string("]Q3" + GS + raw + GS) == expected
    # A separator after a predefined-length AI is tolerated.
    assert parse_element_string("0109506000134352" + GS + "10ABC") == [
        ("01", "09506000134352"),
        ("10", "ABC"),
    ]


def test_an_sscc_logistic_label() -> None:
    # GS1 General Specifications logistic label: SSCC, content GTIN, count, GLN, lot.
    raw = "00106141411234567897" + "0210614141000033" + "3720" + GS + "4140614141123452" + "10L7"
    assert parse_element_string(raw) == [
        ("00", "106141411234567897"),
        ("02", "10614141000033"),
        ("37", "20"),
        ("414", "0614141123452"),
        ("10", "L7"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no GS1 data"),
        ("   ", "no GS1 data"),
        ("(01)09506000134353", r"\(01\) GTIN: the check digit should be 2"),
        ("(01)09506000134352(10)", r"\(10\) BATCH/LOT cannot be empty"),
        ("(03)12345678901231", r"\(03\) is not an Application Identifier"),
        ("01)09506000134352", r"\(01\) GTIN is made of digits only"),  # raw: 01 ")0950…"
        ("(1)2", "expected an Application Identifier in brackets"),
        ("x(01)09506000134352", "expected an Application Identifier at"),
        ("010950600013435", r"\(01\) GTIN has exactly 14 characters, not 13"),
        ("0309506000134352", "no Application Identifier TraceQR knows starts 0309506"),
        ("(10)A(10)B", r"\(10\) appears twice with different values"),
        ("(17)261332", r"\(17\) USE BY OR EXPIRY: 261332 is not a date"),
        ("9" * 5000, "far too long"),
    ],
)
def test_bad_element_strings_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(GS1Error, match=message):
        parse_element_string(text)


def test_parentheses_in_values_are_escaped_in_the_human_readable_form() -> None:
    elements = [("01", "09506000134352"), ("10", "A(10)B"), ("21", "(x)")]
    text = format_element_string(elements)
    assert text == r"(01)09506000134352(10)A\(10)B(21)\(x)"
    assert parse_element_string(text) == elements
    # Unescaped, "(10)" would start an element, and "(x)" is just text.
    assert parse_element_string("(10)A(x)B") == [("10", "A(x)B")]
    assert parse_element_string("(10)A(21)B") == [("10", "A"), ("21", "B")]


def test_identical_repeats_are_kept_once() -> None:
    assert parse_element_string("(10)A(10)A") == [("10", "A")]


def test_the_raw_form_written_puts_fnc1_only_where_it_is_needed() -> None:
    elements = [("01", "09506000134352"), ("10", "ABC"), ("17", "261231"), ("21", "1")]
    raw = format_element_string(elements, raw=True)
    assert raw == "0109506000134352" + "10ABC" + GS + "17261231" + "211"
    assert parse_element_string(raw) == elements


# --- properties --------------------------------------------------------------------------


@given(st.text(max_size=200))
def test_any_text_gives_elements_or_a_clean_error(text: str) -> None:
    try:
        elements = parse_element_string(text)
    except GS1Error as exc:
        assert str(exc)
        assert exc.template
    else:
        assert elements and all(ai in AI_SPECS for ai, _ in elements)


@given(st.text(alphabet="0123456789()" + GS + "AB]d2", max_size=80))
def test_digit_soup_gives_elements_or_a_clean_error(text: str) -> None:
    try:
        parse_element_string(text)
    except GS1Error as exc:
        assert str(exc)


_CSET82_TEXT = sorted(CSET82)


@st.composite
def valid_value(draw: st.DrawFn, spec: AISpec) -> str:
    parts = []
    for component in spec.components:
        if component.optional and draw(st.booleans()):
            break
        length = draw(st.integers(component.min_length, component.max_length))
        if "yymmd0" in component.checks or "yymmdd" in component.checks:
            day = draw(st.dates(date(2000, 1, 1), date(2099, 12, 31)))
            text = day.strftime("%y%m%d")
            if "yymmd0" in component.checks and draw(st.booleans()):
                text = text[:4] + "00"
        elif "hhmm" in component.checks:
            text = f"{draw(st.integers(0, 23)):02d}{draw(st.integers(0, 59)):02d}"
        elif "iso3166" in component.checks:
            text = draw(st.sampled_from(sorted(ISO3166_NUMERIC)))
        elif component.charset == "N":
            text = draw(st.text(alphabet="0123456789", min_size=length, max_size=length))
            if "csum" in component.checks:
                text = text[:-1] + str(check_digit(text[:-1]))
        else:
            text = draw(st.text(alphabet=_CSET82_TEXT, min_size=length, max_size=length))
        parts.append(text)
    return "".join(parts)


@st.composite
def element_lists(draw: st.DrawFn) -> list[tuple[str, str]]:
    ais = draw(st.lists(st.sampled_from(sorted(AI_SPECS)), min_size=1, max_size=6, unique=True))
    return [(ai, draw(valid_value(AI_SPECS[ai]))) for ai in ais]


@given(element_lists())
def test_valid_values_round_trip_in_both_forms(elements: list[tuple[str, str]]) -> None:
    for ai, value in elements:
        assert validate_ai(ai, value) == value
    assert parse_element_string(format_element_string(elements)) == elements
    assert parse_element_string(format_element_string(elements, raw=True)) == elements
