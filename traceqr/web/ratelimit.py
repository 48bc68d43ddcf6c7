"""Rate limits (Flask-Limiter): in memory by default, Redis with TRACEQR_REDIS_URL.

Views declare which limit applies with :func:`limited`; the limits themselves come from
the settings (``TRACEQR_<KIND>_RATE_LIMIT``), so operators tune them and tests and
benchmarks can turn them off (``TRACEQR_RATE_LIMITS=off``). See docs/security.md.

| kind | counted per | applies to |
| --- | --- | --- |
| verify | client address | stamp pages, typed codes, ``GET /api/v1/verify`` (one allowance) |
| api | API key | every authenticated API call |
| api_auth_failure | client address | API calls refused for a wrong or revoked key |
| login | client address | sign-in, sign-up, password and invitation forms (POST only) |
| pin | client address | scratch-off PIN attempts (POST only) |
| pin_stamp | stamp | PIN attempts on one stamp from every client together |
| report | client address | shopper reports (POST only) |
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, RateLimiter
from werkzeug.exceptions import TooManyRequests

from traceqr.config import Settings
from traceqr.domain.stamp_format import StampFormatError, parse_scanned_text
from traceqr.web.context import state

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)
_LIMIT_ATTRIBUTE = "_traceqr_rate_limit"


def limited(kind: str) -> Callable[[F], F]:
    """Mark a view: ``verify`` (per client address), ``api`` (per API key), ``login``
    (sign-in, sign-up and password forms: attempts per client address) or ``pin``
    (scratch-off PIN attempts: per client address and per stamp), ``report``."""

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


def _claimed_stamp() -> str:
    """The stamp a PIN attempt is for, however its URL is spelled (letter case, the path or
    the posted field, v1 or v2): its serial. Texts that are no stamp share one bucket."""
    text = (request.view_args or {}).get("code")
    if text is not None:
        text = f"{state().settings.public_url}/S/{text}"
    else:
        text = (request.form.get("stamp") or "")[:600]
    try:
        return "stamp:" + parse_scanned_text(text, state().settings.public_url).serial.hex()
    except StampFormatError:
        return "stamp:none"


class ApiKeyGuard:
    """Counts API calls refused for a wrong key, per client address, and refuses that
    address once it has made too many. Flask-Limiter's view limits run after the API's
    authentication, which turns a wrong key away first, so this guard runs before it.

    Like Flask-Limiter's own limits, it counts in this process's memory while the shared
    store (Redis) does not answer, and tries the store again after ``RETRY_AFTER`` seconds.
    """

    scope = "api_auth_failure"
    RETRY_AFTER = 30.0

    def __init__(self, limiter: Limiter, limits: list[RateLimitItem], prefix: str) -> None:
        self.limiter = limiter
        self.limits = limits
        self.prefix = prefix
        self.fallback = MovingWindowRateLimiter(MemoryStorage())
        self.store_down_since: float | None = None

    def _strategy(self) -> RateLimiter:
        down = self.store_down_since
        if down is not None and time.monotonic() - down < self.RETRY_AFTER:
            return self.fallback
        return self.limiter.limiter

    def _call(self, method: str, item: RateLimitItem) -> Any:
        strategy = self._strategy()
        try:
            result = getattr(strategy, method)(item, *self._key())
        except Exception as error:  # the shared store is down: count here meanwhile
            if strategy is self.fallback:
                raise
            log.warning("rate-limit store unreachable, counting in memory: %s", error)
            self.store_down_since = time.monotonic()
            return getattr(self.fallback, method)(item, *self._key())
        if strategy is not self.fallback:
            self.store_down_since = None
        return result

    def _key(self) -> tuple[str, str, str]:
        return (self.prefix, self.scope, get_remote_address())

    def _applies(self) -> bool:
        from traceqr.web.api.views import PUBLIC_ENDPOINTS

        return (
            self.limiter.enabled
            and request.blueprint == "api"
            and request.endpoint not in PUBLIC_ENDPOINTS
        )

    def before(self) -> None:
        if not self._applies():
            return
        for item in self.limits:
            if not self._call("test", item):
                reset, _remaining = self._call("get_window_stats", item)
                raise TooManyRequests(
                    "too many requests with a wrong API key from this address",
                    retry_after=max(1, math.ceil(reset - time.time())),
                )

    def after(self, response: Response) -> Response:
        if response.status_code == 401 and self._applies():
            for item in self.limits:
                self._call("hit", item)
        return response


def init_app(app: Flask, settings: Settings) -> None:
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.rate_limit_storage,
        enabled=settings.rate_limits_enabled,
        headers_enabled=True,
        strategy="moving-window",
        key_prefix=settings.rate_limit_prefix,
        # Redis down must not take verification down: count in memory meanwhile.
        in_memory_fallback_enabled=True,
        storage_options=(
            {"socket_connect_timeout": 1, "socket_timeout": 1}
            if settings.rate_limit_storage.startswith(("redis://", "rediss://"))
            else {}
        ),
    )
    # kind: [(limit, key, methods, scope)]: one bucket per scope, so the stamp page and
    # the verify API share one allowance.
    limits: dict[str, list[tuple[str, Callable[[], str], list[str] | None, str]]] = {
        "verify": [(settings.verify_rate_limit, get_remote_address, None, "verify")],
        "api": [(settings.api_rate_limit, _api_key_or_address, None, "api")],
        # Only attempts count: showing the sign-in form is free.
        "login": [(settings.login_rate_limit, get_remote_address, ["POST"], "login")],
        "pin": [
            (settings.pin_rate_limit, get_remote_address, ["POST"], "pin"),
            (settings.pin_stamp_rate_limit, _claimed_stamp, ["POST"], "pin_stamp"),
        ],
        "report": [(settings.report_rate_limit, get_remote_address, ["POST"], "report")],
    }
    for endpoint, view in list(app.view_functions.items()):
        kind = getattr(view, _LIMIT_ATTRIBUTE, None)
        if kind is None or not limiter.enabled:
            # Flask-Limiter's wrapper works out the request's limits even when it is off
            # (about 80 µs a check): with limits off, the views are left unwrapped.
            continue
        wrapped = view
        for limit, key_func, methods, scope in limits[kind]:
            shared = limiter.shared_limit(limit, scope=scope, key_func=key_func, methods=methods)
            wrapped = shared(wrapped)
        app.view_functions[endpoint] = wrapped
    guard = ApiKeyGuard(
        limiter, parse_many(settings.api_auth_failure_rate_limit), settings.rate_limit_prefix
    )
    app.before_request(guard.before)
    app.after_request(guard.after)
    app.extensions["traceqr_limiter"] = limiter
