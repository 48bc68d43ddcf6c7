"""Ed25519 keys, key ids and the key ring verifiers trust.

Signing and verification go through libsodium (PyNaCl): the same Ed25519 as RFC 8032,
about twice as fast as the OpenSSL path on this hardware, and strict about non-canonical
signatures.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nacl.bindings
import nacl.exceptions

from traceqr.domain.stamp_format import (
    FORMAT_V1,
    KID_LENGTH,
    SERIAL_LENGTH,
    StampCode,
    signed_message,
    signed_message_v2,
)

SEED_LENGTH = 32
PUBLIC_KEY_LENGTH = 32

KEY_ACTIVE = "active"  # signs new stamps
KEY_RETIRED = "retired"  # verify-only: its stamps stay good
KEY_COMPROMISED = "compromised"  # stamps it signed from compromised_at on are invalid
KEY_STATUSES = (KEY_ACTIVE, KEY_RETIRED, KEY_COMPROMISED)

PURPOSE_LIVE = "live"  # signs stamps for goods: only a verified business has one that signs
PURPOSE_TEST = "test"  # signs test stamps ("TEM THỬ"), never a genuine product's
KEY_PURPOSES = (PURPOSE_LIVE, PURPOSE_TEST)


class KeyFormatError(ValueError):
    """A key, kid or JWK document is malformed."""


def generate_seed() -> bytes:
    """A new Ed25519 private key (its 32-byte seed)."""
    return os.urandom(SEED_LENGTH)


def new_kid() -> bytes:
    """A random 4-byte key id. Uniqueness among our keys is enforced by the registry."""
    return os.urandom(KID_LENGTH)


def kid_text(kid: bytes) -> str:
    """The kid as the JWKS and the API write it: 8 lower-case hex digits."""
    return kid.hex()


def parse_kid_text(text: str) -> bytes:
    try:
        kid = bytes.fromhex(text)
    except ValueError as exc:
        raise KeyFormatError(f"kid {text!r} is not hex") from exc
    if len(kid) != KID_LENGTH:
        raise KeyFormatError(f"kid {text!r} is not {KID_LENGTH} bytes")
    return kid


def public_key_from_seed(seed: bytes) -> bytes:
    if len(seed) != SEED_LENGTH:
        raise KeyFormatError("an Ed25519 seed is 32 bytes")
    public, _secret = nacl.bindings.crypto_sign_seed_keypair(seed)
    return bytes(public)


class StampSigner:
    """Signs stamps with one business key. Holds the private key: keep it short-lived."""

    __slots__ = ("_secret", "kid", "public_key")

    def __init__(self, kid: bytes, seed: bytes) -> None:
        if len(kid) != KID_LENGTH:
            raise KeyFormatError("a kid is 4 bytes")
        public, secret = nacl.bindings.crypto_sign_seed_keypair(seed)
        self.kid = kid
        self.public_key = bytes(public)
        self._secret = secret

    def sign(self, message: bytes) -> bytes:
        return nacl.bindings.crypto_sign(message, self._secret)[:64]

    def sign_serial(self, serial: bytes) -> bytes:
        """The signature of a version 1 stamp with this key and ``serial``."""
        return self.sign(signed_message(self.kid, serial))

    def issue(self, serial: bytes) -> StampCode:
        return StampCode(FORMAT_V1, self.kid, serial, self.sign_serial(serial))

    def sign_serials(
        self, serials: Sequence[bytes], *, gtin: str | None = None, lot: str | None = None
    ) -> list[bytes]:
        """Signatures for many stamps: the issuance inner loop. Version 1 without ``gtin``
        and ``lot``; version 2 (GS1 Digital Link) with a GTIN-14 and a lot."""
        sign = nacl.bindings.crypto_sign
        secret = self._secret
        if gtin is None and lot is None:
            message = signed_message(self.kid, bytes(SERIAL_LENGTH))
        elif gtin is not None and lot is not None:
            message = signed_message_v2(self.kid, bytes(SERIAL_LENGTH), gtin, lot)
        else:
            raise ValueError("a version 2 stamp needs both a GTIN and a lot")
        # Both messages are: a 16-byte context, the version, the kid, the serial, the rest.
        at = 16 + 1 + KID_LENGTH
        assert message[at - KID_LENGTH : at] == self.kid
        head, tail = message[:at], message[at + SERIAL_LENGTH :]
        signatures = []
        for serial in serials:
            if len(serial) != SERIAL_LENGTH:
                raise ValueError("a serial is 10 bytes")
            signatures.append(sign(head + serial + tail, secret)[:64])
        return signatures


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A verification key and what a verifier may show about its owner."""

    kid: bytes
    key: bytes
    business_id: int | None = None
    business_name: str | None = None
    status: str = KEY_ACTIVE
    created_at: str | None = None  # ISO 8601, informative
    extra: Mapping[str, Any] = field(default_factory=dict)
    compromised_at: str | None = None  # ISO 8601: signatures from then on are not trusted
    compromise_reason: str | None = None
    purpose: str = PURPOSE_LIVE  # test keys sign test stamps only
    # The producer's identity as a reviewer checked it (legal_name, tax_code, verified_at,
    # verified_by), or None: a key of a business nobody verified.
    producer: Mapping[str, Any] | None = None
    withdrawn_at: str | None = None  # ISO 8601: the producer's verification withdrawn then
    withdrawal_reason: str | None = None

    @property
    def is_test(self) -> bool:
        return self.purpose == PURPOSE_TEST

    def verifies(self, stamp: StampCode) -> bool:
        return stamp.kid == self.kid and verify_signature(
            self.key, stamp.signed_message, stamp.signature
        )

    def to_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(self.key),
            "kid": kid_text(self.kid),
            "alg": "EdDSA",
            "use": "sig",
            "traceqr_status": self.status,
        }
        if self.business_id is not None:
            jwk["traceqr_business_id"] = self.business_id
        if self.business_name is not None:
            jwk["traceqr_business_name"] = self.business_name
        if self.created_at is not None:
            jwk["traceqr_created_at"] = self.created_at
        if self.compromised_at is not None:
            jwk["traceqr_compromised_at"] = self.compromised_at
        if self.compromise_reason is not None:
            jwk["traceqr_compromise_reason"] = self.compromise_reason
        if self.purpose != PURPOSE_LIVE:
            jwk["traceqr_purpose"] = self.purpose
        if self.producer is not None:
            jwk["traceqr_producer"] = dict(self.producer)
        if self.withdrawn_at is not None:
            jwk["traceqr_withdrawn_at"] = self.withdrawn_at
        if self.withdrawal_reason is not None:
            jwk["traceqr_withdrawal_reason"] = self.withdrawal_reason
        jwk.update(self.extra)
        return jwk

    @classmethod
    def from_jwk(cls, jwk: Any) -> PublicKey:
        if not isinstance(jwk, dict):
            raise KeyFormatError("a JWK is a JSON object")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise KeyFormatError("only OKP/Ed25519 keys verify TraceQR stamps")
        if "d" in jwk:
            raise KeyFormatError("refusing a JWK that carries a private key")
        x, kid = jwk.get("x"), jwk.get("kid")
        if not isinstance(x, str) or not isinstance(kid, str):
            raise KeyFormatError("a JWK needs string members x and kid")
        key = _b64url_decode(x)
        if len(key) != PUBLIC_KEY_LENGTH:
            raise KeyFormatError("an Ed25519 public key is 32 bytes")
        business_id = jwk.get("traceqr_business_id")
        business_name = jwk.get("traceqr_business_name")
        status = jwk.get("traceqr_status", KEY_ACTIVE)
        purpose = jwk.get("traceqr_purpose", PURPOSE_LIVE)
        return cls(
            kid=parse_kid_text(kid),
            key=key,
            business_id=business_id if isinstance(business_id, int) else None,
            business_name=business_name if isinstance(business_name, str) else None,
            status=status if status in KEY_STATUSES else KEY_ACTIVE,
            created_at=_text_or_none(jwk.get("traceqr_created_at")),
            compromised_at=_text_or_none(jwk.get("traceqr_compromised_at")),
            compromise_reason=_text_or_none(jwk.get("traceqr_compromise_reason")),
            purpose=purpose if purpose in KEY_PURPOSES else PURPOSE_LIVE,
            producer=producer_facts(jwk.get("traceqr_producer")),
            withdrawn_at=_text_or_none(jwk.get("traceqr_withdrawn_at")),
            withdrawal_reason=_text_or_none(jwk.get("traceqr_withdrawal_reason")),
        )


class KeyRing:
    """Public keys by kid. Several keys may share a kid (foreign JWKS): all are tried."""

    def __init__(self, keys: Iterable[PublicKey] = ()) -> None:
        self._by_kid: dict[bytes, list[PublicKey]] = {}
        for key in keys:
            self.add(key)

    def add(self, key: PublicKey) -> None:
        same_kid = self._by_kid.setdefault(key.kid, [])
        same_kid[:] = [k for k in same_kid if k.key != key.key]
        same_kid.append(key)

    def candidates(self, kid: bytes) -> list[PublicKey]:
        return list(self._by_kid.get(kid, ()))

    def __contains__(self, kid: object) -> bool:
        return kid in self._by_kid

    def __iter__(self) -> Iterator[PublicKey]:
        for keys in self._by_kid.values():
            yield from keys

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._by_kid.values())

    def verify(self, stamp: StampCode) -> PublicKey | None:
        """The key whose signature the stamp carries, or None."""
        for key in self._by_kid.get(stamp.kid, ()):
            if key.verifies(stamp):
                return key
        return None

    def to_jwks(self) -> dict[str, Any]:
        return {"keys": [key.to_jwk() for key in self]}

    @classmethod
    def from_jwks(cls, document: Any, role: str = "business") -> KeyRing:
        """The keys of a JWKS that sign stamps (``role="business"``, the default) or the
        service's document keys (``role="service"``)."""
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise KeyFormatError('a JWKS is a JSON object with a "keys" array')
        ring = cls()
        for jwk in document["keys"]:
            if isinstance(jwk, dict) and (jwk.get("kty"), jwk.get("crv")) != ("OKP", "Ed25519"):
                continue  # other key types may share a JWKS; they never sign stamps
            if isinstance(jwk, dict) and jwk.get("traceqr_role", "business") != role:
                continue
            ring.add(PublicKey.from_jwk(jwk))
        return ring


PRODUCER_FIELDS = ("legal_name", "tax_code", "verified_at", "verified_by")


def producer_facts(value: Any) -> dict[str, str] | None:
    """A producer's verified identity from a JWK or certificate member, or None when it is
    missing or damaged (a damaged identity is no identity)."""
    if not isinstance(value, dict):
        return None
    facts = {name: value.get(name) for name in PRODUCER_FIELDS}
    if not isinstance(facts["legal_name"], str) or not facts["legal_name"]:
        return None
    return {name: text for name, text in facts.items() if isinstance(text, str)}


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError("x is not base64url") from exc
