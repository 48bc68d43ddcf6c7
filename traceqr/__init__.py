"""TraceQR: QR-code product traceability and anti-counterfeit stamps.

``create_app()`` is the WSGI application factory: ``gunicorn 'traceqr:create_app()'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Flask is imported by create_app: the domain core imports without it
    from flask import Flask

__all__ = ["create_app"]

_PACKAGE_DIR = Path(__file__).parent


def _asset_dir(name: str) -> str:
    """templates/ and static/ sit inside the installed wheel, or beside the package in git."""
    inside = _PACKAGE_DIR / name
    return str(inside if inside.is_dir() else _PACKAGE_DIR.parent / name)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment (``TRACEQR_*``), the instance folder and ``config``.

    ``config`` keys override the environment: ``instance_path``, ``database_url``,
    ``public_url``, ``rate_limits_enabled`` and any Flask setting (``TESTING`` …).
    """
    from flask import Flask

    from traceqr.config import load_settings
    from traceqr.state import AppState
    from traceqr.web import init_web

    config = dict(config or {})
    flask_overrides = {k: v for k, v in config.items() if k.isupper()}
    settings = load_settings({k: v for k, v in config.items() if not k.isupper()})

    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder=_asset_dir("templates"),
        static_folder=_asset_dir("static"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("HTTPS"),
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    app.config.update(flask_overrides)
    app.json.sort_keys = False  # type: ignore[attr-defined] - answers keep their documented order
    app.json.ensure_ascii = False  # type: ignore[attr-defined] - Vietnamese stays readable
    AppState.create(settings).init_app(app)
    init_web(app)
    return app
