"""The offline verifier trusts a key set only through the operator's root key, pinned on
the device the first time, and cannot clear a compromised key's stamps offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import PHONE, LiveServer
from tests.browser.test_offline_verifier import PAGE, check_text, issue_stamps
from traceqr.domain.key_certs import certify, root_jwk
from traceqr.domain.keys import PublicKey, StampSigner
from traceqr.services.key_lifecycle import compromise_key
from traceqr.state import AppState


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A phone page without the service worker, so that tests can change what the key set
    URL answers (page.route does not see a worker's requests)."""
    context = browser.new_context(**PHONE, service_workers="block")
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    yield page
    context.close()


def open_page(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + PAGE + "?lang=en")
    page.wait_for_selector("#offline[data-started='true']", timeout=10_000)


def refresh_keys(page: Any) -> None:
    fetched = page.get_attribute("#offline", "data-keys-fetched-at")
    page.click("#offline-refresh")
    page.wait_for_function(
        "previous => document.getElementById('offline').dataset.keysFetchedAt !== previous",
        arg=fetched,
    )


def test_the_root_is_pinned_and_certified_keys_verify(
    live_server: LiveServer, phone: Any, business: Any
) -> None:
    url = issue_stamps(live_server, business)[0]
    open_page(phone, live_server)
    root = live_server.app.test_client().get("/.well-known/traceqr-root.json").get_json()
    assert phone.get_attribute("#offline", "data-root-kid") == root["keys"][0]["kid"]
    assert phone.get_attribute("#offline", "data-keys-rejected") == "0"
    assert root["keys"][0]["traceqr_thumbprint"] in phone.inner_text("#offline-root")
    assert check_text(phone, url)["result"] == "valid"
    assert phone.problems == []


def test_a_compromised_key_is_never_valid_offline(
    live_server: LiveServer, phone: Any, business: Any
) -> None:
    url = issue_stamps(live_server, business)[0]
    open_page(phone, live_server)
    assert check_text(phone, url)["result"] == "valid"
    state = AppState.of(live_server.app)
    now = datetime.now(UTC)
    with state.database.session() as session:
        compromise_key(
            session,
            state.keystore,
            business.signing_key.kid.hex(),
            at=now - timedelta(days=1),
            reason="Lộ khóa",
            now=now,
        )
    refresh_keys(phone)
    shown = check_text(phone, url)
    assert (shown["result"], shown["reason"]) == ("invalid", "key_compromised")
    assert phone.get_attribute("#offline-result", "data-uncertain") == "true"
    assert shown["title"] == "Cannot be decided offline"
    assert "check it online" in shown["reason_text"]


def test_keys_without_a_valid_certificate_are_left_out(
    live_server: LiveServer, phone: Any, business: Any
) -> None:
    url = issue_stamps(live_server, business)[0]
    open_page(phone, live_server)  # pins the real root
    genuine = live_server.app.test_client().get("/.well-known/jwks.json").get_json(force=True)

    def serve(document: dict[str, Any]) -> None:
        phone.unroute("**/.well-known/jwks.json")
        phone.route(
            "**/.well-known/jwks.json",
            lambda route: route.fulfill(
                status=200, content_type="application/json", body=json.dumps(document)
            ),
        )
        refresh_keys(phone)

    stripped = json.loads(json.dumps(genuine))
    for jwk in stripped["keys"]:
        jwk.pop("traceqr_cert", None)
    serve(stripped)
    assert int(phone.get_attribute("#offline", "data-keys-rejected")) >= 1
    assert check_text(phone, url)["reason"] == "uncertified_key"

    # A forger's set: the business's real public key, certified by the forger's own root.
    fake_root = StampSigner(bytes.fromhex("f0f0f0f0"), bytes(range(32)))
    real = next(k for k in genuine["keys"] if k["kid"] == business.signing_key.kid.hex())
    forged_jwk = {
        **real,
        "traceqr_cert": certify(PublicKey.from_jwk(real), fake_root, certified_at="2026-11-28"),
    }
    serve(
        {
            "keys": [forged_jwk],
            "traceqr_root": {"keys": [root_jwk(fake_root.kid, fake_root.public_key)]},
        }
    )
    assert phone.get_attribute("#offline", "data-root-changed") == "true"
    assert check_text(phone, url)["reason"] == "uncertified_key"

    serve(genuine)
    assert phone.get_attribute("#offline", "data-root-changed") == "false"
    assert check_text(phone, url)["result"] == "valid"
    assert phone.problems == []
