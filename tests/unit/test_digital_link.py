"""GS1 Digital Link URIs of trade items: parsing, building and everything refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traceqr.domain.digital_link import (
    REASONS,
    DigitalLink,
    DigitalLinkError,
    build_digital_link,
    parse_digital_link,
    percent_encode,
)
from traceqr.domain.gs1 import CSET82, GS, GS1Error, check_digit


def reason_of(text: str) -> str:
    with pytest.raises(DigitalLinkError) as error:
        parse_digital_link(text)
    assert error.value.reason in REASONS
    assert str(error.value)
    return error.value.reason


# --- published examples ------------------------------------------------------------------

# (URI, GS1 data it carries). Sources:
#   [DL]   GS1 Digital Link 1.0/1.1 examples with GS1's example GTIN 09506000134352
#   [BW]   bwipp wiki "GS1 Digital Link URIs" (github.com/bwipp/postscriptbarcode/wiki)
#   [CP]   GS1 Digital Link Compression Prototype test data (uncompressed forms)
PUBLISHED = [
    (  # [DL]
        "https://id.gs1.org/01/09506000134352/10/ABC/21/123?17=201225",
        [("01", "09506000134352"), ("10", "ABC"), ("21", "123"), ("17", "201225")],
    ),
    (  # [DL]: a GTIN-13 on a brand domain, net weight 0.195 kg
        "https://example.com/01/9506000134352?3103=000195",
        [("01", "09506000134352"), ("3103", "000195")],
    ),
    (  # [BW]
        "https://id.gs1.org/01/09521234543213/10/ABC123/21/12345",
        [("01", "09521234543213"), ("10", "ABC123"), ("21", "12345")],
    ),
    (  # [BW]
        "https://id.gs1.org/01/09521234543213/10/ABC123?17=261231",
        [("01", "09521234543213"), ("10", "ABC123"), ("17", "261231")],
    ),
    (  # [BW]: a path prefix of the brand's own
        "https://example.com/products/01/09521234543213",
        [("01", "09521234543213")],
    ),
    (  # [CP]
        "https://id.gs1.org/01/05412345000013/22/AJY3095721P49/10/ABC123/21/72292641703",
        [
            ("01", "05412345000013"),
            ("22", "AJY3095721P49"),
            ("10", "ABC123"),
            ("21", "72292641703"),
        ],
    ),
    (  # [CP]
        "https://id.gs1.org/01/05412345000013/22/AJY3095721P49/21/72292641703",
        [("01", "05412345000013"), ("22", "AJY3095721P49"), ("21", "72292641703")],
    ),
    (  # [CP]: 235 alone, with a percent-encoded "&"
        "https://id.gs1.org/01/05412345000013/235/8TFV883a904GH%263",
        [("01", "05412345000013"), ("235", "8TFV883a904GH&3")],
    ),
]


@pytest.mark.parametrize(("uri", "elements"), PUBLISHED, ids=[uri for uri, _ in PUBLISHED])
def test_published_digital_links_parse(uri: str, elements: list[tuple[str, str]]) -> None:
    link = parse_digital_link(uri)
    assert link.elements() == elements
    assert link.gtin == elements[0][1]
    assert link.other_params == ()


@pytest.mark.parametrize(
    ("uri", "elements"),
    [
        # [CP] Digital Link 1.1 short names, removed in 1.3.
        (
            "https://id.gs1.org/gtin/05412345000013/cpv/AJY3095721P49/lot/ABC123/ser/72292641703",
            [
                ("01", "05412345000013"),
                ("22", "AJY3095721P49"),
                ("10", "ABC123"),
                ("21", "72292641703"),
            ],
        ),
        (
            "https://id.gs1.org/gtin/05412345000013/ser/72292641703",
            [("01", "05412345000013"), ("21", "72292641703")],
        ),
        (  # "exp" was the 1.2 short name of (17) in the query string
            "https://example.com/gtin/9506000134352/lot/ABC?exp=261200",
            [("01", "09506000134352"), ("10", "ABC"), ("17", "261200")],
        ),
    ],
)
def test_legacy_short_names_are_read_and_written_as_ais(
    uri: str, elements: list[tuple[str, str]]
) -> None:
    link = parse_digital_link(uri)
    assert link.elements() == elements
    canonical = link.uri()
    assert "/gtin/" not in canonical and "exp=" not in canonical
    assert parse_digital_link(canonical) == link


def test_the_parsed_link_gives_its_element_string() -> None:
    link = parse_digital_link("https://id.gs1.org/01/09506000134352/10/ABC/21/123?17=201225")
    assert link.element_string() == "(01)09506000134352(10)ABC(21)123(17)201225"
    assert link.element_string(raw=True) == (
        "0109506000134352" + "10ABC" + GS + "21123" + GS + "17201225"
    )
    assert link.qualifier("10") == "ABC" and link.qualifier("22") is None
    assert link.attribute("17") == "201225" and link.attribute("15") is None


@pytest.mark.parametrize(
    ("gtin", "gtin14"),
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("614141000036", "00614141000036"),  # GTIN-12
        ("8934588012228", "08934588012228"),  # GTIN-13, Việt Nam (893)
        ("10614141000033", "10614141000033"),  # GTIN-14
    ],
)
def test_short_gtins_are_normalised_to_gtin14(gtin: str, gtin14: str) -> None:
    link = parse_digital_link(f"https://example.com/01/{gtin}")
    assert link.gtin == gtin14
    assert link.uri() == f"https://example.com/01/{gtin14}"


# --- host, path prefix, case -------------------------------------------------------------


def test_scheme_and_host_are_case_insensitive_the_path_is_not() -> None:
    upper = parse_digital_link("HTTPS://ID.GS1.ORG/01/09506000134352/10/ABC")
    lower = parse_digital_link("https://id.gs1.org/01/09506000134352/10/abc")
    assert upper.base_url == lower.base_url == "https://id.gs1.org"
    assert upper.qualifier("10") == "ABC" and lower.qualifier("10") == "abc"
    # Short names are case-sensitive too: /GTIN/ is not /gtin/.
    assert reason_of("https://id.gs1.org/GTIN/09506000134352") == "not_a_digital_link"


@pytest.mark.parametrize(
    ("uri", "base_url"),
    [
        ("https://brand.example.vn/01/09506000134352", "https://brand.example.vn"),
        ("https://brand.example.vn/dl/01/09506000134352/21/7", "https://brand.example.vn/dl"),
        ("http://127.0.0.1:8080/a/B/c/01/09506000134352", "http://127.0.0.1:8080/a/B/c"),
        ("https://[2001:db8::1]/01/09506000134352", "https://[2001:db8::1]"),
        # Numeric segments in the prefix: the GS1 part is found from the right.
        ("https://x.vn/2026/01/01/09506000134352/10/A", "https://x.vn/2026/01"),
        ("https://x.vn/10/x/01/09506000134352", "https://x.vn/10/x"),
        # A trailing slash some resolvers add is tolerated.
        ("https://x.vn/01/09506000134352/", "https://x.vn"),
    ],
)
def test_any_host_and_path_prefix_before_the_primary_key(uri: str, base_url: str) -> None:
    link = parse_digital_link(uri)
    assert link.base_url == base_url
    assert link.gtin == "09506000134352"


def test_values_are_percent_decoded_and_written_back_with_upper_case_escapes() -> None:
    link = parse_digital_link("https://x.vn/01/09506000134352/10/A%2fB%2B1/21/%41b?17=261231")
    assert link.qualifiers == (("10", "A/B+1"), ("21", "Ab"))
    assert link.uri() == "https://x.vn/01/09506000134352/10/A%2FB%2B1/21/Ab?17=261231"


def test_other_query_parameters_are_kept_apart_in_order() -> None:
    link = parse_digital_link(
        "https://x.vn/01/09506000134352?linkType=gs1:pip&17=261231&K=0A1B&lang=vi;S=x%3Dy"
    )
    assert link.attributes == (("17", "261231"),)
    assert link.other_params == (
        ("linkType", "gs1:pip"),
        ("K", "0A1B"),
        ("lang", "vi"),
        ("S", "x=y"),
    )
    assert link.uri() == (
        "https://x.vn/01/09506000134352?17=261231&linkType=gs1%3Apip&K=0A1B&lang=vi&S=x%3Dy"
    )


def test_a_fragment_is_ignored() -> None:
    assert parse_digital_link("https://x.vn/01/09506000134352#top").uri() == (
        "https://x.vn/01/09506000134352"
    )


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("", "empty"),
        ("https://x.vn/01/09506000134352?" + "a" * 5000, "too_long"),
        ("not a link", "not_a_digital_link"),
        ("ftp://x.vn/01/09506000134352", "not_a_digital_link"),
        ("javascript:alert(1)//01/09506000134352", "not_a_digital_link"),
        ("https://x.vn", "not_a_digital_link"),
        ("https://x.vn/products/shampoo", "not_a_digital_link"),
        ("https://x.vn/01/0950600013 4352", "not_a_digital_link"),
        ("https://x.vn/01/09506000134352/10/Lô", "not_a_digital_link"),
        ("https://x.vn/01/09506000134352/10/A<B", "not_a_digital_link"),
        # userinfo would let "traceqr.vn@evil.example" pass for traceqr.vn
        ("https://traceqr.vn@evil.example/01/09506000134352", "not_a_digital_link"),
        ("https://x_y.vn/01/09506000134352", "not_a_digital_link"),
        ("https://x.vn/01/09506000134352/10/A%2", "bad_percent_encoding"),
        ("https://x.vn/01/09506000134352/10/A%GG", "bad_percent_encoding"),
        ("https://x.vn/01/09506000134352/10/%FF", "bad_percent_encoding"),
        ("https://x.vn/01/09506000134352/10/%C3%B4", "bad_ai_value"),  # "ô" is not CSET 82
        ("https://x.vn/01/09506000134352/10/%00", "bad_ai_value"),
        ("https://x.vn/01/09506000134353", "bad_gtin"),
        ("https://x.vn/01/0950600013435", "bad_gtin"),
        ("https://x.vn/01/123", "bad_gtin"),
        ("https://x.vn/01/0950600013435X", "bad_gtin"),
        ("https://x.vn/01/09506000134352/21/1/10/2", "bad_order"),
        ("https://x.vn/01/09506000134352/10/1/10/2", "bad_order"),
        ("https://x.vn/01/09506000134352/10/1/22/2", "bad_order"),
        ("https://x.vn/01/09506000134352/235/1/21/2", "bad_order"),
        ("https://x.vn/01/09506000134352/21/1/235/2", "bad_order"),
        ("https://x.vn/01/09506000134352/10", "bad_path"),
        ("https://x.vn/01/09506000134352/info/x", "bad_path"),
        ("https://x.vn/01/09506000134352/17/261231", "misplaced_ai"),
        ("https://x.vn/01/09506000134352/254/A", "misplaced_ai"),
        ("https://x.vn/01/09506000134352?21=1", "misplaced_ai"),
        ("https://x.vn/01/09506000134352?01=09506000134352", "misplaced_ai"),
        ("https://x.vn/01/09506000134352/99999/1", "unknown_ai"),
        ("https://x.vn/01/09506000134352?7240=1", "unknown_ai"),
        ("https://x.vn/01/09506000134352/10/A?10=B", "duplicate_ai"),
        ("https://x.vn/01/09506000134352?17=261231&exp=261231", "duplicate_ai"),
        ("https://x.vn/01/09506000134352?17=261332", "bad_ai_value"),
        ("https://x.vn/01/09506000134352?17", "bad_ai_value"),
        ("https://x.vn/01/09506000134352/10/" + "x" * 21, "bad_ai_value"),
        ("https://x.vn/01/09506000134352?422=999", "bad_ai_value"),
        ("https://id.gs1.org/00/106141411234567897", "unsupported_primary_key"),
        ("https://id.gs1.org/414/5060917510004/254/RP56J920471", "unsupported_primary_key"),
        ("https://id.gs1.org/sscc/998440410914660971", "unsupported_primary_key"),
        # [CP] compressed forms of https://id.gs1.org/01/05412345000013/10/ABC123/21/…
        # and https://id.gs1.org/00/998440410914660971
        ("https://id.gs1.org/AQnYUc1gmiCNV4JGQhcNT6K6c", "compressed_not_supported"),
        ("https://id.gs1.org/AQnYUc1gmg", "compressed_not_supported"),
        ("https://id.gs1.org/AN2yxDhfaiaw", "compressed_not_supported"),
        ("https://id.gs1.org/01/05412345000013/EEarwSOABgwEj9s0bAmQ", "compressed_not_supported"),
    ],
)
def test_malformed_links_are_refused_with_a_stable_reason(uri: str, reason: str) -> None:
    assert reason_of(uri) == reason


def test_errors_carry_translatable_templates() -> None:
    with pytest.raises(DigitalLinkError) as error:
        parse_digital_link("https://x.vn/01/09506000134352?17=261332")
    assert error.value.template == "(%(ai)s) %(title)s: %(value)s is not a date written YYMMDD"
    assert error.value.params == {"ai": "17", "title": "USE BY OR EXPIRY", "value": "261332"}
    with pytest.raises(DigitalLinkError) as error:
        parse_digital_link("https://x.vn/01/09506000134353")
    assert error.value.params == {"ai": "01", "title": "GTIN", "expected": 2, "given": "3"}


def test_words_and_version_1_stamp_codes_are_not_taken_for_compressed_links() -> None:
    v1_code = "AEFBWLB5AAISEM2EKVTHPCEZY46O4YA3C3GVCPI2HMLYJSDLY43LSLRF7VZCUU6HOCHW7A6PZEH6R5ISG42G"
    assert reason_of(f"https://traceqr.example.vn/{v1_code}") == "not_a_digital_link"
    assert reason_of("https://example.com/products/SomeLongProductName") == "not_a_digital_link"


# --- building ----------------------------------------------------------------------------


def test_build_writes_the_canonical_form() -> None:
    uri = build_digital_link(
        "https://id.gs1.org/",
        "9506000134352",
        qualifiers={"21": "123", "10": "ABC"},  # any order in, 22-10-21 out
        attributes=[("17", "201225")],
    )
    assert uri == "https://id.gs1.org/01/09506000134352/10/ABC/21/123?17=201225"
    assert build_digital_link("HTTPS://X.VN", "09506000134352", qualifiers={"235": "a&b"}) == (
        "HTTPS://X.VN/01/09506000134352/235/a%26b"
    )


def test_percent_encoding_leaves_only_unreserved_characters() -> None:
    for ch in sorted(CSET82):
        expected = ch if ch.isalnum() or ch in "-._" else f"%{ord(ch):02X}"
        assert percent_encode(ch) == expected
    assert percent_encode("!\"%&'()*+,-./:;<=>?_") == (
        "%21%22%25%26%27%28%29%2A%2B%2C-.%2F%3A%3B%3C%3D%3E%3F_"
    )
    assert percent_encode("ô") == "%C3%B4"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"base_url": "ftp://x.vn"}, DigitalLinkError),
        ({"base_url": "https://x.vn?q=1"}, DigitalLinkError),
        ({"base_url": "https://u@x.vn"}, DigitalLinkError),
        ({"gtin": "09506000134353"}, GS1Error),
        ({"qualifiers": {"10": "A", "235": "B"}}, DigitalLinkError),
        ({"qualifiers": {"17": "261231"}}, DigitalLinkError),
        ({"qualifiers": {"10": "Lô"}}, GS1Error),
        ({"attributes": {"21": "1"}}, DigitalLinkError),
        ({"attributes": {"7240": "1"}}, DigitalLinkError),
        ({"attributes": {"17": "261332"}}, GS1Error),
        ({"qualifiers": {"10": "A"}, "attributes": {"10": "B"}}, DigitalLinkError),
        ({"other_params": {"17": "x"}}, DigitalLinkError),
        ({"other_params": {"exp": "x"}}, DigitalLinkError),
        ({"other_params": {"": "x"}}, DigitalLinkError),
    ],
)
def test_build_refuses_what_a_parser_would_refuse(kwargs: dict, error: type) -> None:
    arguments = {"base_url": "https://x.vn", "gtin": "09506000134352", **kwargs}
    with pytest.raises(error):
        build_digital_link(**arguments)


# --- properties --------------------------------------------------------------------------


@given(st.text(max_size=300))
def test_any_text_gives_a_link_or_a_clean_error(text: str) -> None:
    try:
        link = parse_digital_link(text)
    except DigitalLinkError as exc:
        assert exc.reason in REASONS
        assert str(exc)
    else:
        assert isinstance(link, DigitalLink)
        assert len(link.gtin) == 14


_URI_PIECES = st.sampled_from(
    [
        "https://",
        "x.vn",
        "/",
        "01",
        "09506000134352",
        "10",
        "21",
        "22",
        "235",
        "17",
        "?",
        "&",
        "=",
        "%",
        "%2F",
        "gtin",
        "lot",
        "ser",
        "K",
        "S",
        "261231",
        "A",
        "#",
        "3103",
        "000195",
    ]
)


@given(st.lists(_URI_PIECES, max_size=24).map("".join))
def test_link_shaped_soup_gives_a_link_or_a_clean_error(text: str) -> None:
    try:
        link = parse_digital_link(text)
    except DigitalLinkError as exc:
        assert exc.reason in REASONS
    else:
        assert parse_digital_link(link.uri()) == link


def _gtin14(body: str) -> str:
    return body + str(check_digit(body))


_X = st.text(alphabet=sorted(CSET82), min_size=1, max_size=20)


@given(
    gtin=st.text(alphabet="0123456789", min_size=13, max_size=13).map(_gtin14),
    cpv=st.none() | _X,
    lot=st.none() | _X,
    serial=st.none() | _X,
    expiry=st.none() | st.dates().map(lambda d: d.strftime("%y%m%d")),
    other=st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True), st.text(max_size=8)
        ),
        max_size=3,
    ),
    prefix=st.sampled_from(["", "/dl", "/a/01/b"]),
)
def test_built_links_parse_back_to_the_same_values(
    gtin: str,
    cpv: str | None,
    lot: str | None,
    serial: str | None,
    expiry: str | None,
    other: list[tuple[str, str]],
    prefix: str,
) -> None:
    other = [(key, value) for key, value in other if key not in ("exp", "expdt", "lot")]
    qualifiers = [(ai, v) for ai, v in (("22", cpv), ("10", lot), ("21", serial)) if v]
    attributes = [("17", expiry)] if expiry else []
    uri = build_digital_link(
        "https://brand.example.vn" + prefix,
        gtin,
        qualifiers=qualifiers,
        attributes=attributes,
        other_params=other,
    )
    link = parse_digital_link(uri)
    assert link.gtin == gtin
    assert list(link.qualifiers) == qualifiers
    assert list(link.attributes) == attributes
    assert list(link.other_params) == other
    assert link.base_url == "https://brand.example.vn" + prefix
    assert link.uri() == uri
