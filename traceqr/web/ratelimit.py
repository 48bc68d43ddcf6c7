"""Rate limits (Flask-Limiter): in memory by default, Redis with TRACEQR_REDIS_URL.

Views declare which limit applies with :func:`limited`; the limits themselves come from
the settings, so tests and benchmarks can turn them off (``TRACEQR_RATE_LIMITS=off``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from traceqr.config import Settings

F = TypeVar("F", bound=Callable[..., Any])
_LIMIT_ATTRIBUTE = "_traceqr_rate_limit"


def limited(kind: str) -> Callable[[F], F]:
    """Mark a view: ``verify`` (per client address), ``api`` (per API key) or ``login``
    (sign-in, sign-up and password forms: attempts per client address)."""

    def mark(view: F) -> F:
        setattr(view, _LIMIT_ATTRIBUTE, kind)
        return view

    return mark


def _api_key_or_address() -> str:
    """Limit API calls per key (the limiter runs before authentication, so hash the header)."""
    header = request.headers.get("Authorization", "")
    if header:
        return "auth:" + hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()[:24]
    return get_remote_address()


def init_app(app: Flask, settings: Settings) -> None:
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.rate_limit_storage,
        enabled=settings.rate_limits_enabled,
        headers_enabled=True,
        strategy="moving-window",
    )
    limits: dict[str, tuple[str, Callable[[], str], list[str] | None]] = {
        "verify": (settings.verify_rate_limit, get_remote_address, None),
        "api": (settings.api_rate_limit, _api_key_or_address, None),
        # Only attempts count: showing the sign-in form is free.
        "login": (settings.login_rate_limit, get_remote_address, ["POST"]),
        "pin": (settings.pin_rate_limit, get_remote_address, ["POST"]),
        "report": (settings.report_rate_limit, get_remote_address, ["POST"]),
    }
    for endpoint, view in list(app.view_functions.items()):
        kind = getattr(view, _LIMIT_ATTRIBUTE, None)
        if kind is not None:
            limit, key_func, methods = limits[kind]
            # One bucket per kind: the page and the API share the verification allowance.
            shared = limiter.shared_limit(limit, scope=kind, key_func=key_func, methods=methods)
            app.view_functions[endpoint] = shared(view)
    app.extensions["traceqr_limiter"] = limiter
