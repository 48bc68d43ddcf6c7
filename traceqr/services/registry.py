"""The public key registry: what /.well-known/jwks.json publishes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from traceqr.domain.keys import KeyRing, PublicKey
from traceqr.models import Business, SigningKey


def public_key_ring(session: Session) -> KeyRing:
    """Every verification key ever used, retired ones included: old stamps must verify."""
    rows = session.execute(
        select(SigningKey, Business.name)
        .join(Business, Business.id == SigningKey.business_id)
        .order_by(SigningKey.id)
    ).all()
    return KeyRing(
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


def jwks_document(session: Session) -> dict[str, Any]:
    return public_key_ring(session).to_jwks()
