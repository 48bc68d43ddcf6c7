"""Per-request access to the database session and the service's state."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, g
from sqlalchemy.orm import Session

from traceqr.state import AppState, utcnow


def state() -> AppState:
    return AppState.of(current_app)


def db_session() -> Session:
    """The request's unit of work; views commit it once, at the end."""
    if "db_session" not in g:
        g.db_session = state().database.sessions()
    return g.db_session  # type: ignore[no-any-return]


def close_db_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


def now() -> datetime:
    """The request's clock: read once per request so every record agrees."""
    if "now" not in g:
        g.now = utcnow()
    return g.now  # type: ignore[no-any-return]
