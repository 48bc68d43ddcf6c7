"""Rate limits on verification, sign-in, PIN entry, reports and the API, each set by its own
``TRACEQR_<KIND>_RATE_LIMIT``, on the in-memory store and on Redis.

Redis is the one at 127.0.0.1:6379 (``TRACEQR_TEST_REDIS_URL``); each test uses its own key
prefix and deletes its keys, so parallel runs do not meet. Without Redis the Redis variants
are skipped, except in CI, where ``TRACEQR_REQUIRE_REDIS=1`` makes that a failure.
"""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Api
from tests.web.portal_client import PortalClient
from traceqr.config import load_settings
from traceqr.errors import ConfigError
from traceqr.services.officials import create_official
from traceqr.state import AppState, utcnow

REDIS_URL = os.environ.get("TRACEQR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
OTHER_ADDRESS = {"REMOTE_ADDR": "198.51.100.77"}


@pytest.fixture(params=["memory", "redis"])
def limited_app(request: pytest.FixtureRequest, make_app: Any) -> Iterator[Callable[..., Flask]]:
    """Build an app with rate limits on (and the given limits), on each store."""
    prefix = f"traceqr-test-{uuid.uuid4().hex[:12]}"
    redis = None
    if request.param == "redis":
        from redis import Redis
        from redis.exceptions import ConnectionError as RedisDown

        redis = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        try:
            redis.ping()
        except RedisDown:
            if os.environ.get("TRACEQR_REQUIRE_REDIS") == "1":
                pytest.fail(f"Redis is not reachable at {REDIS_URL}")
            pytest.skip(f"Redis is not reachable at {REDIS_URL}")

    def build(**limits: str) -> Flask:
        storage = REDIS_URL if redis is not None else "memory://"
        return make_app(  # type: ignore[no-any-return]
            rate_limits_enabled=True,
            rate_limit_storage=storage,
            rate_limit_prefix=prefix,
            **limits,
        )

    yield build
    if redis is not None:
        keys = list(redis.scan_iter(match=f"*{prefix}*"))
        assert keys, "the limits were counted in Redis"
        redis.delete(*keys)
        redis.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url, flags=re.IGNORECASE)


def assert_limited(response: Any, *, json: bool = False) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)[:300]
    assert int(response.headers["Retry-After"]) > 0
    if json:
        assert response.get_json()["error"]["code"] == "rate_limited"
    else:
        assert "Quá nhiều yêu cầu" in response.get_data(as_text=True)


def stamps_of(api: Api, **batch: Any) -> list[dict[str, str]]:
    made = api.batch(**batch)
    api.issue(made["id"], 2)
    text = api.get(f"/batches/{made['id']}/stamps.csv").get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(text)))


# --- settings ---------------------------------------------------------------------------------


def test_every_limit_is_set_from_the_environment(tmp_path: Any) -> None:
    environ = {
        "TRACEQR_INSTANCE": str(tmp_path),
        "TRACEQR_VERIFY_RATE_LIMIT": "7 per minute",
        "TRACEQR_API_RATE_LIMIT": "8 per minute",
        "TRACEQR_API_AUTH_FAILURE_RATE_LIMIT": "9 per hour",
        "TRACEQR_LOGIN_RATE_LIMIT": "3 per minute; 10 per hour",
        "TRACEQR_PIN_RATE_LIMIT": "4/minute",
        "TRACEQR_PIN_STAMP_RATE_LIMIT": "6 per day",
        "TRACEQR_REPORT_RATE_LIMIT": "2 per hour",
        "TRACEQR_RATE_LIMIT_PREFIX": "shop-a",
    }
    settings = load_settings(environ=environ)
    assert settings.verify_rate_limit == "7 per minute"
    assert settings.api_rate_limit == "8 per minute"
    assert settings.api_auth_failure_rate_limit == "9 per hour"
    assert settings.login_rate_limit == "3 per minute; 10 per hour"
    assert settings.pin_rate_limit == "4/minute"
    assert settings.pin_stamp_rate_limit == "6 per day"
    assert settings.report_rate_limit == "2 per hour"
    assert settings.rate_limit_prefix == "shop-a"


def test_a_limit_that_does_not_parse_stops_the_start_naming_its_variable(tmp_path: Any) -> None:
    environ = {"TRACEQR_INSTANCE": str(tmp_path), "TRACEQR_PIN_RATE_LIMIT": "5 per fortnight"}
    with pytest.raises(ConfigError, match="TRACEQR_PIN_RATE_LIMIT"):
        load_settings(environ=environ)


# --- verification -----------------------------------------------------------------------------


def test_the_stamp_page_and_the_verify_api_share_one_allowance_per_client(
    limited_app: Callable[..., Flask],
) -> None:
    app = limited_app(verify_rate_limit="4 per minute")
    client = app.test_client()
    assert client.get("/S/ABC").status_code == 200
    assert client.get("/verify?code=ABCD").status_code == 200
    assert client.get("/api/v1/verify?q=x").status_code == 200
    assert client.get("/01/09506000134352/10/A1").status_code in (200, 404)
    # A fifth distinct code is refused, on the API and on a page ...
    assert_limited(client.get("/api/v1/verify?q=y"), json=True)
    assert_limited(client.get("/S/ABD"))
    # ... while checking one already checked again is answered (see test_real_crowds.py).
    assert client.get("/S/ABC").status_code == 200
    # Another client is not affected.
    assert client.get("/S/ABD", environ_base=OTHER_ADDRESS).status_code == 200


# --- the API ----------------------------------------------------------------------------------


def test_each_api_key_has_its_own_allowance(
    limited_app: Callable[..., Flask], make_business: Any
) -> None:
    app = limited_app(api_rate_limit="3 per minute")
    client = app.test_client()
    first = Api(client, make_business().api_key)
    second = Api(client, make_business().api_key)
    assert [first.get("/facilities").status_code for _ in range(3)] == [200] * 3
    assert_limited(first.get("/facilities"), json=True)
    assert second.get("/facilities").status_code == 200  # same address, another key


def test_guessing_api_keys_is_stopped_per_address(
    limited_app: Callable[..., Flask], make_business: Any
) -> None:
    app = limited_app(api_auth_failure_rate_limit="3 per minute")
    client = app.test_client()
    good = Api(client, make_business().api_key)
    # Right keys do not count against the address.
    assert [good.get("/facilities").status_code for _ in range(5)] == [200] * 5
    wrong = Api(client, "tqr_" + "x" * 43)
    assert [wrong.get("/facilities").status_code for _ in range(3)] == [401] * 3
    assert_limited(wrong.get("/facilities"), json=True)
    # The address is refused, whatever key it sends now, until the window passes ...
    assert_limited(good.get("/facilities"), json=True)
    # ... but the public endpoints and other addresses go on.
    assert client.get("/api/v1/verify?q=x").status_code == 200
    other = good.client.get("/api/v1/facilities", headers=good.headers, environ_base=OTHER_ADDRESS)
    assert other.status_code == 200


# --- signing in -------------------------------------------------------------------------------


def test_portal_sign_in_attempts_are_limited_but_the_form_is_not(
    limited_app: Callable[..., Flask],
) -> None:
    app = limited_app(login_rate_limit="3 per minute")
    portal = PortalClient(app.test_client())
    token = portal.token("/portal/login")
    for _ in range(5):
        assert portal.client.get("/portal/login").status_code == 200
    data = {"csrf_token": token, "email": "a@b.vn", "password": "guess"}
    attempts = [portal.client.post("/portal/login", data=data).status_code for _ in range(3)]
    assert attempts == [200] * 3  # "wrong password" pages
    assert_limited(portal.client.post("/portal/login", data=data))
    other = app.test_client()
    other_token = csrf_of(other.get("/portal/login").get_data(as_text=True))
    allowed = other.post(
        "/portal/login", data={**data, "csrf_token": other_token}, environ_base=OTHER_ADDRESS
    )
    assert allowed.status_code == 200


def test_inspector_sign_in_attempts_are_limited(limited_app: Callable[..., Flask]) -> None:
    app = limited_app(login_rate_limit="2 per minute")
    with AppState.of(app).database.session() as session:
        create_official(
            session,
            email="thanh.tra@qltt.gov.vn",
            name="Kiểm",
            role="inspector",
            password="inspector password 1",
            provinces=[],
            now=utcnow(),
        )
    client = app.test_client()
    token = csrf_of(client.get("/inspect/login").get_data(as_text=True))
    data = {"csrf_token": token, "email": "thanh.tra@qltt.gov.vn", "password": "guess"}
    assert [client.post("/inspect/login", data=data).status_code for _ in range(2)] == [200, 200]
    # Even the right password waits: the address used up its attempts.
    assert_limited(client.post("/inspect/login", data={**data, "password": "inspector password 1"}))


def test_guessing_the_current_password_from_a_session_is_limited(
    limited_app: Callable[..., Flask],
) -> None:
    app = limited_app(login_rate_limit="4 per minute")
    owner = PortalClient(app.test_client())
    # 2 attempts: the sign-up, then the first sign-in
    assert owner.signup("Cơ sở", "owner@example.vn").endpoint == "portal.profile"
    token = owner.token("/portal/account/password")
    data = {"csrf_token": token, "current_password": "guess", "password": "x" * 12}
    data["confirm"] = data["password"]
    assert owner.client.post("/portal/account/password", data=data).status_code == 200
    assert owner.client.post("/portal/account/password", data=data).status_code == 200
    assert_limited(owner.client.post("/portal/account/password", data=data))


# --- PINs -------------------------------------------------------------------------------------


def claim(client: FlaskClient, url: str, pin: str, address: str) -> Any:
    page = client.get(path_of(url), environ_base={"REMOTE_ADDR": address})
    token = csrf_of(page.get_data(as_text=True))
    return client.post(
        path_of(url) + "/claim",
        data={"csrf_token": token, "pin": pin},
        environ_base={"REMOTE_ADDR": address},
    )


def test_pin_attempts_are_limited_per_client(
    limited_app: Callable[..., Flask], make_business: Any
) -> None:
    app = limited_app(pin_rate_limit="2 per minute")
    client = app.test_client()
    first, second = stamps_of(Api(client, make_business().api_key), with_pin=True)
    address = "203.0.113.5"
    assert claim(client, first["url"], "00000000", address).status_code == 400
    assert claim(client, second["url"], "00000000", address).status_code == 400
    assert_limited(claim(client, first["url"], first["pin"], address))
    # Another client still claims with the right PIN.
    assert claim(client, first["url"], first["pin"], "203.0.113.6").status_code == 200


def test_pin_attempts_are_limited_per_stamp_across_clients_and_spellings(
    limited_app: Callable[..., Flask], make_business: Any
) -> None:
    app = limited_app(pin_rate_limit="100 per minute", pin_stamp_rate_limit="3 per hour")
    client = app.test_client()
    first, second = stamps_of(Api(client, make_business().api_key), with_pin=True)
    spellings = [first["url"], first["url"].lower(), first["url"].replace("/S/", "/s/")]
    for n, url in enumerate(spellings):
        assert claim(client, url, "00000000", f"203.0.113.{10 + n}").status_code == 400
    # A fourth client on the same stamp waits, even with the right PIN ...
    refused = claim(client, first["url"], first["pin"], "203.0.113.20")
    assert_limited(refused)
    assert "data-status" not in refused.get_data(as_text=True)
    # ... while the other stamp is untouched.
    assert claim(client, second["url"], second["pin"], "203.0.113.20").status_code == 200


def test_pin_attempts_on_a_digital_link_stamp_count_for_that_stamp(
    limited_app: Callable[..., Flask], make_business: Any
) -> None:
    app = limited_app(pin_rate_limit="100 per minute", pin_stamp_rate_limit="2 per hour")
    client = app.test_client()
    api = Api(client, make_business().api_key)
    product = api.product(gtin="8934588012228")
    batch = api.batch(product["id"], with_pin=True, stamp_format=2)
    api.issue(batch["id"], 1)
    row = next(
        csv.DictReader(
            io.StringIO(api.get(f"/batches/{batch['id']}/stamps.csv").get_data(as_text=True))
        )
    )

    def post(address: str, pin: str) -> Any:
        page = client.get(path_of(row["url"]), environ_base={"REMOTE_ADDR": address})
        return client.post(
            "/stamp/claim",
            data={
                "csrf_token": csrf_of(page.get_data(as_text=True)),
                "stamp": row["url"],
                "pin": pin,
            },
            environ_base={"REMOTE_ADDR": address},
        )

    assert post("203.0.113.30", "00000000").status_code == 400
    assert post("203.0.113.31", "00000000").status_code == 400
    assert_limited(post("203.0.113.32", row["pin"]))


# --- reports ----------------------------------------------------------------------------------


def test_reports_are_limited_per_client(limited_app: Callable[..., Flask]) -> None:
    app = limited_app(report_rate_limit="2 per minute")
    client = app.test_client()
    token = csrf_of(client.get("/report?code=ABC").get_data(as_text=True))
    data = {"csrf_token": token, "code": "ABC", "note": "Tem lạ"}
    assert [client.post("/report?code=ABC", data=data).status_code for _ in range(2)] == [200] * 2
    assert client.get("/report?code=ABC").status_code == 200  # reading the form is free
    assert_limited(client.post("/report?code=ABC", data=data))


# --- the shared store down --------------------------------------------------------------------


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_with_redis_down_pages_answer_and_limits_count_in_memory(make_app: Any) -> None:
    app = make_app(
        rate_limits_enabled=True,
        rate_limit_storage=f"redis://127.0.0.1:{closed_port()}/0",
        verify_rate_limit="2 per minute",
        api_auth_failure_rate_limit="2 per minute",
    )
    client = app.test_client()
    assert [client.get(f"/S/{code}").status_code for code in ("ABC", "ABD")] == [200, 200]
    assert_limited(client.get("/api/v1/verify?q=x"), json=True)
    wrong = {"Authorization": "Bearer tqr_" + "x" * 43}
    statuses = [client.get("/api/v1/facilities", headers=wrong).status_code for _ in range(2)]
    assert statuses == [401, 401]
    assert_limited(client.get("/api/v1/facilities", headers=wrong), json=True)
