"""Certificates: the operator's root key vouches for every business key it publishes.

An offline verifier pins one key, the root, and accepts a business key from a JWKS only
with a valid certificate from it. The certificate is a compact JWS (RFC 7515, EdDSA over
``BASE64URL(header) "." BASE64URL(payload)``) carried in the JWK's ``traceqr_cert``
member. Its header is ``{"alg": "EdDSA", "kid": <root kid>, "typ": "traceqr-key-cert+jws"}``
and its payload states the key's facts::

    {"v": 2, "kid": "1a2b3c4d", "x": "<the JWK's x>", "business_id": 7,
     "business_name": "…" | null, "status": "active" | "retired" | "compromised",
     "purpose": "live" | "test",
     "producer": {"legal_name": "…", "tax_code": "…" | null, "verified_at": "<ISO 8601>",
                  "verified_by": "…"} | null,
     "valid_from": "<ISO 8601>", "signs_until": "<ISO 8601>" | null,
     "compromised_at": "<ISO 8601>" | null, "compromise_reason": "…" | null,
     "withdrawn_at": "<ISO 8601>" | null, "withdrawal_reason": "…" | null,
     "certified_at": "<ISO 8601>"}

``producer`` is the identity a reviewer checked; the root states one only for a live key of
a verified business. A test key (an unverified business's) names no business at all: its
stamps are test stamps. ``withdrawn_at``: the producer's verification was withdrawn then,
and stamps the key signed from then on are not vouched for. Version 1 certificates (from
before identities were verified) are still read: a live key, no verified producer.

A verifier takes these facts from the payload, never from the JWK's unsigned members. A
key's certificate is issued again whenever its facts change (rotation, compromise, the
producer's verification or its withdrawal), so the newest key set says what the operator
says now. See docs/keys.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from traceqr.domain.keys import (
    KEY_PURPOSES,
    KEY_STATUSES,
    PURPOSE_LIVE,
    PURPOSE_TEST,
    KeyFormatError,
    KeyRing,
    PublicKey,
    StampSigner,
    kid_text,
    parse_kid_text,
    producer_facts,
    verify_signature,
)

CERT_TYPE = "traceqr-key-cert+jws"
CERT_VERSION = 2
READABLE_CERT_VERSIONS = (1, 2)
ROOT_ROLE = "root"
CERT_MEMBER = "traceqr_cert"
ROOT_MEMBER = "traceqr_root"  # the JWKS carries its root too: convenient, never a pin


class CertificateError(KeyFormatError):
    """A certificate that is missing, malformed, from another root, or does not match."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise CertificateError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CertificateError("not base64url") from exc


def _json_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def thumbprint(key: bytes) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key: the
    short text an operator prints so that verifiers can pin the root."""
    member = _json_bytes({"crv": "Ed25519", "kty": "OKP", "x": b64url(key)})
    return b64url(hashlib.sha256(member).digest())


# --- the root --------------------------------------------------------------------------------


def root_jwk(kid: bytes, key: bytes, created_at: str | None = None) -> dict[str, Any]:
    jwk: dict[str, Any] = {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(key),
        "kid": kid_text(kid),
        "alg": "EdDSA",
        "use": "sig",
        "traceqr_role": ROOT_ROLE,
        "traceqr_thumbprint": thumbprint(key),
    }
    if created_at is not None:
        jwk["traceqr_created_at"] = created_at
    return jwk


def parse_roots(document: Any) -> list[PublicKey]:
    """The root keys in a root document: one JWK, or a JWKS of root JWKs."""
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        jwks = document["keys"]
    elif isinstance(document, dict):
        jwks = [document]
    else:
        raise KeyFormatError("a root key file is a JWK or a JWKS (a JSON object)")
    roots = []
    for jwk in jwks:
        if not isinstance(jwk, dict) or jwk.get("traceqr_role", ROOT_ROLE) != ROOT_ROLE:
            continue
        roots.append(PublicKey.from_jwk({k: v for k, v in jwk.items() if k != "traceqr_status"}))
    if not roots:
        raise KeyFormatError("no root key in the document")
    return roots


def embedded_root(document: Any) -> list[PublicKey]:
    """The root a JWKS carries with it (``traceqr_root``), or none."""
    if not isinstance(document, dict) or ROOT_MEMBER not in document:
        return []
    return parse_roots(document[ROOT_MEMBER])


def root_matches_pin(root: PublicKey, pin: str) -> bool:
    """A pin is the root's thumbprint, or its kid in hex."""
    pin = pin.strip()
    return pin == thumbprint(root.key) or pin.lower() == kid_text(root.kid)


# --- certificates ------------------------------------------------------------------------------


def certificate_claims(
    key: PublicKey, *, certified_at: str, signs_until: str | None
) -> dict[str, Any]:
    test = key.purpose == PURPOSE_TEST
    return {
        "v": CERT_VERSION,
        "kid": kid_text(key.kid),
        "x": b64url(key.key),
        "business_id": key.business_id,
        "business_name": None if test else key.business_name,
        "status": key.status,
        "purpose": key.purpose,
        "producer": None if test or key.producer is None else dict(key.producer),
        "valid_from": key.created_at,
        "signs_until": signs_until,
        "compromised_at": key.compromised_at,
        "compromise_reason": key.compromise_reason,
        "withdrawn_at": key.withdrawn_at,
        "withdrawal_reason": key.withdrawal_reason,
        "certified_at": certified_at,
    }


def certify(
    key: PublicKey, root: StampSigner, *, certified_at: str, signs_until: str | None = None
) -> str:
    """The compact JWS by which ``root`` vouches for ``key`` and its current status."""
    header = {"alg": "EdDSA", "kid": kid_text(root.kid), "typ": CERT_TYPE}
    claims = certificate_claims(key, certified_at=certified_at, signs_until=signs_until)
    signing_input = b64url(_json_bytes(header)) + "." + b64url(_json_bytes(claims))
    return signing_input + "." + b64url(root.sign(signing_input.encode("ascii")))


@dataclass(frozen=True, slots=True)
class CertifiedKey:
    key: PublicKey  # with the facts the certificate states
    root_kid: bytes
    claims: dict[str, Any]


def check_certificate(jwk: Any, roots: Sequence[PublicKey]) -> CertifiedKey:
    """The key of ``jwk`` as its certificate states it; CertificateError unless a root in
    ``roots`` signed a certificate for exactly this kid and public key."""
    if not roots:
        raise CertificateError("no root key to check certificates against")
    key = PublicKey.from_jwk(jwk)
    token = jwk.get(CERT_MEMBER)
    if not isinstance(token, str):
        raise CertificateError(f"key {kid_text(key.kid)} has no certificate")
    parts = token.split(".")
    if len(parts) != 3:
        raise CertificateError(f"the certificate of key {kid_text(key.kid)} is not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CertificateError(f"the certificate of key {kid_text(key.kid)} is damaged") from exc
    signature = b64url_decode(parts[2])
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise CertificateError(f"the certificate of key {kid_text(key.kid)} is damaged")
    if header.get("alg") != "EdDSA" or header.get("typ") != CERT_TYPE:
        raise CertificateError(f"key {kid_text(key.kid)}: not a TraceQR key certificate")
    signing_input = (parts[0] + "." + parts[1]).encode("ascii")
    try:
        root_kid = parse_kid_text(str(header.get("kid")))
    except KeyFormatError as exc:
        raise CertificateError(f"key {kid_text(key.kid)}: the certificate names no root") from exc
    root = next(
        (
            r
            for r in roots
            if r.kid == root_kid and verify_signature(r.key, signing_input, signature)
        ),
        None,
    )
    if root is None:
        raise CertificateError(
            f"key {kid_text(key.kid)}: its certificate is not signed by the trusted root"
        )
    version = claims.get("v")
    if version not in READABLE_CERT_VERSIONS or isinstance(version, bool):
        raise CertificateError(f"key {kid_text(key.kid)}: unknown certificate version")
    if claims.get("kid") != kid_text(key.kid) or claims.get("x") != b64url(key.key):
        raise CertificateError(f"key {kid_text(key.kid)}: the certificate is for another key")
    status = claims.get("status")
    if status not in KEY_STATUSES:
        raise CertificateError(f"key {kid_text(key.kid)}: the certificate's status is unknown")
    # Version 1 knew only live keys; from version 2 the purpose must be stated and known.
    purpose = claims.get("purpose", PURPOSE_LIVE) if version == 1 else claims.get("purpose")
    if purpose not in KEY_PURPOSES:
        raise CertificateError(f"key {kid_text(key.kid)}: the certificate's purpose is unknown")

    def text(name: str) -> str | None:
        value = claims.get(name)
        return value if isinstance(value, str) else None

    business_id = claims.get("business_id")
    certified = PublicKey(
        kid=key.kid,
        key=key.key,
        business_id=business_id if isinstance(business_id, int) else None,
        business_name=text("business_name"),
        status=str(status),
        created_at=text("valid_from"),
        compromised_at=text("compromised_at"),
        compromise_reason=text("compromise_reason"),
        purpose=str(purpose),
        producer=None if purpose == PURPOSE_TEST else producer_facts(claims.get("producer")),
        withdrawn_at=text("withdrawn_at"),
        withdrawal_reason=text("withdrawal_reason"),
    )
    return CertifiedKey(certified, root.kid, claims)


@dataclass(frozen=True)
class CertifiedRing:
    ring: KeyRing
    rejected: tuple[tuple[str, str], ...]  # (kid or "?", why) for each key left out


def certified_ring(document: Any, roots: Sequence[PublicKey]) -> CertifiedRing:
    """The business keys of a JWKS that carry a valid certificate from one of ``roots``."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyFormatError('a JWKS is a JSON object with a "keys" array')
    if not roots:
        raise CertificateError("no root key to check certificates against")
    accepted: list[PublicKey] = []
    rejected: list[tuple[str, str]] = []
    for jwk in _business_jwks(document["keys"]):
        try:
            accepted.append(check_certificate(jwk, roots).key)
        except KeyFormatError as exc:
            kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else "?"
            rejected.append((str(kid), str(exc)))
    return CertifiedRing(KeyRing(accepted), tuple(rejected))


def _business_jwks(jwks: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for jwk in jwks:
        if not isinstance(jwk, dict):
            continue
        if (jwk.get("kty"), jwk.get("crv")) != ("OKP", "Ed25519"):
            continue
        if jwk.get("traceqr_role", "business") != "business":
            continue
        yield jwk
