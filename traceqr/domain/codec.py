"""Text encodings used by the stamp format.

* RFC 4648 base32 (``A-Z2-7``), unpadded and canonical, for the code carried in the QR:
  every character is in the QR alphanumeric set, so the whole URL encodes compactly.
* Crockford base32 (``0-9A-Z`` minus ``I L O U``) with a Luhn mod 32 check character for
  the short code printed under each QR, which people read and type.
"""

from __future__ import annotations

RFC4648_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_INDEX = {symbol: value for value, symbol in enumerate(CROCKFORD_ALPHABET)}
# Letters people confuse with digits are read as the digits (Crockford's rule).
_CROCKFORD_ALIASES = {"O": "0", "I": "1", "L": "1"}
_RFC4648_SET = frozenset(RFC4648_ALPHABET)


class EncodingError(ValueError):
    """The text is not a valid encoding; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def base32_length(byte_count: int) -> int:
    """Number of unpadded base32 characters that encode ``byte_count`` bytes."""
    return -(-byte_count * 8 // 5)


# base64.b32encode is pure Python and costs ~18 µs for a stamp; two symbols per lookup
# through one big integer is ~4× faster, and every stamp export encodes one code per row.
_PAIRS = [a + b for a in RFC4648_ALPHABET for b in RFC4648_ALPHABET]
_RFC4648_TO_INT32 = str.maketrans(RFC4648_ALPHABET, "0123456789abcdefghijklmnopqrstuv")


def base32_encode(data: bytes) -> str:
    """Unpadded, upper-case RFC 4648 base32."""
    length = base32_length(len(data))
    pairs = (length + 1) // 2
    value = int.from_bytes(data, "big") << (pairs * 10 - len(data) * 8)
    shifts = range((pairs - 1) * 10, -1, -10)
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in shifts])[:length]


def base32_decode_canonical(text: str, byte_count: int) -> bytes:
    """Decode exactly ``byte_count`` bytes from unpadded upper-case base32.

    Only the canonical spelling is accepted: no padding, no lower case (callers fold case
    first), no characters outside the alphabet and every unused trailing bit zero. So two
    different texts never decode to the same bytes.
    """
    if len(text) != base32_length(byte_count):
        raise EncodingError(
            "bad_length", f"expected {base32_length(byte_count)} characters, got {len(text)}"
        )
    if not _RFC4648_SET.issuperset(text):
        bad = sorted({ch for ch in text if ch not in _RFC4648_SET})
        shown = ", ".join(repr(ch) for ch in bad[:5])
        raise EncodingError("bad_character", f"characters outside base32: {shown}")
    # int(…, 32) reads the digits 0-9a-v in C; the alphabet was checked above, so no
    # character int() would otherwise tolerate (underscores, white space) gets through.
    value = int(text.translate(_RFC4648_TO_INT32), 32)
    spare = len(text) * 5 - byte_count * 8
    if value & ((1 << spare) - 1):
        raise EncodingError("non_canonical", "unused trailing bits are not zero")
    return (value >> spare).to_bytes(byte_count, "big")


_RFC4648_TO_CROCKFORD = str.maketrans(RFC4648_ALPHABET, CROCKFORD_ALPHABET)


def crockford_encode(data: bytes) -> str:
    """Crockford base32 of ``data``, most significant bits first, no padding.

    Both alphabets write the same 5-bit groups, so this is RFC 4648 with the symbols
    swapped.
    """
    return base32_encode(data).translate(_RFC4648_TO_CROCKFORD)


def crockford_decode(text: str, byte_count: int) -> bytes:
    """Inverse of :func:`crockford_encode`; ``text`` must already be normalized."""
    if len(text) != -(-byte_count * 8 // 5):
        raise EncodingError("bad_length", f"expected {-(-byte_count * 8 // 5)} characters")
    value = 0
    for ch in text:
        digit = _CROCKFORD_INDEX.get(ch)
        if digit is None:
            raise EncodingError("bad_character", f"{ch!r} is not a code character")
        value = value << 5 | digit
    spare = len(text) * 5 - byte_count * 8
    if value & ((1 << spare) - 1):
        raise EncodingError("non_canonical", "unused trailing bits are not zero")
    return (value >> spare).to_bytes(byte_count, "big")


def normalize_crockford(text: str) -> str:
    """Fold what a person types into canonical Crockford symbols.

    Upper-cases, drops spaces and hyphens, and reads O as 0 and I/L as 1.
    """
    folded = "".join(ch for ch in text.upper() if ch not in " -\t\u00a0")
    return "".join(_CROCKFORD_ALIASES.get(ch, ch) for ch in folded)


def luhn32_check_symbol(text: str) -> str:
    """Luhn mod N (N = 32) check character over Crockford symbols.

    Catches every single-character error and every swap of two adjacent characters but
    one: "0" and "Z" (0 and N - 1), which no Luhn mod N check can see.
    """
    factor = 2
    total = 0
    for ch in reversed(text):
        addend = factor * _CROCKFORD_INDEX[ch]
        factor = 1 if factor == 2 else 2
        total += addend // 32 + addend % 32
    return CROCKFORD_ALPHABET[(32 - total % 32) % 32]
