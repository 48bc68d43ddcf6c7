"""A business that signed up in the portal (unverified), verified the way the operator
vouches for one. Shipments go only to verified businesses (docs/traceability.md)."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from traceqr.models import User
from traceqr.services import identity
from traceqr.state import AppState, utcnow


def verify(app: Flask, email: str) -> int:
    """Vouch for the business whose owner signs in with ``email``, as its profile stands;
    returns its id."""
    state = AppState.of(app)
    with state.database.session() as session:
        business_id = session.scalar(
            select(User.business_id).where(func.lower(User.email) == email.lower())
        )
        assert business_id is not None, email
        identity.vouch_for(
            session, state.keystore, business_id, identity.Reviewer.operator("tests"), utcnow()
        )
        return business_id
