"""The web layer: the only package that imports Flask. Blueprints over the services."""

from __future__ import annotations

from flask import Flask, request
from flask_compress import Compress
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from traceqr.services.audit import set_actor_resolver
from traceqr.state import AppState
from traceqr.web import (
    api,
    authority,
    errors,
    i18n,
    inspector,
    offline,
    portal,
    public,
    ratelimit,
    security,
    transparency,
)
from traceqr.web.audit_actor import request_actor
from traceqr.web.context import close_db_session
from traceqr.web.converters import BigIdConverter, IdConverter
from traceqr.web.wording import template_helpers


def init_web(app: Flask) -> None:
    state = AppState.of(app)
    if state.settings.trust_proxy:
        hops = state.settings.trust_proxy
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["bigid"] = BigIdConverter
    app.url_map.strict_slashes = False
    i18n.init_app(app)
    security.init_app(app)
    app.register_blueprint(public.blueprint)
    app.register_blueprint(api.blueprint, url_prefix="/api/v1")
    app.register_blueprint(offline.blueprint)
    app.register_blueprint(inspector.blueprint)
    app.register_blueprint(authority.blueprint)
    app.register_blueprint(transparency.blueprint)
    set_actor_resolver(request_actor)  # the audit log's "who" for each request
    portal.init_app(app)

    @app.before_request
    def room_for_two_certificates() -> None:
        """A verification request carries two documents of up to max_upload_bytes each;
        every other request keeps the app's smaller limit. Runs before the CSRF check,
        which is the first to read a form."""
        if request.endpoint == "portal.verification":
            request.max_content_length = 2 * state.settings.max_upload_bytes + 1024 * 1024

    csrf = CSRFProtect(app)
    csrf.exempt(api.blueprint)  # the API authenticates every call with a bearer key
    ratelimit.init_app(app, state.settings)
    errors.init_app(app)
    # gzip for pages, JSON, CSS and JS when the client asks; never for streamed downloads
    # (CSV, PDF, ZIP), which stay flat in memory.
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_LEVEL", 5)
    app.config.setdefault("COMPRESS_BR_LEVEL", 4)
    app.config.setdefault("COMPRESS_MIN_SIZE", 1024)
    app.config.setdefault("COMPRESS_STREAMS", False)
    app.config.setdefault(
        "COMPRESS_MIMETYPES",
        [
            "text/html",
            "text/css",
            "text/javascript",
            "application/javascript",
            "application/json",
            "application/ld+json",
            "application/jwk-set+json",
            "image/svg+xml",
        ],
    )
    Compress(app)
    app.teardown_appcontext(close_db_session)
    app.jinja_env.globals.update(template_helpers())
