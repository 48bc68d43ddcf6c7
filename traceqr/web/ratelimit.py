"""Rate limits (Flask-Limiter): in memory by default, Redis with TRACEQR_REDIS_URL.

Views declare which limit applies with :func:`limited`; the limits themselves come from
the settings (``TRACEQR_<KIND>_RATE_LIMIT``), so operators tune them and tests and
benchmarks can turn them off (``TRACEQR_RATE_LIMITS=off``). See docs/security.md.

A "client" is an IPv4 address, or an IPv6 /64 (what one subscriber or one shop network is
given: counting single IPv6 addresses would let one phone use 2^64 of them).

| kind | counted per | applies to |
| --- | --- | --- |
| verify | client | checks of distinct stamps: stamp pages, typed codes, journey pages, the |
|        |        | place form, anonymous ``GET /api/v1/verify`` (one allowance) |
| verify_repeat | client and stamp | every check of one stamp by one client |
| api | API key | every authenticated API call, ``GET /api/v1/verify`` with a valid key |
| api_auth_failure | client | API calls refused for a wrong or revoked key |
| login | client | sign-in, sign-up, password and invitation forms (POST only) |
| pin | client | scratch-off PIN attempts (POST only) |
| pin_stamp | stamp | PIN attempts on one stamp from every client together |
| report | client | shopper reports (POST only) |

Checks are sized for crowds behind one address (carrier-grade NAT on Vietnamese mobile
networks, a supermarket's Wi-Fi), see :class:`VerifyGuard`: a client checking the same
stamp again within an hour is answered (up to ``verify_repeat``) but counts once against
``verify``, so reloading, switching language or paging through a journey costs a crowd
nothing, and a scan flood of one stamp is a matter for copy detection, not for refusing
the page.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits import parse as parse_one
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, RateLimiter
from werkzeug.exceptions import TooManyRequests

from traceqr.config import Settings
from traceqr.domain.stamp_format import StampFormatError, parse_scanned_text
from traceqr.services.businesses import authenticate_api_key
from traceqr.web.context import db_session, now, state

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


def client_address() -> str:
    """The client a per-address limit counts: an IPv4 address, or an IPv6 /64."""
    address = get_remote_address()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _api_key_or_address() -> str:
    """Limit API calls per key (the limiter runs before authentication, so hash the header)."""
    header = request.headers.get("Authorization", "")
    if header:
        return "auth:" + hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()[:24]
    return client_address()


def _has_valid_api_key() -> bool:
    """The request carries a live API key (``Authorization: Bearer tqr_…``); looked up once."""
    if "_ratelimit_key_ok" not in g:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        g._ratelimit_key_ok = (
            scheme.lower() == "bearer"
            and bool(token.strip())
            and authenticate_api_key(db_session(), token.strip(), now()) is not None
        )
    return bool(g._ratelimit_key_ok)


def _checked_stamp() -> str:
    """Which stamp a check is of, however it is spelled: its serial; a text that is no
    stamp, by its digest (so typing one wrong code twice is one thing, too)."""
    public_url = state().settings.public_url
    args = request.view_args or {}
    if "code" in args:
        text = f"{public_url}/S/{args['code']}"
    elif "rest" in args:
        text = f"{public_url}{request.path}"
    else:
        text = request.args.get("q") or request.args.get("code") or ""
        if not text and request.method == "POST":
            text = request.form.get("stamp") or ""
    text = text.strip()[:600]
    try:
        return "stamp:" + parse_scanned_text(text, public_url).serial.hex()
    except StampFormatError:
        return "text:" + hashlib.sha256(text.upper().encode("utf-8", "replace")).hexdigest()[:24]


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


class _Counter:
    """Counts in Flask-Limiter's store, for limits its view decorators cannot express.

    Like Flask-Limiter's own limits, it counts in this process's memory while the shared
    store (Redis) does not answer, and tries the store again after ``RETRY_AFTER`` seconds.
    """

    RETRY_AFTER = 30.0

    def __init__(self, limiter: Limiter, prefix: str) -> None:
        self.limiter = limiter
        self.prefix = prefix
        self.fallback = MovingWindowRateLimiter(MemoryStorage())
        self.store_down_since: float | None = None

    def _strategy(self) -> RateLimiter:
        down = self.store_down_since
        if down is not None and time.monotonic() - down < self.RETRY_AFTER:
            return self.fallback
        return self.limiter.limiter

    def call(self, method: str, item: RateLimitItem, *key: str) -> Any:
        strategy = self._strategy()
        try:
            result = getattr(strategy, method)(item, self.prefix, *key)
        except Exception as error:  # the shared store is down: count here meanwhile
            if strategy is self.fallback:
                raise
            log.warning("rate-limit store unreachable, counting in memory: %s", error)
            self.store_down_since = time.monotonic()
            return getattr(self.fallback, method)(item, self.prefix, *key)
        if strategy is not self.fallback:
            self.store_down_since = None
        return result

    def refuse_if_spent(self, limits: list[RateLimitItem], *key: str, why: str) -> None:
        """429 with Retry-After when any of ``limits`` has nothing left for ``key``."""
        for item in limits:
            if not self.call("test", item, *key):
                reset, _remaining = self.call("get_window_stats", item, *key)
                raise TooManyRequests(why, retry_after=max(1, math.ceil(reset - time.time())))


class ApiKeyGuard(_Counter):
    """Counts API calls refused for a wrong key, per client, and refuses that client once
    it has made too many. Flask-Limiter's view limits run after the API's authentication,
    which turns a wrong key away first, so this guard runs before it."""

    scope = "api_auth_failure"

    def __init__(self, limiter: Limiter, limits: list[RateLimitItem], prefix: str) -> None:
        super().__init__(limiter, prefix)
        self.limits = limits

    def _key(self) -> tuple[str, str]:
        return (self.scope, client_address())

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
        self.refuse_if_spent(
            self.limits,
            *self._key(),
            why="too many requests with a wrong API key from this address",
        )

    def after(self, response: Response) -> Response:
        if response.status_code == 401 and self._applies():
            for item in self.limits:
                self.call("hit", item, *self._key())
        return response


class VerifyGuard(_Counter):
    """Anonymous checks, sized for a crowd behind one address.

    Each check counts against the (client, stamp) allowance ``verify_repeat``. The first
    check of a stamp by a client within ``SEEN_FOR`` also counts against the client's
    allowance for distinct stamps, ``verify``; checking it again does not, so a shopper
    who reloads, switches language or pages through the journey costs the crowd behind
    their address nothing. ``GET /api/v1/verify`` with a valid API key is not counted
    here: it counts against that key's ``api`` allowance.

    Budget (docs/security.md, "Rate limits"): a CGNAT address of a Vietnamese mobile network
    or a supermarket's Wi-Fi may carry up to about 50 shoppers checking at the same time,
    each at most about 6 distinct stamps a minute while going down a shelf, and up to 200
    different shoppers in a busy hour, each checking about 15: 300 a minute, 3,000 an
    hour. The minute is a moving window with no finer limit inside it, so the whole
    minute's budget may come at once (a crowd at a promotion stand).
    """

    SEEN_FOR = parse_one("1 per hour")

    def __init__(
        self,
        limiter: Limiter,
        settings: Settings,
        endpoints: set[str],
    ) -> None:
        super().__init__(limiter, settings.rate_limit_prefix)
        self.distinct = parse_many(settings.verify_rate_limit)
        self.repeat = parse_many(settings.verify_repeat_rate_limit)
        self.endpoints = endpoints

    def before(self) -> None:
        if not self.limiter.enabled or request.endpoint not in self.endpoints:
            return
        if request.endpoint == "api.verify" and _has_valid_api_key():
            return
        client, stamp = client_address(), _checked_stamp()
        why = "too many checks from this address"
        self.refuse_if_spent(self.repeat, "verify_repeat", client, stamp, why=why)
        first_time = self.call("test", self.SEEN_FOR, "verify_seen", client, stamp)
        if first_time:
            self.refuse_if_spent(self.distinct, "verify", client, why=why)
            self.call("hit", self.SEEN_FOR, "verify_seen", client, stamp)
            for item in self.distinct:
                self.call("hit", item, "verify", client)
        for item in self.repeat:
            self.call("hit", item, "verify_repeat", client, stamp)


def _no_valid_api_key() -> bool:
    return not _has_valid_api_key()


def init_app(app: Flask, settings: Settings) -> None:
    limiter = Limiter(
        client_address,
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
    # kind: [(limit, key, methods, scope, exempt when)]: one bucket per scope. Checks
    # ("verify") are counted by the VerifyGuard; with a valid key, the verify API counts
    # against the key's "api" bucket like every other call of that key.
    Limit = tuple[str, Callable[[], str], list[str] | None, str, Callable[[], bool] | None]
    limits: dict[str, list[Limit]] = {
        "verify": [(settings.api_rate_limit, _api_key_or_address, None, "api", _no_valid_api_key)],
        "api": [(settings.api_rate_limit, _api_key_or_address, None, "api", None)],
        # Only attempts count: showing the sign-in form is free.
        "login": [(settings.login_rate_limit, client_address, ["POST"], "login", None)],
        "pin": [
            (settings.pin_rate_limit, client_address, ["POST"], "pin", None),
            (settings.pin_stamp_rate_limit, _claimed_stamp, ["POST"], "pin_stamp", None),
        ],
        "report": [(settings.report_rate_limit, client_address, ["POST"], "report", None)],
    }
    checks: set[str] = set()
    for endpoint, view in list(app.view_functions.items()):
        kind = getattr(view, _LIMIT_ATTRIBUTE, None)
        if kind is None or not limiter.enabled:
            # Flask-Limiter's wrapper works out the request's limits even when it is off
            # (about 80 µs a check): with limits off, the views are left unwrapped.
            continue
        if kind == "verify":
            checks.add(endpoint)
            if endpoint != "api.verify":
                continue
        wrapped = view
        for limit, key_func, methods, scope, exempt in limits[kind]:
            shared = limiter.shared_limit(
                limit, scope=scope, key_func=key_func, methods=methods, exempt_when=exempt
            )
            wrapped = shared(wrapped)
        app.view_functions[endpoint] = wrapped
    app.before_request(VerifyGuard(limiter, settings, checks).before)
    guard = ApiKeyGuard(
        limiter, parse_many(settings.api_auth_failure_rate_limit), settings.rate_limit_prefix
    )
    app.before_request(guard.before)
    app.after_request(guard.after)
    app.extensions["traceqr_limiter"] = limiter
