"""GS1 Digital Link URIs for trade items: parse and build.

A GS1 Digital Link (GS1 Digital Link Standard: URI Syntax 1.2; 1.3 and later drop the
short names) writes GS1 element strings as a web address::

    https://id.gs1.org/01/09506000134352/10/ABC/21/123?17=201225
    └ any host, any ─┘└ primary key ──┘└ key qualifiers ┘└ data attributes ┘
      path prefix       (AI 01, GTIN)    22, 10, 21 in that
                                         order, or 235 alone

Only the GTIN (AI 01) is supported as primary key: a link to an SSCC, a GLN … is refused
with ``unsupported_primary_key``. Reading follows the standard's grammar:

* scheme and host are case-insensitive (RFC 3986 §3.1, §3.2.2), the path is not;
* the GS1 part is found from the right, so any path prefix (``/products``, ``/dl``)
  before the primary key is kept as part of the base URL;
* values are percent-decoded; GTIN-8/12/13 are accepted and normalised to GTIN-14;
* the short names of Digital Link 1.0–1.2 (``/gtin/``, ``/cpv/``, ``/lot/``, ``/ser/``;
  ``exp`` and ``expdt`` in the query) are read as their AIs;
* query parameters with all-digit keys are AIs (data attributes) and are validated;
  the others are kept, in order, as ``other_params``;
* compressed Digital Links (``https://id.gs1.org/AQnYUc1gmg``) are recognised and refused.

Every refusal is a :class:`DigitalLinkError` whose ``reason`` is a stable code (listed in
:data:`REASONS`) and whose message is a translatable template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from traceqr.domain.gs1 import (
    AI_SPECS,
    GTIN_LENGTHS,
    GS1Error,
    UnknownAIError,
    check_digit,
    format_element_string,
    normalize_gtin,
    validate_ai,
)
from traceqr.errors import N_

MAX_URI_LENGTH = 4096
GTIN_AI = "01"
# Key qualifiers of a GTIN, in the order the path must give them; 235 stands alone.
GTIN_QUALIFIER_ORDER = ("22", "10", "21")
TPX_AI = "235"
GTIN_QUALIFIERS = (*GTIN_QUALIFIER_ORDER, TPX_AI)
# The other primary keys and qualifiers of the standard, recognised only to say what is
# not supported rather than "not a Digital Link".
OTHER_PRIMARY_KEYS = frozenset(
    [
        "00",
        "253",
        "255",
        "401",
        "402",
        "414",
        "415",
        "416",
        "417",
        "8003",
        "8004",
        "8006",
        "8010",
        "8013",
        "8017",
        "8018",
    ]
)
OTHER_QUALIFIERS = frozenset(["254", "7040", "8011", "8019", "8020"])
# Digital Link 1.0-1.2 short names (1.2 grammar; 410-416 from 1.1), removed in 1.3.
LEGACY_PATH_NAMES: Mapping[str, str] = {
    "gtin": "01",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
    "sscc": "00",
    "gdti": "253",
    "glnx": "254",
    "gcn": "255",
    "ginc": "401",
    "gsin": "402",
    "shipTo": "410",
    "billTo": "411",
    "purchasedFrom": "412",
    "shipFor": "413",
    "gln": "414",
    "payTo": "415",
    "glnProd": "416",
    "party": "417",
    "grai": "8003",
    "giai": "8004",
    "itip": "8006",
    "cpid": "8010",
    "cpsn": "8011",
    "gmn": "8013",
    "gsrnp": "8017",
    "gsrn": "8018",
    "srin": "8019",
    "refno": "8020",
}
LEGACY_QUERY_NAMES: Mapping[str, str] = {"exp": "17", "expdt": "7003", "lot": "10"}

REASONS = (
    "empty",
    "too_long",
    "not_a_digital_link",  # not an http(s) URI with a GS1 primary key in its path
    "bad_percent_encoding",  # "%" not followed by two hex digits, or not UTF-8
    "compressed_not_supported",  # a compressed Digital Link
    "unsupported_primary_key",  # a Digital Link of an SSCC, GLN, … rather than a GTIN
    "bad_gtin",  # the GTIN breaks a GS1 rule (length, digits, check digit)
    "bad_path",  # after the GTIN the path is not AI/value pairs
    "bad_order",  # key qualifiers out of order, repeated, or 235 with others
    "misplaced_ai",  # an AI where it may not be (a data attribute in the path, 21 in the query)
    "unknown_ai",  # an all-digit key that is no AI TraceQR knows
    "duplicate_ai",  # the same AI twice
    "bad_ai_value",  # a value breaks its AI's format
)

_URI = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)"
    r"(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?",
    re.DOTALL,
)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_AUTHORITY = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::\d{{1,5}})?")
# RFC 3986 pchar (plus "/" in the path, "/" and "?" in the query).
_PATH_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*")
_QUERY_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]{8,}")
_BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ALL_DIGITS = re.compile(r"[0-9]+")


class DigitalLinkError(ValueError):
    """A text is not a GS1 Digital Link of a trade item; ``reason`` is a stable code.

    ``template`` and ``params`` let a page translate the message.
    """

    def __init__(self, reason: str, template: str, **params: object) -> None:
        super().__init__(template % params if params else template)
        self.reason = reason
        self.template = template
        self.params = params


@dataclass(frozen=True, slots=True)
class DigitalLink:
    """A parsed GS1 Digital Link of a trade item. Values are percent-decoded."""

    base_url: str  # scheme://host[:port][/path prefix]; scheme and host lower case
    gtin: str  # GTIN-14
    qualifiers: tuple[tuple[str, str], ...] = ()  # (AI, value) in path order
    attributes: tuple[tuple[str, str], ...] = ()  # (AI, value) from the query, in order
    other_params: tuple[tuple[str, str], ...] = ()  # non-GS1 query parameters, in order

    def qualifier(self, ai: str) -> str | None:
        return next((value for key, value in self.qualifiers if key == ai), None)

    def attribute(self, ai: str) -> str | None:
        return next((value for key, value in self.attributes if key == ai), None)

    def elements(self) -> list[tuple[str, str]]:
        """The GS1 data: primary key, qualifiers, then data attributes."""
        return [(GTIN_AI, self.gtin), *self.qualifiers, *self.attributes]

    def element_string(self, *, raw: bool = False) -> str:
        """The GS1 element string: ``(01)…(10)…`` or, with ``raw``, FNC1-separated."""
        return format_element_string(self.elements(), raw=raw)

    def uri(self, base_url: str | None = None) -> str:
        """The canonical URI of the same data (on ``base_url`` if given)."""
        return build_digital_link(
            self.base_url if base_url is None else base_url,
            self.gtin,
            qualifiers=self.qualifiers,
            attributes=self.attributes,
            other_params=self.other_params,
        )


# --- parsing -----------------------------------------------------------------------------


def parse_digital_link(text: str) -> DigitalLink:
    """A GS1 Digital Link URI of a trade item → :class:`DigitalLink`.

    Raises :class:`DigitalLinkError` with one of :data:`REASONS`.
    """
    uri = text.strip()
    if not uri:
        raise DigitalLinkError("empty", N_("there is nothing to read"))
    if len(uri) > MAX_URI_LENGTH:
        raise DigitalLinkError("too_long", N_("the text is far too long for a web address"))
    if not uri.isascii() or not uri.isprintable() or " " in uri:
        raise _not_a_link(N_("a web address is ASCII text without spaces"))
    match = _URI.fullmatch(uri)
    if match is None or match.group("scheme").lower() not in ("http", "https"):
        raise _not_a_link(N_("a GS1 Digital Link starts with https:// or http://"))
    authority = match.group("authority")
    if not _AUTHORITY.fullmatch(authority):
        raise _not_a_link(N_("the host of the address is not a plain host name"))
    path, query = match.group("path"), match.group("query") or ""
    if not _PATH_CHARS.fullmatch(path) or not _QUERY_CHARS.fullmatch(query):
        raise _not_a_link(N_("the address holds characters a URI must percent-encode"))
    if path.endswith("/"):
        path = path[:-1]  # a trailing slash some resolvers add
    segments = path.split("/")[1:] if path else []

    primary = _find_primary_key(segments)
    prefix = "/".join(["", *segments[:primary]]) if primary else ""
    gtin = _gtin14(_decode(segments[primary + 1]))
    qualifiers = _read_qualifiers(segments[primary + 2 :])
    attributes, other = _read_query(query, {ai for ai, _ in qualifiers})
    base_url = f"{match.group('scheme').lower()}://{authority.lower()}{prefix}"
    return DigitalLink(base_url, gtin, tuple(qualifiers), tuple(attributes), tuple(other))


def _gtin14(text: str) -> str:
    """A GTIN-8/12/13/14 from a path → GTIN-14, or ``bad_gtin`` naming AI (01)."""
    if not text.isascii() or not text.isdigit():
        raise DigitalLinkError("bad_gtin", N_("(01) GTIN is made of digits only"))
    if len(text) not in GTIN_LENGTHS:
        raise DigitalLinkError(
            "bad_gtin", N_("(01) GTIN has 8, 12, 13 or 14 digits, not %(length)s"), length=len(text)
        )
    try:
        return validate_ai(GTIN_AI, text.zfill(14))
    except GS1Error as exc:
        raise DigitalLinkError("bad_gtin", exc.template, **exc.params) from exc


def _not_a_link(template: str, **params: object) -> DigitalLinkError:
    return DigitalLinkError("not_a_digital_link", template, **params)


def _path_key(segment: str) -> str | None:
    """The AI a path segment names (digits or a legacy short name), or None."""
    if _ALL_DIGITS.fullmatch(segment):
        return segment
    return LEGACY_PATH_NAMES.get(segment)


def _find_primary_key(segments: list[str]) -> int:
    """Index of the GTIN primary key: the GS1 part is read from the right, in pairs."""
    index = len(segments) - 2
    while index >= 0:
        key = _path_key(segments[index])
        if key == GTIN_AI:
            return index
        if key in OTHER_PRIMARY_KEYS:
            raise DigitalLinkError(
                "unsupported_primary_key",
                N_("a GS1 Digital Link of AI (%(ai)s); TraceQR reads links of a GTIN (01) only"),
                ai=key,
            )
        if key not in GTIN_QUALIFIERS and key not in OTHER_QUALIFIERS:
            break
        index -= 2
    raise _diagnose(segments)


def _diagnose(segments: list[str]) -> DigitalLinkError:
    """Why a path that does not end in a GTIN key and its qualifiers is refused."""
    for index, segment in enumerate(segments):
        if _path_key(segment) == GTIN_AI and index + 1 < len(segments):
            rest = segments[index + 2 :]
            if len(rest) == 1 and _looks_compressed(rest[0], after_key=True):
                return _compressed()
            for position in range(0, len(rest), 2):
                key = _path_key(rest[position])
                if position + 1 == len(rest) or key is None:
                    return DigitalLinkError(
                        "bad_path",
                        N_("after the GTIN the path must be pairs of an AI and its value"),
                    )
                if key not in AI_SPECS and key not in OTHER_QUALIFIERS:
                    return _unknown_ai(key)
                if key not in GTIN_QUALIFIERS:
                    return _misplaced(key)
            return DigitalLinkError(  # pragma: no cover - the walk would have found it
                "bad_path", N_("after the GTIN the path must be pairs of an AI and its value")
            )
    if segments and _looks_compressed(segments[-1]):
        return _compressed()
    for segment in segments:
        if _path_key(segment) in OTHER_PRIMARY_KEYS:
            return DigitalLinkError(
                "unsupported_primary_key",
                N_("a GS1 Digital Link of AI (%(ai)s); TraceQR reads links of a GTIN (01) only"),
                ai=_path_key(segment),
            )
    return _not_a_link(N_("the address has no GS1 key such as /01/ and a GTIN in its path"))


def _looks_compressed(segment: str, *, after_key: bool = False) -> bool:
    """Whether a path segment is a compressed GS1 Digital Link (which is refused).

    Compression writes binary data in base64url: each AI as its digits in hexadecimal
    nibbles (01 → 0x01), a fixed-length numeric value as a binary number (a GTIN-14 in
    47 bits, an SSCC in 60). A whole compressed link is recognised when it starts with
    AI 01 or 00 and a number whose GS1 check digit is right; after an uncompressed
    primary key (``after_key``), a mixed-case base64url segment whose first nibbles are
    the digits of a key qualifier or data attribute.
    """
    # Binary data in base64url mixes upper and lower case; requiring a lower-case letter
    # keeps upper-case words, and TraceQR version 1 codes (base32), out.
    if not _BASE64URL.fullmatch(segment) or segment == segment.upper():
        return False
    bits = "".join(f"{_BASE64URL_ALPHABET.index(ch):06b}" for ch in segment)
    if after_key:
        nibbles = f"{int(bits[:24].ljust(24, '0'), 2):06x}"
        return segment.lower() != segment and any(nibbles.startswith(ai) for ai in AI_SPECS)
    for ai, digits, width in (("01", 14, 47), ("00", 18, 60)):
        if bits.startswith(f"{int(ai, 16):08b}") and len(bits) >= 8 + width:
            number = str(int(bits[8 : 8 + width], 2)).zfill(digits)
            if len(number) == digits and check_digit(number[:-1]) == int(number[-1]):
                return True
    return False


def _compressed() -> DigitalLinkError:
    return DigitalLinkError(
        "compressed_not_supported",
        N_("a compressed GS1 Digital Link; TraceQR reads uncompressed links only"),
    )


def _unknown_ai(ai: str) -> DigitalLinkError:
    return DigitalLinkError(
        "unknown_ai",
        N_("(%(ai)s) is not an Application Identifier TraceQR knows"),
        ai=ai[:8],
    )


def _misplaced(ai: str, where: str = "path") -> DigitalLinkError:
    if where == "path":
        return DigitalLinkError(
            "misplaced_ai",
            N_("(%(ai)s) is not a key qualifier of a GTIN: it belongs in the query string"),
            ai=ai,
        )
    return DigitalLinkError(
        "misplaced_ai",
        N_("(%(ai)s) belongs in the path of a GS1 Digital Link, not in its query string"),
        ai=ai,
    )


def _read_qualifiers(segments: list[str]) -> list[tuple[str, str]]:
    qualifiers: list[tuple[str, str]] = []
    for position in range(0, len(segments), 2):
        ai = _path_key(segments[position])
        assert ai is not None  # _find_primary_key walked these pairs
        if ai in OTHER_QUALIFIERS:
            raise _misplaced(ai)
        previous = qualifiers[-1][0] if qualifiers else None
        if ai == TPX_AI and qualifiers:
            raise DigitalLinkError(
                "bad_order", N_("(235) follows the GTIN alone, without (22), (10) or (21)")
            )
        if previous == TPX_AI:
            raise DigitalLinkError(
                "bad_order", N_("(235) follows the GTIN alone, without (22), (10) or (21)")
            )
        if (
            ai != TPX_AI
            and previous is not None
            and GTIN_QUALIFIER_ORDER.index(ai) <= GTIN_QUALIFIER_ORDER.index(previous)
        ):
            raise DigitalLinkError(
                "bad_order",
                N_(
                    "key qualifiers come in the order (22), (10), (21), each once; (%(ai)s) "
                    "comes after (%(previous)s)"
                ),
                ai=ai,
                previous=previous,
            )
        qualifiers.append((ai, _validated(ai, _decode(segments[position + 1]))))
    return qualifiers


def _read_query(
    query: str, path_ais: set[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    attributes: list[tuple[str, str]] = []
    other: list[tuple[str, str]] = []
    seen = set(path_ais)
    for parameter in re.split(r"[&;]", query):
        if not parameter:
            continue
        raw_key, _, raw_value = parameter.partition("=")
        key, value = _decode(raw_key), _decode(raw_value)
        if _ALL_DIGITS.fullmatch(key):
            ai = key
        elif key in LEGACY_QUERY_NAMES:
            ai = LEGACY_QUERY_NAMES[key]
        else:
            other.append((key, value))
            continue
        if ai not in AI_SPECS:
            raise _unknown_ai(ai)
        if ai == GTIN_AI or (ai in GTIN_QUALIFIERS and ai != "10"):
            raise _misplaced(ai, where="query")
        if ai in seen:
            raise DigitalLinkError(
                "duplicate_ai", N_("(%(ai)s) appears twice in the GS1 Digital Link"), ai=ai
            )
        seen.add(ai)
        attributes.append((ai, _validated(ai, value)))
    return attributes, other


def _validated(ai: str, value: str) -> str:
    try:
        return validate_ai(ai, value)
    except UnknownAIError as exc:  # pragma: no cover - callers check the table first
        raise _unknown_ai(ai) from exc
    except GS1Error as exc:
        raise DigitalLinkError("bad_ai_value", exc.template, **exc.params) from exc


def _decode(text: str) -> str:
    """Percent-decode strictly: every "%" starts two hex digits, and the bytes are UTF-8."""
    if "%" not in text:
        return text
    if _PERCENT.search(text):
        raise DigitalLinkError(
            "bad_percent_encoding",
            N_("a percent sign in a web address starts two hexadecimal digits"),
        )
    raw = bytearray()
    position = 0
    while position < len(text):
        if text[position] == "%":
            raw.append(int(text[position + 1 : position + 3], 16))
            position += 3
        else:
            raw.append(ord(text[position]))
            position += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DigitalLinkError(
            "bad_percent_encoding", N_("the percent-encoded bytes are not UTF-8 text")
        ) from exc


# --- building ----------------------------------------------------------------------------


def percent_encode(value: str) -> str:
    """Percent-encode all but the unreserved characters (RFC 3986), with upper-case hex.

    In CSET 82 that leaves letters, digits, ``-``, ``.`` and ``_`` as they are, which is
    what the Digital Link grammar asks for every other symbol.
    """
    return "".join(
        ch if ch in _UNRESERVED else "".join(f"%{byte:02X}" for byte in ch.encode("utf-8"))
        for ch in value
    )


def build_digital_link(
    base_url: str,
    gtin: str,
    *,
    qualifiers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
    attributes: Iterable[tuple[str, str]] | Mapping[str, str] = (),
    other_params: Iterable[tuple[str, str]] | Mapping[str, str] = (),
) -> str:
    """The canonical GS1 Digital Link URI of a trade item.

    ``base_url`` (``https://host[/prefix]``) is used as written, without a trailing
    slash: print it in upper case to keep a QR symbol in alphanumeric mode. The GTIN is
    written as GTIN-14, qualifiers in the order 22, 10, 21 (or 235 alone), data attributes
    and then the other parameters in the order given, every value percent-encoded with
    upper-case hex. Everything is validated: a :class:`DigitalLinkError` or
    :class:`GS1Error` says what is wrong.
    """
    base = base_url.strip().rstrip("/")
    match = _URI.fullmatch(base)
    if (
        match is None
        or match.group("scheme").lower() not in ("http", "https")
        or match.group("query") is not None
        or match.group("fragment") is not None
        or not _AUTHORITY.fullmatch(match.group("authority"))
        or not _PATH_CHARS.fullmatch(match.group("path"))
    ):
        raise _not_a_link(N_("a base URL looks like https://host[/path]"))
    gtin14 = normalize_gtin(gtin)
    given = dict(qualifiers.items() if isinstance(qualifiers, Mapping) else qualifiers)
    unknown = set(given) - set(GTIN_QUALIFIERS)
    if unknown:
        raise _misplaced(sorted(unknown)[0])
    if TPX_AI in given and len(given) > 1:
        raise DigitalLinkError(
            "bad_order", N_("(235) follows the GTIN alone, without (22), (10) or (21)")
        )
    parts = [base, "/01/", gtin14]
    for ai in GTIN_QUALIFIERS:
        if ai in given:
            parts += ["/", ai, "/", percent_encode(validate_ai(ai, given[ai]))]
    query = []
    seen = set(given)
    pairs = attributes.items() if isinstance(attributes, Mapping) else attributes
    for ai, value in pairs:
        if ai not in AI_SPECS:
            raise _unknown_ai(ai)
        if ai == GTIN_AI or (ai in GTIN_QUALIFIERS and ai != "10"):
            raise _misplaced(ai, where="query")
        if ai in seen:
            raise DigitalLinkError(
                "duplicate_ai", N_("(%(ai)s) appears twice in the GS1 Digital Link"), ai=ai
            )
        seen.add(ai)
        query.append(f"{ai}={percent_encode(validate_ai(ai, value))}")
    others = other_params.items() if isinstance(other_params, Mapping) else other_params
    for key, value in others:
        if not key or _ALL_DIGITS.fullmatch(key) or key in LEGACY_QUERY_NAMES:
            raise DigitalLinkError(
                "misplaced_ai",
                N_("%(key)s is reserved for GS1 data; other parameters need another name"),
                key=key[:20],
            )
        query.append(f"{percent_encode(key)}={percent_encode(value)}")
    if query:
        parts += ["?", "&".join(query)]
    return "".join(parts)
