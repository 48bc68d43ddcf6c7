"""The public key registry: what /.well-known/jwks.json publishes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from traceqr.domain.key_certs import CERT_MEMBER, ROOT_MEMBER
from traceqr.domain.keys import KeyRing, PublicKey
from traceqr.models import Business, ServiceKey, SigningKey
from traceqr.services.key_lifecycle import public_view, root_document
from traceqr.services.service_keys import ROOT


def public_key_ring(session: Session) -> KeyRing:
    """Every verification key ever used, retired ones included: old stamps must verify.

    The service's own keys (which sign case files) are in it too, marked as such. Each
    business key carries its certificate from the operator's root key (``traceqr_cert``);
    the root itself is not among the keys (see :func:`jwks_document`).
    """
    rows = session.execute(
        select(SigningKey, Business)
        .join(Business, Business.id == SigningKey.business_id)
        .order_by(SigningKey.id)
    ).all()
    ring = KeyRing(
        public_view(key, business, {CERT_MEMBER: key.certificate} if key.certificate else {})
        for key, business in rows
    )
    for service_key in session.scalars(
        select(ServiceKey).where(ServiceKey.purpose != ROOT).order_by(ServiceKey.id)
    ):
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
    """The JWKS, with the root it was certified by under ``traceqr_root`` (a convenience:
    verifiers pin the root from /.well-known/traceqr-root.json or its thumbprint)."""
    document = public_key_ring(session).to_jwks()
    roots = root_document(session)
    if roots["keys"]:
        document[ROOT_MEMBER] = roots
    return document
