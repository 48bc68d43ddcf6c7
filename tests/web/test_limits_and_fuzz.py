"""Rate limits, and the verify API under any input."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Api


def test_public_verification_is_rate_limited_with_retry_after(make_app: Any) -> None:
    app = make_app(rate_limits_enabled=True)
    client = app.test_client()
    statuses = [
        client.get("/api/v1/verify", query_string={"q": "x"}).status_code for _ in range(61)
    ]
    assert statuses[:60] == [200] * 60
    limited = client.get("/api/v1/verify", query_string={"q": "x"})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.get_json()["error"]["code"] == "rate_limited"
    # That was one client re-checking one stamp: other stamps are still answered.
    assert client.get("/S/ABC").status_code == 200
    # Another client address is not affected.
    other = client.get(
        "/api/v1/verify", query_string={"q": "x"}, environ_base={"REMOTE_ADDR": "198.51.100.9"}
    )
    assert other.status_code == 200


def test_rate_limits_can_be_turned_off(client: Any) -> None:
    assert all(client.get("/api/v1/verify?q=x").status_code == 200 for _ in range(80))


@settings(max_examples=150)
@given(text=st.text(min_size=1, max_size=400))
def test_verify_answers_any_text_with_a_verdict(api: Api, text: str) -> None:
    response = api.client.get("/api/v1/verify", query_string={"q": text})
    if not text.strip():
        assert response.status_code == 400
        return
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "invalid"
    assert body["signature_valid"] is False


@settings(max_examples=60)
@given(
    body=st.dictionaries(
        st.sampled_from(["name", "gtin", "origin", "brand", "x"]),
        st.one_of(
            st.none(), st.integers(), st.text(max_size=50), st.booleans(), st.lists(st.integers())
        ),
    )
)
def test_product_creation_never_answers_5xx(api: Api, body: dict[str, Any]) -> None:
    response = api.post("/products", body)
    assert response.status_code in (201, 400, 409)
    if response.status_code != 201:
        assert set(response.get_json()["error"]) >= {"code", "message"}


def test_sign_in_attempts_are_rate_limited_but_the_form_is_not(make_app: Any) -> None:
    from tests.web.portal_client import PortalClient

    app = make_app(rate_limits_enabled=True)
    portal = PortalClient(app.test_client())
    token = portal.token("/portal/login")
    for _ in range(12):
        assert portal.client.get("/portal/login").status_code == 200
    attempts = [
        portal.client.post(
            "/portal/login", data={"csrf_token": token, "email": "a@b.vn", "password": "guess"}
        )
        for _ in range(11)
    ]
    assert [r.status_code for r in attempts[:10]] == [200] * 10  # "wrong password" pages
    assert attempts[10].status_code == 429
    assert "Retry-After" in attempts[10].headers
