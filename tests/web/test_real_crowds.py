"""Real crowds are not refused: a business's system verifying with its API key, many
shoppers behind one carrier-NAT address, a shopper checking the same stamp again, IPv6
clients counted by their /64. On the in-memory store and on Redis (``limited_app``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from tests.conftest import Api
from tests.web import test_rate_limits
from tests.web.portal_client import PortalClient
from tests.web.test_rate_limits import assert_limited, path_of, stamps_of
from traceqr.config import load_settings

limited_app = test_rate_limits.limited_app  # the fixture: each test on memory and on Redis


def ipv6(address: str) -> dict[str, str]:
    return {"REMOTE_ADDR": address}


# --- a business's own system ------------------------------------------------------------------


def test_a_warehouse_verifying_with_its_api_key_uses_the_keys_allowance(
    limited_app: Callable[..., Flask], make_business: Any
) -> None:
    app = limited_app(verify_rate_limit="10 per minute", api_rate_limit="150 per minute")
    client = app.test_client()
    warehouse = Api(client, make_business().api_key)
    # 120 stamps through the goods-in scanner: all answered ...
    answers = [warehouse.get(f"/verify?q=CODE{n}").status_code for n in range(120)]
    assert answers == [200] * 120
    # ... and the shoppers on the same address still have their whole allowance.
    assert [client.get(f"/S/SHOP{n}").status_code for n in range(10)] == [200] * 10
    assert_limited(client.get("/S/SHOP10"))


def test_the_keys_allowance_is_what_bounds_its_checks(
    limited_app: Callable[..., Flask], make_business: Any
) -> None:
    app = limited_app(api_rate_limit="3 per minute")
    client = app.test_client()
    warehouse = Api(client, make_business().api_key)
    assert [warehouse.get(f"/verify?q=C{n}").status_code for n in range(3)] == [200] * 3
    assert_limited(warehouse.get("/verify?q=C3"), json=True)
    # One allowance for everything the key does.
    assert_limited(warehouse.get("/facilities"), json=True)
    # A wrong key is no key: it counts as an anonymous shopper, not as a business.
    wrong = Api(client, "tqr_" + "x" * 43)
    assert wrong.get("/verify?q=C4").status_code == 200


# --- many shoppers, one address ---------------------------------------------------------------


def test_the_default_limits_serve_a_crowd_behind_one_address(
    limited_app: Callable[..., Flask],
) -> None:
    """300 shoppers' checks of distinct stamps in one minute, all from one CGNAT address,
    are answered; the 301st waits, with the contract's 429."""
    app = limited_app()
    client = app.test_client()
    crowd = [client.get(f"/api/v1/verify?q=STAMP{n}").status_code for n in range(300)]
    assert crowd == [200] * 300
    assert_limited(client.get("/api/v1/verify?q=STAMP300"), json=True)


def test_checking_the_same_stamp_again_is_answered_and_counts_once(
    limited_app: Callable[..., Flask], make_business: Any
) -> None:
    app = limited_app(verify_rate_limit="3 per minute")
    client = app.test_client()
    first, second = stamps_of(Api(client, make_business().api_key))
    # Reloading, another spelling, the other language, the API: one stamp, counted once.
    for path in [path_of(first["url"])] * 5 + [path_of(first["url"]).lower()]:
        page = client.get(path)
        assert page.status_code == 200
        assert 'data-status="genuine"' in page.get_data(as_text=True)
    assert client.get(path_of(first["url"]) + "?lang=en").status_code == 200
    assert client.get("/api/v1/verify", query_string={"q": first["url"]}).status_code == 200
    # So two more distinct stamps fit in the allowance of three ...
    assert client.get(path_of(second["url"])).status_code == 200
    assert client.get("/verify?code=NOT-A-STAMP").status_code == 200
    # ... a fourth does not, and the stamps already checked are still answered.
    assert_limited(client.get("/S/ANOTHER"))
    assert client.get(path_of(first["url"])).status_code == 200


def test_one_client_hammering_one_stamp_is_slowed_down(
    limited_app: Callable[..., Flask],
) -> None:
    app = limited_app(verify_repeat_rate_limit="5 per minute")
    client = app.test_client()
    assert [client.get("/S/ABC").status_code for _ in range(5)] == [200] * 5
    assert_limited(client.get("/S/abc"))
    # Other stamps, and the same stamp from other clients, are not held up.
    assert client.get("/S/ABD").status_code == 200
    assert client.get("/S/ABC", environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 200


# --- IPv6 -------------------------------------------------------------------------------------


def test_ipv6_clients_are_counted_by_their_64(limited_app: Callable[..., Flask]) -> None:
    app = limited_app(verify_rate_limit="2 per minute")
    client = app.test_client()
    # One phone may use any address of its /64: they count together.
    assert client.get("/S/AAA", environ_base=ipv6("2001:db8:5:7::1")).status_code == 200
    assert client.get("/S/AAB", environ_base=ipv6("2001:db8:5:7:a::2")).status_code == 200
    assert_limited(client.get("/S/AAC", environ_base=ipv6("2001:db8:5:7:ffff::3")))
    # The neighbouring /64 is another subscriber.
    assert client.get("/S/AAC", environ_base=ipv6("2001:db8:5:8::1")).status_code == 200


def test_sign_in_attempts_from_one_ipv6_64_count_together(
    limited_app: Callable[..., Flask],
) -> None:
    app = limited_app(login_rate_limit="2 per minute")
    portal = PortalClient(app.test_client())
    data = {"email": "a@b.vn", "password": "guess"}
    for n in (1, 2):
        page = portal.post("/portal/login", data, environ_base=ipv6(f"2001:db8:9::{n}"))
        assert page.status == 200
    token = portal.token("/portal/login")
    refused = portal.client.post(
        "/portal/login",
        data={**data, "csrf_token": token},
        environ_base=ipv6("2001:db8:9::ffff:3"),
    )
    assert_limited(refused)


# --- settings ---------------------------------------------------------------------------------


def test_the_repeat_limit_is_set_from_the_environment(tmp_path: Any) -> None:
    environ = {
        "TRACEQR_INSTANCE": str(tmp_path),
        "TRACEQR_VERIFY_REPEAT_RATE_LIMIT": "12 per minute",
    }
    assert load_settings(environ=environ).verify_repeat_rate_limit == "12 per minute"
    defaults = load_settings(environ={"TRACEQR_INSTANCE": str(tmp_path)})
    assert defaults.verify_rate_limit == "300 per minute; 3000 per hour"
