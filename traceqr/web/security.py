"""Security headers on every answer. Pages carry no inline script or style, so the
Content-Security-Policy needs no 'unsafe-inline'."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    current_app,
    g,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_wtf.csrf import CSRFError

from traceqr.state import AppState
from traceqr.web.i18n import gettext as _

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data: blob:",
        "style-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault(
        "Permissions-Policy", "camera=(self), geolocation=(self), microphone=(), payment=()"
    )
    # What a signed-in person or an API key sees is theirs: no shared cache may keep it.
    if "Cache-Control" not in headers and _has_credentials():
        headers["Cache-Control"] = "private, no-store"
    # Behind a proxy that terminates TLS the request itself may look like plain HTTP: an
    # https public URL is enough to know that browsers reach us over TLS.
    if request.is_secure or current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def _has_credentials() -> bool:
    if request.headers.get("Authorization"):
        return True
    user = g.get("_login_user")  # Flask-Login's user for this request, once looked up
    return bool(user is not None and user.is_authenticated)


def init_app(app: Flask) -> None:
    """Cookies: the session cookie is HttpOnly and SameSite=Lax, and Secure when the public
    URL is https (set in the app factory); a "remember me" cookie, if one is ever used,
    gets the same flags."""
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config.get("SESSION_COOKIE_SECURE"))
    app.after_request(add_security_headers)
    app.register_error_handler(CSRFError, refuse_without_csrf_token)


def refuse_without_csrf_token(error: CSRFError) -> Response:
    """A form sent without its token, with another session's, or one too old: most often
    a page left open too long. Say so in the page's language, not the library's English."""
    title = _("This form has expired")
    message = _(
        "For your safety a form works only for a while, and only in the browser that "
        "opened it. Go back, reload the page and send the form again."
    )
    page = render_template("error.html", status=400, title=title, message=message)
    return Response(page, status=400, mimetype="text/html")


def public_link(endpoint: str, **values: object) -> str:
    """An absolute link for an e-mail, on the public URL. Never from the request's Host
    header: a reset requested with ``Host: attacker.example`` would otherwise mail the
    victim a link that hands the attacker the token."""
    parts = urlsplit(AppState.of(current_app).settings.public_url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{url_for(endpoint, **values)}"


def private_file(path: Path) -> Response:
    """An uploaded file for the one person allowed to see it: never cached by others, and
    sandboxed like every upload."""
    response = send_file(path, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
