"""The TraceQR stamp format, version 1 — the normative text is docs/stamp-format.md.

A stamp is 79 bytes::

    version (1) = 0x01 | kid (4) | serial (10) | Ed25519 signature (64)

The signature covers ``b"TRACEQR-STAMP-V1" || version || kid || serial``. The bytes are
written as 127 characters of unpadded RFC 4648 base32 (the *code*) and printed in a QR as
``<PUBLIC URL, upper case>/S/<code>``, which is all QR alphanumeric-mode text.

Parsing is strict: a text is either the one canonical spelling of a stamp (up to letter
case and surrounding white space) or a :class:`StampFormatError` with a stable reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

_OFFLINE_URL = re.compile(r"HTTPS?://[^/\s]+(?:/[^\s]*)?/S/([^/\s]*)")


class StampFormatError(ValueError):
    """A scanned text is not a stamp of ours. ``reason`` is a stable, documented code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StampCode:
    """One decoded stamp: what the QR carries."""

    version: int
    kid: bytes
    serial: bytes
    signature: bytes

    @property
    def signed_message(self) -> bytes:
        return signed_message(self.kid, self.serial)

    def to_bytes(self) -> bytes:
        return bytes([self.version]) + self.kid + self.serial + self.signature

    @property
    def code(self) -> str:
        return base32_encode(self.to_bytes())

    def url(self, public_url: str) -> str:
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
    """A scanned text (URL or bare code) → :class:`StampCode`, or :class:`StampFormatError`."""
    return decode_code(extract_code(text, public_url))


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
