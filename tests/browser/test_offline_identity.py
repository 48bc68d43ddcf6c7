"""The offline verifier reads what the root's certificates say about a key's producer
(version 2, docs/keys.md): a test key's stamps are test stamps, never valid; a live key
names the producer a reviewer verified, or says nobody did; a withdrawn verification
cannot be decided offline. Version 1 certificates still verify; any other version, or a
purpose the page does not know, leaves the key out. Real businesses, real keys and the
real root: nothing of ours is mocked, only what the key set URL answers is replaced where
a test needs a certificate the service would not issue."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from babel.support import Translations

from tests.browser.conftest import PHONE, LiveServer
from tests.browser.test_offline_verifier import (
    PAGE,
    check_text,
    install_and_go_offline,
    issue_stamps,
)
from traceqr.domain.dates import format_vn_date, format_vn_datetime
from traceqr.domain.key_certs import CERT_TYPE, b64url, b64url_decode, certificate_claims
from traceqr.domain.keys import PublicKey, StampSigner, kid_text
from traceqr.services.businesses import NewBusiness, create_business
from traceqr.services.identity import Reviewer, withdraw
from traceqr.services.key_lifecycle import root_signer
from traceqr.state import AppState
from traceqr.web.i18n import TRANSLATIONS_DIR

DEPARTMENT = "Sở Công Thương Thành phố Hà Nội"
LEGAL_NAME = "Công ty TNHH Gốm sứ Minh Long <b>Test</b> & Co"  # markup: must show as text
TAX_CODE = "0101234565"
# 20:00 UTC on 30 November is 03:00 on 1 December in Vietnam: the date shown is Vietnam's.
VERIFIED_AT = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
# A device far from Vietnam: times from the key file are still shown in Vietnam's time.
DEVICE = {**PHONE, "timezone_id": "America/Los_Angeles"}

TEST_STAMP = "TEST STAMP — not for products"
VERIFIED = "Verified producer: %(name)s, tax code %(tax_code)s, verified on %(date)s by %(body)s"
UNVERIFIED = "Producer not verified by TraceQR"


def vi(message: str, **values: str) -> str:
    """What the Vietnamese page shows for ``message``: the catalogue's translation."""
    catalogue = Translations.load(str(TRANSLATIONS_DIR), ["vi"])
    text = catalogue.ugettext(message)
    return text % values if values else text


def new_context(browser: Any, **options: Any) -> Iterator[Any]:
    context = browser.new_context(**DEVICE, **options)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on(
        "console",
        lambda message: page.problems.append(message.text) if message.type == "error" else None,
    )
    yield page
    context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """Without the service worker, so that a test can replace what the key set URL answers
    (page.route does not see a worker's requests)."""
    yield from new_context(browser, service_workers="block")


@pytest.fixture
def offline_phone(browser: Any) -> Iterator[Any]:
    yield from new_context(browser)


def open_page(page: Any, live_server: LiveServer, lang: str | None = None) -> None:
    page.goto(live_server.url + PAGE + (f"?lang={lang}" if lang else ""))
    page.wait_for_selector("#offline[data-started='true']", timeout=10_000)


def refresh_keys(page: Any) -> None:
    fetched = page.get_attribute("#offline", "data-keys-fetched-at")
    page.click("#offline-refresh")
    page.wait_for_function(
        "previous => document.getElementById('offline').dataset.keysFetchedAt !== previous",
        arg=fetched,
    )


def serve(page: Any, document: dict[str, Any]) -> None:
    """The key set URL answers ``document`` from now on; the page fetches it again."""
    page.unroute("**/.well-known/jwks.json")
    page.route(
        "**/.well-known/jwks.json",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(document)
        ),
    )
    refresh_keys(page)


def producer_line(page: Any) -> str | None:
    return page.inner_text("#offline-producer") if page.is_visible("#offline-producer") else None


def verified_business(state: AppState, name: str, **profile: Any) -> NewBusiness:
    with state.database.session() as session:
        return create_business(
            session,
            state.keystore,
            name=name,
            email=f"owner-{uuid.uuid4().hex[:8]}@example.vn",
            now=VERIFIED_AT,
            profile={"province_code": "ha-noi", **profile},
            vouched_by=Reviewer.operator("tests", DEPARTMENT),
        )


def jwks(live_server: LiveServer) -> dict[str, Any]:
    return live_server.app.test_client().get("/.well-known/jwks.json").get_json(force=True)


def jwk_of(document: dict[str, Any], business: NewBusiness) -> dict[str, Any]:
    kid = business.signing_key.kid.hex()
    return next(jwk for jwk in document["keys"] if jwk["kid"] == kid)


def signed_by_root(state: AppState, claims: dict[str, Any]) -> str:
    """A certificate with exactly ``claims``, signed by the service's real root key."""
    with state.database.session() as session:
        root: StampSigner = root_signer(session, state.keystore, datetime.now(UTC))
    header = {"alg": "EdDSA", "kid": kid_text(root.kid), "typ": CERT_TYPE}

    def part(value: dict[str, Any]) -> str:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return b64url(text.encode("utf-8"))

    signing_input = part(header) + "." + part(claims)
    return signing_input + "." + b64url(root.sign(signing_input.encode("ascii")))


DROP = object()  # a claim left out of a certificate


def claims_of(jwk: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The claims of the key's own (version 2) certificate, changed."""
    claims = certificate_claims(
        PublicKey.from_jwk(jwk), certified_at=datetime.now(UTC).isoformat(), signs_until=None
    )
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not DROP}


def test_a_test_stamp_is_never_valid_offline(
    live_server: LiveServer, offline_phone: Any, make_business: Any
) -> None:
    """A sign-up nobody has verified signs with a test key: its stamps say TEST STAMP,
    with the network cut, in both languages, and never name the business."""
    page = offline_phone
    signup = make_business("Cơ sở Gốm Chưa Xác Minh", verified=False)
    url = issue_stamps(live_server, signup)[0]
    certificate = jwk_of(jwks(live_server), signup)["traceqr_cert"]
    payload = json.loads(b64url_decode(certificate.split(".")[1]))
    assert (payload["v"], payload["purpose"], payload["business_name"]) == (2, "test", None)
    install_and_go_offline(page, live_server)
    assert page.get_attribute("#offline", "data-keys-rejected") == "0"

    shown = check_text(page, url)
    assert (shown["result"], shown["reason"]) == ("invalid", "test_stamp"), shown
    assert page.get_attribute("#offline-result", "data-uncertain") == "false"
    assert page.get_attribute("#offline-verdict", "class") == "verdict verdict--bad"
    assert shown["title"] == vi(TEST_STAMP)
    assert shown["title"].startswith("TEM THỬ")
    assert shown["business"] == "—"
    assert "Gốm Chưa Xác Minh" not in page.inner_text("#offline-result")
    assert producer_line(page) is None
    assert page.is_hidden("#offline-limits")  # no "the business above issued this code"

    page.goto(live_server.url + PAGE + "?lang=en")
    page.wait_for_selector("#offline[data-started='true']")
    english = check_text(page, url)
    assert (english["result"], english["reason"]) == ("invalid", "test_stamp")
    assert english["title"] == TEST_STAMP
    assert "test key" in english["reason_text"] and "Valid" not in english["title"]
    assert "Gốm Chưa Xác Minh" not in page.inner_text("#offline-result")
    assert page.problems == []


def test_a_verified_producers_stamp_names_the_producer(
    live_server: LiveServer, phone: Any, state: AppState
) -> None:
    """The verified line: legal name, tax code, the date in Vietnam's time, the reviewing
    body; all of it from the root's certificate, shown as text."""
    business = verified_business(
        state, "Gốm sứ Minh Long Test", legal_name=LEGAL_NAME, tax_code=TAX_CODE
    )
    url = issue_stamps(live_server, business)[0]

    open_page(phone, live_server)  # Vietnamese: the phone's language
    assert phone.get_attribute("html", "lang") == "vi"
    shown = check_text(phone, url)
    assert (shown["result"], shown["business"]) == ("valid", "Gốm sứ Minh Long Test"), shown
    assert phone.get_attribute("#offline-producer", "data-state") == "verified"
    assert producer_line(phone) == vi(
        VERIFIED, name=LEGAL_NAME, tax_code=TAX_CODE, date="01/12/2026", body=DEPARTMENT
    )
    assert format_vn_date(VERIFIED_AT) == "01/12/2026"
    assert (producer_line(phone) or "").startswith(
        f"Nhà sản xuất đã xác minh: {LEGAL_NAME}, MST {TAX_CODE}, xác minh ngày 01/12/2026"
    )
    assert DEPARTMENT in (producer_line(phone) or "")
    # The name is text, not markup.
    assert phone.locator("#offline-producer b").count() == 0

    open_page(phone, live_server, "en")
    english = check_text(phone, url)
    assert english["result"] == "valid"
    assert producer_line(phone) == (
        f"Verified producer: {LEGAL_NAME}, tax code {TAX_CODE}, verified on December 1, 2026"
        f" by {DEPARTMENT}"
    )

    # Unsigned members of the key set say otherwise: the certificate is what counts.
    document = jwks(live_server)
    jwk_of(document, business)["traceqr_producer"] = {
        "legal_name": "Công ty Giả Mạo",
        "tax_code": "0101234572",
        "verified_at": "2026-01-01T00:00:00+00:00",
        "verified_by": "Ai đó",
    }
    serve(phone, document)
    check_text(phone, url)
    assert LEGAL_NAME in (producer_line(phone) or "")
    assert "Giả Mạo" not in phone.inner_text("#offline-result")
    assert phone.problems == []


def test_a_withdrawn_producers_stamp_cannot_be_decided_offline(
    live_server: LiveServer, phone: Any, state: AppState
) -> None:
    business = verified_business(state, "Gốm sứ Rút Xác Minh", tax_code=TAX_CODE)
    url = issue_stamps(live_server, business)[0]
    open_page(phone, live_server)
    assert check_text(phone, url)["result"] == "valid"

    now = datetime.now(UTC)
    at = now - timedelta(days=2)
    with state.database.session() as session:
        withdraw(
            session,
            state.keystore,
            business.business.id,
            Reviewer.operator("tests"),
            reason="Hồ sơ giả mạo",
            at=at,
            now=now,
        )
    refresh_keys(phone)
    shown = check_text(phone, url)
    assert (shown["result"], shown["reason"]) == ("invalid", "verification_withdrawn"), shown
    assert phone.get_attribute("#offline-result", "data-uncertain") == "true"
    assert phone.get_attribute("#offline-verdict", "class") == "verdict verdict--warn"
    assert format_vn_datetime(at) in shown["reason_text"]  # HH:MM dd/mm/yyyy, Vietnam's time
    assert producer_line(phone) is None  # the producer is not vouched for on this stamp
    assert shown["business"] == "—"

    open_page(phone, live_server, "en")
    english = check_text(phone, url)
    assert english["reason"] == "verification_withdrawn"
    assert english["title"] == "Cannot be decided offline"
    assert "withdrawn" in english["reason_text"] and "Check it online" in english["reason_text"]
    assert "Gốm sứ Rút Xác Minh" in english["reason_text"]
    assert phone.problems == []


def test_a_version_1_certificate_still_verifies(
    live_server: LiveServer, phone: Any, state: AppState
) -> None:
    """A key certified before identities were verified: a live key, no verified producer,
    whatever the unsigned members say; beside it a version 2 key verifies too."""
    old = verified_business(state, "Gốm Chu Đậu Test", tax_code=TAX_CODE)
    new = verified_business(state, "Gốm Phù Lãng Test", legal_name="HTX Gốm Phù Lãng")
    old_url = issue_stamps(live_server, old)[0]
    new_url = issue_stamps(live_server, new)[0]
    open_page(phone, live_server, "en")

    document = jwks(live_server)
    jwk = jwk_of(document, old)
    assert jwk["traceqr_producer"]["tax_code"] == TAX_CODE  # unsigned: not to be believed
    jwk["traceqr_cert"] = signed_by_root(
        state,
        claims_of(
            jwk,
            v=1,
            purpose=DROP,
            producer=DROP,
            withdrawn_at=DROP,
            withdrawal_reason=DROP,
        ),
    )
    serve(phone, document)
    assert phone.get_attribute("#offline", "data-keys-rejected") == "0"

    shown = check_text(phone, old_url)
    assert (shown["result"], shown["business"]) == ("valid", "Gốm Chu Đậu Test"), shown
    assert phone.get_attribute("#offline-producer", "data-state") == "unverified"
    assert producer_line(phone) == UNVERIFIED
    assert TAX_CODE not in phone.inner_text("#offline-result")

    beside = check_text(phone, new_url)
    assert beside["result"] == "valid"
    assert (producer_line(phone) or "").startswith("Verified producer: HTX Gốm Phù Lãng, verified")

    open_page(phone, live_server)  # Vietnamese
    assert check_text(phone, old_url)["result"] == "valid"
    assert producer_line(phone) == vi(UNVERIFIED)
    assert "chưa được" in (producer_line(phone) or "")
    assert phone.problems == []


@pytest.mark.parametrize(
    "changes",
    [
        {"purpose": "demo"},
        {"purpose": DROP},
        {"purpose": None},
        {"purpose": "LIVE"},
        {"v": 3},
        {"v": "2"},
        {"v": 1, "purpose": "demo"},
    ],
    ids=["unknown", "missing", "null", "upper-case", "version-3", "version-text", "v1-unknown"],
)
def test_a_certificate_of_unknown_purpose_or_version_leaves_the_key_out(
    live_server: LiveServer, phone: Any, state: AppState, changes: dict[str, Any]
) -> None:
    spoiled = verified_business(state, "Gốm Lạ Test")
    genuine = verified_business(state, "Gốm Thật Test")
    spoiled_url = issue_stamps(live_server, spoiled)[0]
    genuine_url = issue_stamps(live_server, genuine)[0]
    open_page(phone, live_server, "en")

    document = jwks(live_server)
    jwk = jwk_of(document, spoiled)
    jwk["traceqr_cert"] = signed_by_root(state, claims_of(jwk, **changes))
    serve(phone, document)
    assert phone.get_attribute("#offline", "data-keys-rejected") == "1"
    assert phone.get_attribute("#offline", "data-keys-count") == "1"

    left_out = check_text(phone, spoiled_url)
    assert (left_out["result"], left_out["reason"]) == ("invalid", "uncertified_key"), left_out
    assert "Gốm Lạ Test" not in phone.inner_text("#offline-result")
    # The genuine version 2 key beside it is taken.
    assert check_text(phone, genuine_url)["result"] == "valid"
    assert phone.problems == []


def test_unsigned_members_of_a_plain_key_set_are_taken_as_given(
    live_server: LiveServer, phone: Any
) -> None:
    """Without a root (a plain JWKS given to verifyStamp), the traceqr_* members are all
    there is, as for the other facts of a key."""
    from tests.browser.test_offline_verifier import VECTORS

    vector = VECTORS["valid"][0]
    open_page(phone, live_server)
    got = phone.evaluate(
        """async ([code, jwk]) => {
          const cases = {
            plain: {},
            test: {traceqr_purpose: "test", traceqr_business_name: "Ai đó"},
            unknownPurpose: {traceqr_purpose: "demo"},
            withdrawn: {traceqr_withdrawn_at: "2026-12-01T01:30:00+00:00"},
            producer: {traceqr_producer: {legal_name: "HTX Gốm", tax_code: 5, verified_by: "Sở"}},
            damagedProducer: {traceqr_producer: {legal_name: ""}},
          };
          const out = {};
          for (const [name, members] of Object.entries(cases)) {
            const r = await TraceQROffline.verifyStamp(code, {keys: [{...jwk, ...members}]});
            out[name] = [r.valid, r.reason, r.uncertain || false, r.businessName ?? null,
                         r.producer ?? null, r.withdrawnAt ?? null];
          }
          return out;
        }""",
        [vector["code"], vector["jwk"]],
    )
    name = vector["jwk"].get("traceqr_business_name")
    assert got == {
        "plain": [True, None, False, name, None, None],
        "test": [False, "test_stamp", False, None, None, None],
        "unknownPurpose": [True, None, False, name, None, None],
        "withdrawn": [
            False,
            "verification_withdrawn",
            True,
            name,
            None,
            "2026-12-01T01:30:00+00:00",
        ],
        "producer": [True, None, False, name, {"legal_name": "HTX Gốm", "verified_by": "Sở"}, None],
        "damagedProducer": [True, None, False, name, None, None],
    }
    assert phone.problems == []
