"""The business portal: what a business does in a browser, in Vietnamese and English.

Server-rendered pages that work without JavaScript; every form carries a CSRF token; every
object is looked up through the signed-in user's business, so another business's ids lead
to 404.
"""

from __future__ import annotations

from flask import Blueprint, Flask, g, redirect, request, url_for
from flask_login import LoginManager
from werkzeug.wrappers import Response

from traceqr.services.accounts import load_session_user
from traceqr.services.officials import load_session_official
from traceqr.web.context import db_session
from traceqr.web.portal.support import OfficialUser, PortalUser

blueprint = Blueprint("portal", __name__, url_prefix="/portal")


def init_app(app: Flask) -> None:
    login_manager = LoginManager()
    login_manager.login_view = "portal.login"
    login_manager.login_message = None  # type: ignore[assignment]
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> PortalUser | OfficialUser | None:
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
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", 12 * 3600)
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
