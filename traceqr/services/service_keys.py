"""The service's own signing keys: ``documents`` signs inspectors' case files, ``root``
(the operator's root key) certifies business keys and signs the audit log's head."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from traceqr.domain.keys import (
    KEY_ACTIVE,
    StampSigner,
    generate_seed,
    new_kid,
    public_key_from_seed,
)
from traceqr.keystore import KeyStore
from traceqr.models import ServiceKey, SigningKey

DOCUMENTS = "documents"
ROOT = "root"


def ensure_service_key(
    session: Session, keystore: KeyStore, now: datetime, purpose: str = DOCUMENTS
) -> ServiceKey:
    """The active key for ``purpose``, created the first time it is needed."""
    key = session.scalar(
        select(ServiceKey)
        .where(ServiceKey.purpose == purpose, ServiceKey.status == KEY_ACTIVE)
        .order_by(ServiceKey.id)
    )
    if key is not None:
        return key
    while True:
        kid = new_kid()
        taken = session.scalar(
            select(SigningKey.id).where(SigningKey.kid == kid)
        ) or session.scalar(select(ServiceKey.id).where(ServiceKey.kid == kid))
        if not taken:
            break
    seed = generate_seed()
    keystore.store(kid, seed)
    key = ServiceKey(
        kid=kid,
        public_key=public_key_from_seed(seed),
        purpose=purpose,
        status=KEY_ACTIVE,
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key


def document_signer(session: Session, keystore: KeyStore, now: datetime) -> StampSigner:
    key = ensure_service_key(session, keystore, now)
    return keystore.load_signer(key.kid, key.public_key)
