"""The public key registry: what /.well-known/jwks.json publishes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from traceqr.domain.keys import KeyRing, PublicKey
from traceqr.models import Business, ServiceKey, SigningKey


def public_key_ring(session: Session) -> KeyRing:
    """Every verification key ever used, retired ones included: old stamps must verify.

    The service's own keys (which sign case files) are in it too, marked as such.
    """
    rows = session.execute(
        select(SigningKey, Business.name)
        .join(Business, Business.id == SigningKey.business_id)
        .order_by(SigningKey.id)
    ).all()
    ring = KeyRing(
        PublicKey(
            kid=key.kid,
            key=key.public_key,
            business_id=key.business_id,
            business_name=name,
            status=key.status,
            created_at=key.created_at.isoformat(),
        )
        for key, name in rows
    )
    for service_key in session.scalars(select(ServiceKey).order_by(ServiceKey.id)):
        ring.add(
            PublicKey(
                kid=service_key.kid,
                key=service_key.public_key,
                status=service_key.status,
                created_at=service_key.created_at.isoformat(),
                extra={"traceqr_role": "service", "traceqr_purpose": service_key.purpose},
            )
        )
    return ring


def jwks_document(session: Session) -> dict[str, Any]:
    return public_key_ring(session).to_jwks()
