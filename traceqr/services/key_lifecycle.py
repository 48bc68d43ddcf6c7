"""A business key's life: certified by the operator's root key when it is made and again
whenever its status changes; retired on rotation; declared compromised from a time on.
See docs/keys.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from traceqr.domain.key_certs import certify, root_jwk, thumbprint
from traceqr.domain.keys import (
    KEY_ACTIVE,
    KEY_COMPROMISED,
    PURPOSE_TEST,
    KeyFormatError,
    PublicKey,
    StampSigner,
    kid_text,
    parse_kid_text,
)
from traceqr.errors import N_, Conflict, NotFound, ValidationError
from traceqr.keystore import KeyStore
from traceqr.models import Business, ServiceKey, SigningKey
from traceqr.services import audit
from traceqr.services.service_keys import ROOT, ensure_service_key
from traceqr.services.validation import clean_since, clean_text


def root_key(session: Session, keystore: KeyStore, now: datetime) -> ServiceKey:
    """The operator's root key, created the first time it is needed."""
    return ensure_service_key(session, keystore, now, purpose=ROOT)


def root_signer(session: Session, keystore: KeyStore, now: datetime) -> StampSigner:
    key = root_key(session, keystore, now)
    return keystore.load_signer(key.kid, key.public_key)


def root_keys(session: Session) -> list[ServiceKey]:
    """Every active root key (normally one)."""
    return list(
        session.scalars(
            select(ServiceKey)
            .where(ServiceKey.purpose == ROOT, ServiceKey.status == KEY_ACTIVE)
            .order_by(ServiceKey.id)
        )
    )


def root_document(session: Session) -> dict[str, object]:
    """What /.well-known/traceqr-root.json publishes: the root key(s) as a JWKS."""
    return {
        "keys": [
            root_jwk(key.kid, key.public_key, key.created_at.isoformat())
            for key in root_keys(session)
        ]
    }


def root_thumbprint(session: Session, keystore: KeyStore, now: datetime) -> str:
    return thumbprint(root_key(session, keystore, now).public_key)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def producer_identity(business: Business) -> dict[str, str] | None:
    """The identity a reviewer checked, as certificates state it; None if never verified."""
    if business.verified_at is None or business.verification_status == "unverified":
        return None
    identity = {
        "legal_name": business.legal_name or business.name,
        "verified_at": business.verified_at.isoformat(),
        "verified_by": business.verified_by or "",
    }
    if business.tax_code:
        identity["tax_code"] = business.tax_code
    return identity


def public_view(
    key: SigningKey, business: Business | None = None, extra: dict[str, Any] | None = None
) -> PublicKey:
    """What the registry says of ``key``: its certificate's facts and the JWKS entry's."""
    test = key.purpose == PURPOSE_TEST
    producer = None if test or business is None else producer_identity(business)
    # A live key vouches for the checked identity while the business is verified; after a
    # withdrawal only the keys it then had keep naming it, with the time.
    if (
        business is not None
        and business.verification_status != "verified"
        and key.withdrawn_at is None
    ):
        producer = None
    return PublicKey(
        kid=key.kid,
        key=key.public_key,
        business_id=key.business_id,
        business_name=None if test or business is None else business.name,
        status=key.status,
        created_at=_iso(key.created_at),
        compromised_at=_iso(key.compromised_at),
        compromise_reason=key.compromise_reason,
        purpose=key.purpose,
        producer=producer,
        withdrawn_at=_iso(key.withdrawn_at),
        withdrawal_reason=key.withdrawal_reason,
        extra=extra or {},
    )


def certify_key(
    session: Session,
    keystore: KeyStore,
    key: SigningKey,
    now: datetime,
    signer: StampSigner | None = None,
) -> str:
    """Issue ``key``'s certificate for its current facts and store it with the key."""
    signer = signer or root_signer(session, keystore, now)
    business = session.get(Business, key.business_id)
    key.certificate = certify(
        public_view(key, business),
        signer,
        certified_at=now.isoformat(),
        signs_until=_iso(key.retired_at),
    )
    return key.certificate


def recertify_business(
    session: Session, keystore: KeyStore, business_id: int, now: datetime
) -> int:
    """Certify a business's keys again (after its name or its verification changed). A
    key withdrawn with an earlier verification keeps the certificate it got then."""
    keys = [key for key in business_keys(session, business_id) if key.withdrawn_at is None]
    signer = root_signer(session, keystore, now) if keys else None
    for key in keys:
        certify_key(session, keystore, key, now, signer)
    session.flush()
    return len(keys)


def certify_all(
    session: Session, keystore: KeyStore, now: datetime, *, only_missing: bool = True
) -> int:
    """Certify every business key (or only those without a certificate). Returns how many."""
    query = select(SigningKey).order_by(SigningKey.id)
    if only_missing:
        query = query.where(SigningKey.certificate.is_(None))
    keys = list(session.scalars(query))
    if not keys:
        return 0
    signer = root_signer(session, keystore, now)
    for key in keys:
        certify_key(session, keystore, key, now, signer)
    session.flush()
    return len(keys)


@dataclass(frozen=True)
class Compromise:
    key: SigningKey
    replacement: SigningKey | None  # the business's new key, when the compromised one signed


def compromise_key(
    session: Session,
    keystore: KeyStore,
    kid: str,
    *,
    at: datetime,
    reason: object,
    now: datetime,
) -> Compromise:
    """Declare the key ``kid`` compromised from ``at`` on: every stamp it signed at or after
    ``at`` (by the registry's record) verifies as ``invalid`` (``key_compromised``), as does
    any signature of it with no record; earlier stamps stay good. An active key is retired
    and its business gets a new one. ``at`` may move earlier later on, never later."""
    from traceqr.services.businesses import create_signing_key

    try:
        kid_bytes = parse_kid_text(kid.strip().lower())
    except KeyFormatError as exc:
        raise ValidationError(
            N_("%(kid)s is not a key id (8 hex digits)"), field="kid", kid=kid
        ) from exc
    clean_since(at, now, N_("a compromise is declared from a time that has passed"))
    clean_reason = clean_text(reason, "reason", max_length=500, multiline=True)
    if not clean_reason:
        raise ValidationError(N_("say why the key is compromised"), field="reason")
    key = session.scalar(select(SigningKey).where(SigningKey.kid == kid_bytes))
    if key is None:
        raise NotFound(N_("no business key %(kid)s"), kid=kid_text(kid_bytes))
    if key.compromised_at is not None and at > key.compromised_at:
        raise Conflict(
            N_(
                "key %(kid)s is already compromised from %(at)s; the time can move earlier, "
                "never later"
            ),
            kid=kid_text(kid_bytes),
            at=key.compromised_at.isoformat(),
        )
    was_active = key.status == KEY_ACTIVE
    previous = key.compromised_at
    key.status = KEY_COMPROMISED
    key.compromised_at = at
    key.compromise_reason = clean_reason
    if key.retired_at is None:
        key.retired_at = now
    signer = root_signer(session, keystore, now)
    certify_key(session, keystore, key, now, signer)
    replacement = (
        create_signing_key(session, keystore, key.business_id, now, purpose=key.purpose)
        if was_active
        else None
    )
    session.flush()
    audit.record(
        session,
        "key.compromise",
        f"key:{kid_text(key.kid)}",
        {
            "business_id": key.business_id,
            "compromised_at": at.isoformat(),
            "previous_compromised_at": _iso(previous),
            "reason": clean_reason,
            "replacement_kid": kid_text(replacement.kid) if replacement else None,
        },
        now=now,
    )
    return Compromise(key, replacement)


def business_keys(session: Session, business_id: int) -> list[SigningKey]:
    """A business's keys, newest first (for its keys page)."""
    return list(
        session.scalars(
            select(SigningKey)
            .where(SigningKey.business_id == business_id)
            .order_by(SigningKey.id.desc())
        )
    )
