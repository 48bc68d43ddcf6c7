"""The business portal: what a business does in a browser, in Vietnamese and English.

Server-rendered pages that work without JavaScript; every form carries a CSRF token; every
object is looked up through the signed-in user's business, so another business's ids lead
to 404.

Sessions (business users, inspectors and authority officers alike) last
``TRACEQR_SESSION_LIFETIME_HOURS`` (12) from sign-in, however busy: the cookie itself
expires after that long without use (``PERMANENT_SESSION_LIFETIME``, checked against the
cookie's signed timestamp), and the sign-in time kept in the session bounds it while in
use. Signing out bumps the person's ``session_version``, so every saved copy of the cookie
ends with it. No "remember me" cookie is ever set, and one sent is not honoured: a session
without a sign-in time signs nobody in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, g, redirect, request, session, url_for
from flask_login import LoginManager, user_logged_in
from werkzeug.wrappers import Response

from traceqr.services.accounts import load_session_user
from traceqr.services.officials import load_session_official
from traceqr.state import AppState
from traceqr.web.context import db_session, now, state
from traceqr.web.portal.support import OfficialUser, PortalUser

blueprint = Blueprint("portal", __name__, url_prefix="/portal")


SIGNED_IN_AT = "_signed_in_at"  # in the session: when its owner signed in (Unix seconds)


def _mark_sign_in(_sender: Any, **_extra: Any) -> None:
    session[SIGNED_IN_AT] = int(now().timestamp())


def _session_is_current() -> bool:
    """Signed in by us (not a remember-me cookie) and no longer ago than the lifetime."""
    signed_in_at = session.get(SIGNED_IN_AT)
    if not isinstance(signed_in_at, int):
        return False
    lifetime = timedelta(hours=state().settings.session_lifetime_hours)
    age = now() - datetime.fromtimestamp(signed_in_at, UTC)
    return -timedelta(minutes=5) <= age < lifetime  # a few minutes of clock skew


def init_app(app: Flask) -> None:
    lifetime = timedelta(hours=AppState.of(app).settings.session_lifetime_hours)
    # Set, not setdefault: Flask's own default (31 days) is always there.
    app.config["PERMANENT_SESSION_LIFETIME"] = lifetime
    app.config["REMEMBER_COOKIE_DURATION"] = lifetime  # never set; bounded all the same
    user_logged_in.connect(_mark_sign_in)
    login_manager = LoginManager()
    login_manager.login_view = "portal.login"
    login_manager.login_message = None  # type: ignore[assignment]
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> PortalUser | OfficialUser | None:
        if not _session_is_current():
            return None
        if session_id.startswith("o:"):
            official = load_session_official(db_session(), session_id)
            return OfficialUser(official) if official is not None else None
        user = load_session_user(db_session(), session_id)
        return PortalUser(user) if user is not None else None

    @login_manager.unauthorized_handler
    def unauthorized() -> Response:
        if request.path.startswith("/inspect"):
            return redirect(url_for("inspector.login", next=request.full_path.rstrip("?")))
        if request.path.startswith("/authority"):
            return redirect(url_for("authority.login", next=request.full_path.rstrip("?")))
        return redirect(url_for("portal.login", next=request.full_path.rstrip("?")))

    login_manager.init_app(app)
    app.register_blueprint(blueprint)


@blueprint.before_request
def mark_portal() -> None:
    g.in_portal = True


from traceqr.web.portal import (  # noqa: E402, F401 - the views register themselves
    account_views,
    auth_views,
    catalog_views,
    dashboard_views,
    stamp_views,
    trace_views,
)
