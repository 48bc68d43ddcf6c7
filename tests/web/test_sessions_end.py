"""Sessions end: signing out ends every copy of the cookie, and no sign-in outlives 12 hours.

A cookie is copied the way it leaks (a shared computer, a synced profile, a proxy log) and
replayed from another client that looks the same to the server (same address, same
browser). Old cookies are made honestly: the app's own session serializer signs the same
session with a timestamp from the past, as the server would have signed it then.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner

from tests.web.portal_client import PortalClient
from traceqr.config import load_settings
from traceqr.errors import ConfigError
from traceqr.services.officials import create_official
from traceqr.state import AppState, utcnow

PASSWORD = "correct horse battery"
HOUR = 3600


def cookie_of(client: FlaskClient, app: Flask) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None, "signed in, so there is a session cookie"
    return cookie.value


def replay(app: Flask, cookie: str) -> FlaskClient:
    """Another client (same address, same browser string) carrying a copied cookie."""
    other = app.test_client()
    other.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    return other


def landing(client: FlaskClient, path: str) -> str | None:
    """The page a person ends up on (its ``data-page``) after following redirects."""
    return PortalClient(client).get(path).endpoint


def signed(app: Flask, cookie: str, *, ago: float, signed_in_ago: float | None = None) -> str:
    """The same session, signed by the app's session interface ``ago`` seconds ago; with
    ``signed_in_ago``, its owner signed in that long ago (a session kept in use since)."""
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    data: dict[str, Any] = serializer.loads(cookie)
    if signed_in_ago is not None:
        data["_signed_in_at"] = int(time.time() - signed_in_ago)

    class SignedThen(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - ago)

    serializer.signer = SignedThen
    return str(serializer.dumps(data))


@pytest.fixture
def owner(app: Flask, make_business: Any) -> tuple[PortalClient, str]:
    email = make_business(password=PASSWORD).owner.email
    portal = PortalClient(app.test_client())
    assert portal.login(email, PASSWORD).endpoint == "portal.dashboard"
    return portal, email


def official(app: Flask, role: str) -> PortalClient:
    email = f"{role}@soct.hanoi.gov.vn"
    with AppState.of(app).database.session() as session:
        create_official(
            session,
            email=email,
            name="Cán bộ",
            role=role,
            password=PASSWORD,
            provinces=[],
            now=utcnow(),
        )
    area = "/inspect" if role == "inspector" else "/authority"
    client = PortalClient(app.test_client())
    page = client.post(f"{area}/login", {"email": email, "password": PASSWORD})
    assert page.endpoint in ("inspector.home", "authority.home"), page.text[:200]
    return client


# --- signing out ------------------------------------------------------------------------------


def test_a_cookie_saved_before_sign_out_opens_nothing_afterwards(
    app: Flask, owner: tuple[PortalClient, str]
) -> None:
    portal, _email = owner
    saved = cookie_of(portal.client, app)
    # While signed in, the copy works (this is what makes a leaked cookie dangerous) ...
    assert landing(replay(app, saved), "/portal/keys") == "portal.keys"
    assert portal.logout().endpoint == "portal.login"
    # ... after signing out, neither the copy nor this browser opens the keys page.
    assert landing(replay(app, saved), "/portal/keys") == "portal.login"
    assert landing(portal.client, "/portal/keys") == "portal.login"


def test_signing_out_ends_the_session_on_every_device(
    app: Flask, owner: tuple[PortalClient, str]
) -> None:
    portal, email = owner
    laptop = PortalClient(app.test_client())
    assert laptop.login(email, PASSWORD).endpoint == "portal.dashboard"
    portal.logout()
    assert laptop.get("/portal/").endpoint == "portal.login"
    # Signing in again works, and only the new session is alive.
    assert laptop.login(email, PASSWORD).endpoint == "portal.dashboard"
    assert laptop.get("/portal/keys").endpoint == "portal.keys"


@pytest.mark.parametrize(
    ("role", "home", "login"),
    [
        ("inspector", "/inspect/", "inspector.login"),
        ("authority", "/authority/", "authority.login"),
    ],
)
def test_an_officials_cookie_saved_before_sign_out_opens_nothing_afterwards(
    app: Flask, role: str, home: str, login: str
) -> None:
    client = official(app, role)
    saved = cookie_of(client.client, app)
    assert landing(replay(app, saved), home) == f"{role}.home"
    assert client.post(f"{home}logout", form_page=home).endpoint == login
    assert landing(replay(app, saved), home) == login


# --- twelve hours -----------------------------------------------------------------------------


def test_a_session_cookie_expires_in_the_browser_after_12_hours(
    app: Flask, make_business: Any
) -> None:
    email = make_business(password=PASSWORD).owner.email
    client = app.test_client()
    portal = PortalClient(client)
    token = portal.token("/portal/login")
    response = client.post(
        "/portal/login", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    set_cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("session="))
    expires = parsedate_to_datetime(set_cookie.split("Expires=")[1].split(";")[0])
    hours = (expires - datetime.now(UTC)).total_seconds() / HOUR
    assert 11.9 < hours <= 12
    assert not any(v.startswith("remember_token=") for v in response.headers.getlist("Set-Cookie"))


def test_a_cookie_older_than_12_hours_is_refused(
    app: Flask, owner: tuple[PortalClient, str]
) -> None:
    portal, _email = owner
    cookie = cookie_of(portal.client, app)
    # Signed in and last used 11 hours ago: still open.
    recent = signed(app, cookie, ago=11 * HOUR, signed_in_ago=11 * HOUR)
    assert landing(replay(app, recent), "/portal/keys") == "portal.keys"
    # Signed in and last used 13 hours ago: the sign-in page.
    old = signed(app, cookie, ago=13 * HOUR, signed_in_ago=13 * HOUR)
    assert landing(replay(app, old), "/portal/keys") == "portal.login"


def test_a_session_kept_busy_still_ends_12_hours_after_sign_in(
    app: Flask, owner: tuple[PortalClient, str]
) -> None:
    """Every answer re-signs the cookie, so a cookie replayed hourly never grows old: the
    sign-in time kept in the session is what ends it."""
    portal, _email = owner
    busy = signed(app, cookie_of(portal.client, app), ago=60, signed_in_ago=13 * HOUR)
    assert landing(replay(app, busy), "/portal/keys") == "portal.login"


def test_an_officials_session_ends_after_12_hours(app: Flask) -> None:
    client = official(app, "inspector")
    old = signed(app, cookie_of(client.client, app), ago=13 * HOUR, signed_in_ago=13 * HOUR)
    assert landing(replay(app, old), "/inspect/") == "inspector.login"


def test_a_remember_me_cookie_signs_nobody_in(app: Flask, owner: tuple[PortalClient, str]) -> None:
    """TraceQR never sets one; one made with the server's secret (say, by an old release or
    a leaked key) still opens nothing."""
    from flask_login.utils import encode_cookie

    portal, _email = owner
    with app.test_request_context():
        session_id = portal.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
        assert session_id is not None
        data = app.session_interface.get_signing_serializer(app).loads(session_id.value)  # type: ignore[attr-defined]
        remember = encode_cookie(data["_user_id"])
    stranger = app.test_client()
    stranger.set_cookie("remember_token", remember)
    assert landing(stranger, "/portal/keys") == "portal.login"


def test_the_session_lifetime_is_set_from_the_environment(tmp_path: Any) -> None:
    environ = {"TRACEQR_INSTANCE": str(tmp_path), "TRACEQR_SESSION_LIFETIME_HOURS": "8"}
    assert load_settings(environ=environ).session_lifetime_hours == 8
    assert load_settings(environ={"TRACEQR_INSTANCE": str(tmp_path)}).session_lifetime_hours == 12
    for wrong in ("0", "48", "twelve"):
        environ["TRACEQR_SESSION_LIFETIME_HOURS"] = wrong
        with pytest.raises(ConfigError, match="TRACEQR_SESSION_LIFETIME_HOURS"):
            load_settings(environ=environ)
