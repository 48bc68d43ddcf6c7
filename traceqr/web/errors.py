"""Errors become answers here, and only here: JSON under /api/, a page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from traceqr.errors import TraceQRError
from traceqr.services.identity import IdentityConflict, keep_alert
from traceqr.web.context import db_session, now
from traceqr.web.i18n import gettext as _

log = logging.getLogger(__name__)

HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.endswith(".json")


def json_error(status: int, code: str, message: str, **extra: object) -> Response:
    response = jsonify({"error": {"code": code, "message": message, **extra}})
    response.status_code = status
    return response


def _page_error(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, message=message), status


def handle_traceqr_error(error: TraceQRError) -> Response:
    if isinstance(error, IdentityConflict):  # refused, and left for the reviewers
        keep_alert(db_session(), error, now())
    if error.http_status >= 500:
        log.error("service error: %s", error, exc_info=error)
    retry_after = getattr(error, "retry_after", None)  # a quota: when to ask again
    if wants_json():
        response = json_error(error.http_status, **error.to_dict())  # type: ignore[arg-type]
    else:
        page, status = _page_error(error.http_status, _("Something is wrong"), error.message)
        response = Response(page, status=status, mimetype="text/html")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def handle_http_exception(error: HTTPException) -> Response | tuple[str, int]:
    status = error.code or 500
    if wants_json():
        response = json_error(
            status, HTTP_ERROR_CODES.get(status, "http_error"), error.description or error.name
        )
        for header in ("Retry-After", "Allow", "WWW-Authenticate"):
            value = error.get_response().headers.get(header)
            if value:
                response.headers[header] = value
        return response
    titles = {
        404: _("Page not found"),
        429: _("Too many requests"),
    }
    messages = {
        404: _("There is no page at this address."),
        429: _("You checked too many times in a short while. Please wait a minute and try again."),
    }
    page, code = _page_error(
        status, titles.get(status, error.name), messages.get(status, error.description or "")
    )
    response = Response(page, status=code, mimetype="text/html")
    retry_after = error.get_response().headers.get("Retry-After")
    if retry_after:
        response.headers["Retry-After"] = retry_after
    return response


def handle_validation(error: PydanticValidationError) -> Response:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or None
    message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
    return json_error(400, "invalid_input", message, field=field)


def handle_database_down(error: Exception) -> Response | tuple[str, int]:
    log.error("database unavailable: %s", error)
    # The page must not need the database: show it as to a visitor, whoever is signed in
    # (loading the portal user would query the database again, inside this handler).
    login_manager = getattr(current_app, "login_manager", None)
    if login_manager is not None:
        g._login_user = login_manager.anonymous_user()
    message = _("The service cannot reach its database right now. Please try again shortly.")
    if wants_json():
        response = json_error(503, "unavailable", message)
    else:
        page, status = _page_error(503, _("Temporarily unavailable"), message)
        response = Response(page, status=status, mimetype="text/html")
    response.headers["Retry-After"] = "30"
    return response


def handle_unstorable_value(error: DataError) -> Response:
    """A value the database refuses (a number past its column's range, a NUL character in
    text): bad input that got past validation. It is the client's to fix, so a 400, never a
    500; the log keeps what the database said, to add the missing check."""
    log.warning("the database refused a value: %s", str(error.orig).splitlines()[0][:300])
    message = _("A value is out of range or holds a character that cannot be stored.")
    if wants_json():
        return json_error(400, "invalid_input", message)
    page, status = _page_error(400, _("Something is wrong"), message)
    return Response(page, status=status, mimetype="text/html")


def init_app(app: Flask) -> None:
    app.register_error_handler(TraceQRError, handle_traceqr_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(PydanticValidationError, handle_validation)
    app.register_error_handler(OperationalError, handle_database_down)
    app.register_error_handler(DataError, handle_unstorable_value)
    try:  # the COPY path talks to psycopg directly, so its errors arrive unwrapped
        from psycopg import OperationalError as DriverOperationalError
    except ImportError:  # pragma: no cover - psycopg ships with TraceQR
        return
    app.register_error_handler(DriverOperationalError, handle_database_down)
