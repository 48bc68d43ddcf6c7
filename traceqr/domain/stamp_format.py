"""The TraceQR stamp formats — the normative text is docs/stamp-format.md.

Version 1: a stamp is 79 bytes::

    version (1) = 0x01 | kid (4) | serial (10) | Ed25519 signature (64)

The signature covers ``b"TRACEQR-STAMP-V1" || version || kid || serial``. The bytes are
written as 127 characters of unpadded RFC 4648 base32 (the *code*) and printed in a QR as
``<PUBLIC URL, upper case>/S/<code>``, which is all QR alphanumeric-mode text.

Version 2: the QR text is a GS1 Digital Link of the item that still verifies offline::

    <PUBLIC URL>/01/<GTIN-14>/10/<lot>/21/<serial, Crockford>?K=<kid, hex>&S=<signature>

The signature covers ``b"TRACEQR-STAMP-V2" || 0x02 || kid || serial || GTIN-14 (ASCII)
|| 0x00 || lot (ASCII)`` and is written as 103 characters of unpadded base32.

Parsing is strict: a text is either a stamp or a :class:`StampFormatError` with a stable
reason. A version 1 text has one canonical spelling (up to letter case and surrounding
white space); a version 2 text is read as GS1 Digital Link reads it (§9 of the document).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from traceqr.domain.codec import (
    EncodingError,
    base32_decode_canonical,
    base32_encode,
    base32_length,
    crockford_decode,
    crockford_encode,
    luhn32_check_symbol,
    normalize_crockford,
)
from traceqr.domain.digital_link import (
    DigitalLink,
    DigitalLinkError,
    build_digital_link,
    parse_digital_link,
)
from traceqr.domain.gs1 import normalize_gtin, validate_ai, validate_lot

FORMAT_V1 = 1
KID_LENGTH = 4
SERIAL_LENGTH = 10
SIGNATURE_LENGTH = 64
HEADER_LENGTH = 1 + KID_LENGTH + SERIAL_LENGTH
STAMP_LENGTH = HEADER_LENGTH + SIGNATURE_LENGTH
CODE_LENGTH = base32_length(STAMP_LENGTH)  # 127
SIGNING_CONTEXT_V1 = b"TRACEQR-STAMP-V1"
STAMP_PATH = "/S/"
MAX_SCANNED_TEXT = 2048
SERIAL_TEXT_LENGTH = 16
SHORT_CODE_LENGTH = SERIAL_TEXT_LENGTH + 1

FORMAT_V2 = 2
SIGNING_CONTEXT_V2 = b"TRACEQR-STAMP-V2"
GTIN_LENGTH = 14
SIGNATURE_TEXT_LENGTH = base32_length(SIGNATURE_LENGTH)  # 103
KEY_ID_PARAM = "K"
SIGNATURE_PARAM = "S"

_OFFLINE_URL = re.compile(r"HTTPS?://[^/\s]+(?:/[^\s]*)?/S/([^/\s]*)")


class StampFormatError(ValueError):
    """A scanned text is not a stamp of ours. ``reason`` is a stable, documented code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StampCode:
    """One decoded stamp: what the QR carries.

    Version 2 stamps also carry the GTIN-14 and the lot they were issued for; both are
    signed. ``to_bytes()`` and ``code`` exist for version 1 only (a version 2 stamp is its
    URL) and raise ``ValueError`` for version 2.
    """

    version: int
    kid: bytes
    serial: bytes
    signature: bytes
    gtin: str | None = None
    lot: str | None = None

    @property
    def signed_message(self) -> bytes:
        if self.version == FORMAT_V2:
            if self.gtin is None or self.lot is None:
                raise ValueError("a version 2 stamp needs a GTIN and a lot")
            return signed_message_v2(self.kid, self.serial, self.gtin, self.lot)
        return signed_message(self.kid, self.serial)

    def to_bytes(self) -> bytes:
        if self.version != FORMAT_V1:
            raise ValueError("only a version 1 stamp is a string of bytes; use url()")
        return bytes([self.version]) + self.kid + self.serial + self.signature

    @property
    def code(self) -> str:
        if self.version != FORMAT_V1:
            raise ValueError("only a version 1 stamp has a base32 code; use url()")
        return base32_encode(self.to_bytes())

    def url(self, public_url: str) -> str:
        """The text printed in the QR: ``/S/<code>`` (v1) or the GS1 Digital Link (v2)."""
        if self.version == FORMAT_V2:
            return stamp_url_v2(public_url, self)
        return stamp_url(public_url, self.code)


def signed_message(kid: bytes, serial: bytes) -> bytes:
    """The exact bytes an issuer signs for a version 1 stamp."""
    if len(kid) != KID_LENGTH or len(serial) != SERIAL_LENGTH:
        raise ValueError("kid must be 4 bytes and serial 10 bytes")
    return SIGNING_CONTEXT_V1 + bytes([FORMAT_V1]) + kid + serial


def encode_code(kid: bytes, serial: bytes, signature: bytes) -> str:
    """The base32 code of a version 1 stamp."""
    if len(signature) != SIGNATURE_LENGTH:
        raise ValueError("an Ed25519 signature is 64 bytes")
    return StampCode(FORMAT_V1, kid, serial, signature).code


@lru_cache(maxsize=32)  # a service has one public URL; every scan and stamp row asks
def normalize_public_url(public_url: str) -> str:
    """The URL prefix printed in stamps: scheme and host upper case, no trailing slash.

    A path prefix (``https://example.vn/traceqr``) is kept as written: if it holds lower
    case letters the QR falls back to byte mode and grows, so prefer a bare host.
    """
    url = public_url.strip().rstrip("/")
    match = re.fullmatch(r"(?i)(https?)://([^/\s?#]+)(/[^\s?#]*)?", url)
    if not match:
        raise ValueError(f"public URL must look like https://host[:port][/path], got {url!r}")
    scheme, host, path = match.group(1), match.group(2), match.group(3) or ""
    return f"{scheme.upper()}://{host.upper()}{path}"


def stamp_url(public_url: str, code: str) -> str:
    """The text printed in the QR."""
    return normalize_public_url(public_url) + STAMP_PATH + code


def extract_code(text: str, public_url: str | None) -> str:
    """Take the code out of a scanned text: a stamp URL or a bare code.

    With ``public_url`` given (the service), a URL must start with it, compared without
    regard to case. With ``None`` (an offline verifier), any http(s) URL whose path ends in
    ``/S/<code>`` is accepted; the caller should show the host to the person checking.
    Query strings and fragments some scanners append are ignored.
    """
    stripped = text.strip()
    if not stripped:
        raise StampFormatError("empty", "nothing was scanned")
    if len(stripped) > MAX_SCANNED_TEXT:
        raise StampFormatError("too_long", "the scanned text is far too long to be a stamp")
    if not stripped.isascii():
        raise StampFormatError("bad_character", "a stamp is plain ASCII text")
    upper = stripped.upper()
    if "/" not in upper and ":" not in upper:
        return upper
    without_extras = upper.split("#", 1)[0].split("?", 1)[0]
    if public_url is not None:
        prefix = normalize_public_url(public_url).upper() + STAMP_PATH
        if not without_extras.startswith(prefix):
            raise StampFormatError("foreign_url", "the URL is not a stamp URL of this service")
        code = without_extras[len(prefix) :]
        if "/" in code:
            raise StampFormatError("bad_character", "a stamp URL ends with the code")
        return code
    match = _OFFLINE_URL.fullmatch(without_extras)
    if not match:
        raise StampFormatError("not_a_stamp_url", "the text is not a stamp URL")
    return match.group(1)


def decode_code(code: str) -> StampCode:
    """Decode an upper-case code into its fields, rejecting every non-canonical text."""
    try:
        raw = base32_decode_canonical(code, STAMP_LENGTH)
    except EncodingError as exc:
        raise StampFormatError(exc.reason, f"not a stamp code: {exc}") from exc
    version = raw[0]
    if version != FORMAT_V1:
        raise StampFormatError("unknown_version", f"stamp format version {version} is unknown")
    return StampCode(
        version=version,
        kid=raw[1 : 1 + KID_LENGTH],
        serial=raw[1 + KID_LENGTH : HEADER_LENGTH],
        signature=raw[HEADER_LENGTH:],
    )


def parse_scanned_text(text: str, public_url: str | None) -> StampCode:
    """A scanned text → :class:`StampCode`, or :class:`StampFormatError`.

    Version 1 texts (a URL ending ``/S/<code>`` or a bare code) are read exactly as
    :func:`extract_code` and :func:`decode_code` read them. Any other text that is a GS1
    Digital Link is read as a version 2 stamp (:func:`parse_v2_link`); the rest gets the
    version 1 reasons (``foreign_url``, ``not_a_stamp_url``, …).
    """
    stripped = text.strip()
    plain = 0 < len(stripped) <= MAX_SCANNED_TEXT and stripped.isascii()
    if plain and not _looks_like_v1(stripped, public_url):
        try:
            link = parse_digital_link(stripped)
        except DigitalLinkError as exc:
            if exc.reason in ("empty", "too_long", "not_a_digital_link"):
                return decode_code(extract_code(text, public_url))
            if not _has_stamp_parameters(stripped):
                raise _unsigned_link() from exc
            raise StampFormatError(exc.reason, str(exc)) from exc
        return parse_v2_link(link, public_url)
    return decode_code(extract_code(text, public_url))


def _looks_like_v1(stripped: str, public_url: str | None) -> bool:
    """Whether :func:`extract_code` would find a version 1 code in the text."""
    upper = stripped.upper()
    if "/" not in upper and ":" not in upper:
        return True
    without_extras = upper.split("#", 1)[0].split("?", 1)[0]
    if public_url is not None and without_extras.startswith(
        normalize_public_url(public_url).upper() + STAMP_PATH
    ):
        return True
    # Another service's /S/ URL stays a version 1 text too: it is refused as foreign_url.
    return _OFFLINE_URL.fullmatch(without_extras) is not None


# --- version 2: a GS1 Digital Link that verifies offline --------------------------------


class StampSigning(Protocol):
    """What :func:`issue_v2` needs of a signer (``keys.StampSigner`` fits)."""

    kid: bytes

    def sign(self, message: bytes) -> bytes: ...


def signed_message_v2(kid: bytes, serial: bytes, gtin: str, lot: str) -> bytes:
    """The exact bytes an issuer signs for a version 2 stamp::

    "TRACEQR-STAMP-V2" || 0x02 || kid (4) || serial (10) || GTIN-14 (14 ASCII digits)
    || 0x00 || lot (1-20 ASCII characters of GS1 CSET 82)
    """
    if len(kid) != KID_LENGTH or len(serial) != SERIAL_LENGTH:
        raise ValueError("kid must be 4 bytes and serial 10 bytes")
    if len(gtin) != GTIN_LENGTH:
        raise ValueError("a version 2 stamp signs the GTIN as GTIN-14")
    validate_ai("01", gtin)
    validate_lot(lot)
    return (
        SIGNING_CONTEXT_V2
        + bytes([FORMAT_V2])
        + kid
        + serial
        + gtin.encode("ascii")
        + b"\x00"
        + lot.encode("ascii")
    )


def issue_v2(signer: StampSigning, serial: bytes, gtin: str, lot: str) -> StampCode:
    """Sign a version 2 stamp for ``serial`` on an item of ``gtin`` (GTIN-8/12/13/14) from
    ``lot``. Raises :class:`GS1Error` for a GTIN or lot GS1 does not allow."""
    gtin14 = normalize_gtin(gtin)
    message = signed_message_v2(signer.kid, serial, gtin14, lot)
    signature = signer.sign(message)
    if len(signature) != SIGNATURE_LENGTH:
        raise ValueError("an Ed25519 signature is 64 bytes")
    return StampCode(FORMAT_V2, signer.kid, serial, signature, gtin14, lot)


def stamp_url_v2(public_url: str, stamp: StampCode) -> str:
    """The QR text of a version 2 stamp: the canonical GS1 Digital Link on
    ``public_url`` (scheme and host upper case) with the key id and signature."""
    if stamp.version != FORMAT_V2 or stamp.gtin is None or stamp.lot is None:
        raise ValueError("only a version 2 stamp with a GTIN and a lot has this URL")
    if len(stamp.signature) != SIGNATURE_LENGTH:
        raise ValueError("an Ed25519 signature is 64 bytes")
    return build_digital_link(
        normalize_public_url(public_url),
        stamp.gtin,
        qualifiers=(("10", stamp.lot), ("21", serial_text(stamp.serial))),
        other_params=(
            (KEY_ID_PARAM, stamp.kid.hex().upper()),
            (SIGNATURE_PARAM, base32_encode(stamp.signature)),
        ),
    )


def parse_v2_link(link: DigitalLink, public_url: str | None) -> StampCode:
    """A parsed GS1 Digital Link → version 2 :class:`StampCode`, or
    :class:`StampFormatError`.

    With ``public_url`` (the service) the link's base URL must be it, compared without
    regard to case. With ``None`` (offline) any host is accepted; show it to the person
    checking. Parameters other than K and S with non-numeric names are ignored.
    """
    key_ids = [value for key, value in link.other_params if key.upper() == KEY_ID_PARAM]
    signatures = [value for key, value in link.other_params if key.upper() == SIGNATURE_PARAM]
    if not key_ids and not signatures:
        raise _unsigned_link()
    if public_url is not None and link.base_url.upper() != normalize_public_url(public_url).upper():
        raise StampFormatError("foreign_url", "the URL is not a stamp URL of this service")
    if len(key_ids) > 1 or len(signatures) > 1:
        raise StampFormatError(
            "duplicate_parameter", "the stamp link carries its key id or signature twice"
        )
    if not key_ids:
        raise StampFormatError("missing_key_id", "the stamp link has no key id (K)")
    if not signatures:
        raise StampFormatError("missing_signature", "the stamp link has no signature (S)")
    if [ai for ai, _ in link.qualifiers] != ["10", "21"]:
        raise StampFormatError(
            "not_a_stamp_link", "a stamp link names a GTIN, a lot (10) and a serial (21) only"
        )
    if link.attributes:
        raise StampFormatError(
            "unsigned_data",
            "the stamp link carries GS1 data its signature does not cover: "
            + ", ".join(f"({ai})" for ai, _ in link.attributes),
        )
    kid_text = key_ids[0]
    if not _KID_TEXT.fullmatch(kid_text):
        raise StampFormatError("bad_key_id", "a key id is 8 hexadecimal digits")
    try:
        if not signatures[0].isascii():  # "ı".upper() is "I": refuse before folding
            raise EncodingError("bad_character", "a signature is ASCII text")
        signature = base32_decode_canonical(signatures[0].upper(), SIGNATURE_LENGTH)
    except EncodingError as exc:
        raise StampFormatError(
            "bad_signature_encoding",
            f"the signature is not {SIGNATURE_TEXT_LENGTH} base32 "
            f"characters in their one canonical spelling: {exc}",
        ) from exc
    lot = link.qualifier("10")
    serial_value = link.qualifier("21")
    assert lot is not None and serial_value is not None
    try:
        serial = crockford_decode(serial_value.upper(), SERIAL_LENGTH)
    except EncodingError as exc:
        raise StampFormatError(
            "bad_serial", "the serial (21) of a stamp is 16 Crockford base32 characters"
        ) from exc
    return StampCode(FORMAT_V2, bytes.fromhex(kid_text), serial, signature, link.gtin, lot)


_KID_TEXT = re.compile(r"[0-9A-Fa-f]{8}")


def _has_stamp_parameters(text: str) -> bool:
    """Whether a text that failed GS1 Digital Link parsing still carries K or S."""
    query = text.split("#", 1)[0].partition("?")[2]
    names = {part.partition("=")[0].upper() for part in re.split(r"[&;]", query)}
    return KEY_ID_PARAM in names or SIGNATURE_PARAM in names


def _unsigned_link() -> StampFormatError:
    return StampFormatError(
        "unsigned_digital_link",
        "a GS1 Digital Link, but not a TraceQR stamp: it carries no signature",
    )


# --- serials and short codes -----------------------------------------------------------


def serial_text(serial: bytes) -> str:
    """The 16-character Crockford base32 name of a serial, as the API and CSV show it."""
    return crockford_encode(serial)


def short_code(serial: bytes) -> str:
    """What is printed under a QR for people to type: serial + check, grouped by four.

    ``7K3M-9QXR-2HBD-W4TN5``: the last group carries the check character, so a mistyped
    character is reported as a typing mistake, not as a fake.
    """
    text = serial_text(serial)
    full = text + luhn32_check_symbol(text)
    return f"{full[0:4]}-{full[4:8]}-{full[8:12]}-{full[12:]}"


def parse_serial(text: str) -> bytes:
    """A serial or a short code as a person or a program wrote it → the serial's bytes.

    Accepts the 16-character serial, or the 17-character short code whose check character
    must match; case, spaces and hyphens do not matter and O/I/L read as 0/1/1.
    """
    normalized = normalize_crockford(text)
    if len(normalized) == SHORT_CODE_LENGTH:
        body, check = normalized[:-1], normalized[-1]
        try:
            serial = crockford_decode(body, SERIAL_LENGTH)
        except EncodingError as exc:
            raise StampFormatError(exc.reason, f"not a short code: {exc}") from exc
        if luhn32_check_symbol(body) != check:
            raise StampFormatError("bad_check", "the code has a typing mistake")
        return serial
    if len(normalized) == SERIAL_TEXT_LENGTH:
        try:
            return crockford_decode(normalized, SERIAL_LENGTH)
        except EncodingError as exc:
            raise StampFormatError(exc.reason, f"not a serial: {exc}") from exc
    raise StampFormatError(
        "bad_length", f"a short code has {SHORT_CODE_LENGTH} characters, this has {len(normalized)}"
    )
