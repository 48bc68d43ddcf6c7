"""The service's own signing key, for documents such as inspectors' case files."""

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


def ensure_service_key(session: Session, keystore: KeyStore, now: datetime) -> ServiceKey:
    """The active document-signing key, created the first time it is needed."""
    key = session.scalar(
        select(ServiceKey).where(ServiceKey.purpose == DOCUMENTS, ServiceKey.status == KEY_ACTIVE)
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
        purpose=DOCUMENTS,
        status=KEY_ACTIVE,
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key


def document_signer(session: Session, keystore: KeyStore, now: datetime) -> StampSigner:
    key = ensure_service_key(session, keystore, now)
    return keystore.load_signer(key.kid, key.public_key)
