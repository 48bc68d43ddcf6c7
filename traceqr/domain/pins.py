"""One-time scratch-off PINs.

A stamp's PIN is derived from a service secret and its serial, so it can be printed at any
time without being stored; the database keeps only a keyed hash of it, compared in
constant time. Without the secret, neither a leaked database nor the printed code reveals
a PIN: 8 digits behind a per-stamp and per-client attempt limit.
"""

from __future__ import annotations

import hashlib
import hmac

PIN_DIGITS = 8
HASH_LENGTH = 16


class PinScheme:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a PIN key needs at least 16 bytes")
        self._key = key

    def pin_for(self, serial: bytes) -> str:
        digest = hmac.new(self._key, b"traceqr-pin-v1:" + serial, hashlib.sha256).digest()
        return str(int.from_bytes(digest[:8], "big") % 10**PIN_DIGITS).zfill(PIN_DIGITS)

    def hash_for(self, serial: bytes, pin: str) -> bytes:
        message = b"traceqr-pin-hash-v1:" + serial + b":" + pin.encode("ascii")
        return hmac.new(self._key, message, hashlib.sha256).digest()[:HASH_LENGTH]

    def stored_hash(self, serial: bytes) -> bytes:
        """What issuance stores for a new stamp."""
        return self.hash_for(serial, self.pin_for(serial))

    def matches(self, serial: bytes, typed: str, stored: bytes) -> bool:
        pin = "".join(ch for ch in typed if ch.isdigit() and ch.isascii())
        if len(pin) != PIN_DIGITS:
            return False
        return hmac.compare_digest(self.hash_for(serial, pin), stored)


def format_pin(pin: str) -> str:
    """Printed as two groups of four, which people read and type more easily."""
    return f"{pin[:4]} {pin[4:]}"
